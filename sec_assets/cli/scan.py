"""``sec-assets scan``: register the class folders under the landing folder as partitions."""

from __future__ import annotations

import argparse
import os

from sec_assets.core.settings import load_settings
from sec_assets.instance import register_classes


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("scan", help="register the class folders under SEC_AUDIO_ROOT as partitions")
    p.set_defaults(func=cmd_scan)


def cmd_scan(args: argparse.Namespace) -> int:
    settings = load_settings()
    classes, new = register_classes(settings)
    for key, name in sorted(classes.items()):
        flag = "new" if key in new else "   "
        print(f"{flag} {key}" + (f"  ← {name!r}" if key != name else ""))
    print(
        f"{len(classes)} classes under {settings.landing}, {len(new)} newly registered "
        f"in {os.environ['DAGSTER_HOME']}"
    )
    return 0
