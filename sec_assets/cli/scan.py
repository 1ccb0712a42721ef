"""``sec-assets scan``: register the classes — the class folders under the landing folder, or the
labels of the dataset table — as partitions. With a table, the whole table is checked first
(every row's audio file opened): errors name the file, row and column and register nothing;
rows whose file fails are listed with the reason; label spellings that differ only by case or
whitespace, and source groups in two official folds, are reported."""

from __future__ import annotations

import argparse
import os

from sec_assets.core.datasets.groups import groups_in_two_folds
from sec_assets.core.datasets.table import read_dataset_table
from sec_assets.core.settings import Settings, load_settings
from sec_assets.instance import register_classes

LISTED = 10  # failed rows printed; the rest are counted


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "scan",
        help="register the class folders under SEC_AUDIO_ROOT (or the labels of SEC_DATASET_TABLE) "
        "as partitions",
    )
    p.set_defaults(func=cmd_scan)


def cmd_scan(args: argparse.Namespace) -> int:
    settings = load_settings()
    if settings.dataset_table is not None:
        check_table(settings)
    classes, new = register_classes(settings)
    for key, name in sorted(classes.items()):
        flag = "new" if key in new else "   "
        print(f"{flag} {key}" + (f"  ← {name!r}" if key != name else ""))
    where = (
        f"in the table {settings.dataset_table}" if settings.dataset_table else f"under {settings.landing}"
    )
    print(f"{len(classes)} classes {where}, {len(new)} newly registered in {os.environ['DAGSTER_HOME']}")
    return 0


def check_table(settings: Settings) -> None:
    """Read the whole table with its files (raises DatasetTableError) and print what it found."""
    assert settings.dataset_table is not None
    spec = settings.dataset()
    table = read_dataset_table(spec.table or settings.dataset_table, spec.columns, spec.audio_root)
    rows = spec.read_table().rows  # groups filled from group_pattern where the table has none
    groups = rows["group"].drop_nulls().n_unique()
    folds = sorted(rows["fold"].drop_nulls().unique().to_list())
    print(
        f"{settings.dataset_table}: {table.rows.height + table.failures.height} rows, "
        f"{table.rows.height} with a readable file, {table.failures.height} failed; "
        f"{rows['label'].n_unique()} labels, {groups} source groups"
        + (f", folds {', '.join(map(str, folds))}" if folds else "")
    )
    for failure in table.failures.head(LISTED).iter_rows(named=True):
        print(f"  row {failure['row']} ({failure['path']}): {failure['reason']}")
    if table.failures.height > LISTED:
        print(f"  … and {table.failures.height - LISTED} more failed rows")
    for warning in table.warnings:
        print(f"  warning: {warning}")
    quirks = groups_in_two_folds(rows)
    for quirk in quirks.iter_rows(named=True):
        print(
            f"  note: source group {quirk['group']!r} is in folds {quirk['folds']} under "
            f"{', '.join(quirk['labels'])} (rows {quirk['rows']}); the folds are followed as published"
        )
