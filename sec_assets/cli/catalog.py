"""``sec-assets catalog SQL``: a read-only query of the lineage catalog."""

from __future__ import annotations

import argparse
import sys

from sec_assets.cli.output import add_format_arguments, print_frame
from sec_assets.core.settings import load_settings


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("catalog", help="read-only SQL query of the lineage catalog")
    p.add_argument("sql")
    p.add_argument("--home", help="the SEC_HOME holding catalog.duckdb (default: SEC_HOME or settings)")
    add_format_arguments(p)
    p.set_defaults(func=cmd_catalog)


def cmd_catalog(args: argparse.Namespace) -> int:
    import duckdb

    from sec_assets.core.store.catalog import catalog_path, query

    settings = load_settings(home=args.home)
    path = catalog_path(settings.home)
    if not path.is_file():
        raise FileNotFoundError(
            f"no catalog at {path}: nothing was materialized under that home. Point this command at "
            "the right one with --home DIR, SEC_HOME=DIR or `home:` in the settings file (SEC_CONFIG)"
        )
    try:
        frame = query(settings.home, args.sql)
    except duckdb.Error as exc:
        print(f"catalog query failed: {exc}", file=sys.stderr)
        return 2
    print_frame(frame, args.format, args.max_rows)
    return 0
