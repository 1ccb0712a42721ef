"""``sec-assets models fetch``: fill the offline model store where there is internet."""

from __future__ import annotations

import argparse
import sys

from sec_assets.core.settings import load_settings


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="the offline model store")
    verbs = p.add_subparsers(dest="models_command", required=True)
    fetch = verbs.add_parser("fetch", help="download CLAP 2023 + GPT-2 into SEC_MODELS (needs internet)")
    fetch.set_defaults(func=cmd_models_fetch)


def cmd_models_fetch(args: argparse.Namespace) -> int:
    from sec_assets.core.features.clap_store import fetch_msclap_2023

    settings = load_settings()
    try:
        path = fetch_msclap_2023(settings.model_store)
    except Exception as exc:  # network or hub errors: say what failed and where to run it
        print(
            f"models fetch failed: {exc}\nRun this on a machine with internet access; the store "
            f"({settings.model_store}) must be on storage the compute nodes can read.",
            file=sys.stderr,
        )
        return 1
    print(f"CLAP 2023 weights and GPT-2 stored in {path}")
    return 0
