"""``sec-assets``: what Dagster's CLI does not do — demo, scan, catalog queries, backfills,
campaigns, cross-validation, recovery, the model store, the real-time service.

One module per subcommand, each with ``add_parser(sub)``; they call library modules
(:mod:`sec_assets.instance`, :mod:`sec_assets.local_run`, :mod:`sec_assets.backfill`,
:mod:`sec_assets.campaigns`, :mod:`sec_assets.crossval`, :mod:`sec_assets.serve`,
:mod:`sec_assets.executor.recovery`, the core), and nothing outside this package imports it (an
import contract in ``pyproject.toml``).
"""

from __future__ import annotations

import argparse
import sys

from sec_assets.cli import backfill, campaign, catalog, crossval, demo, models, recover, scan, serve

DESCRIPTION = (
    "what Dagster's CLI does not do: demo, scan, catalog, backfill, campaign, crossval, recover, models, "
    "serve"
)
SUBCOMMANDS = (demo, scan, catalog, models, backfill, campaign, crossval, recover, serve)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sec-assets", description=DESCRIPTION)
    sub = parser.add_subparsers(dest="command", required=True)
    for module in SUBCOMMANDS:
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (FileNotFoundError, ValueError) as exc:
        print(f"sec-assets {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
