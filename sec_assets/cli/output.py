"""How commands print a query result: a table, CSV or JSON."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import polars as pl

FORMATS = ("table", "csv", "json")


def add_format_arguments(p: argparse.ArgumentParser) -> None:
    """``--format`` and ``--max-rows``, the same on every command that prints a query result."""
    p.add_argument("--format", choices=FORMATS, default="table")
    p.add_argument("--max-rows", type=int, default=50)


def print_frame(frame: pl.DataFrame, fmt: str, max_rows: int) -> None:
    """A query result on stdout as a table, CSV or JSON."""
    import polars as pl

    if fmt == "csv":
        sys.stdout.write(frame.write_csv())
    elif fmt == "json":
        sys.stdout.write(frame.write_json() + "\n")
    else:
        with pl.Config(tbl_rows=max_rows, tbl_cols=-1, fmt_str_lengths=80, tbl_width_chars=200):
            print(frame)
