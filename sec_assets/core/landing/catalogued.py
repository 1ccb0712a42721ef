"""A class's first sight by the landing sensor: does its folder still hold what its manifest recorded?

The landing sensor requests a run for a class whose settled listing differs from the one it last
sent. A new cursor — the sensor switched on, or reset, over a home already materialized — has sent
nothing, so every class would run once, for nothing. On a class's first sight the sensor asks
:func:`compare` instead, and marks a class found :attr:`Verdict.UNCHANGED` as sent, with no run.

A class is unchanged when

- its ``raw_manifest`` partition and lineage row exist;
- the files a manifest would list now — the manifest's own listing
  (:func:`~sec_assets.core.audio.manifest.listed_files`: hidden entries skipped, the
  ``audio_formats`` filter applied) — are exactly the files of the stat cache its last run wrote,
  each with the same size and mtime: a run would reuse every row
  (:func:`~sec_assets.core.audio.manifest.rescan_class`) and write the same manifest;
- every later asset of the job has a lineage row computed from the current rows of the assets
  above it: a class whose run failed half-way still needs its run.

A class of a dataset table (:func:`compare_entries`) is unchanged when, in addition, its table
rows (path, row number, group, fold, clip bounds) are those its manifest recorded.

Anything else needs a run, as it would without this check. The cost, per class and on its first
sight only: one walk of its folder with one ``stat`` per file, one read of its stat cache and one
lineage row per asset of the job; nothing is decoded or hashed.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from sec_assets.core.audio.manifest import (
    FilePolicy,
    FileStat,
    ManifestEntry,
    listed_files,
    with_table_columns,
)
from sec_assets.core.store import catalog, stat_cache, storage
from sec_assets.core.store.schemas import AUDIO_CLASS

MANIFEST = "raw_manifest"


class Verdict(enum.StrEnum):
    """What a class's first sight found; the values read after a count ("5 unchanged since …")."""

    UNCHANGED = "unchanged since their manifest"
    NO_MANIFEST = "without a manifest"
    FILES_CHANGED = "with files changed since their manifest"
    INCOMPLETE = "with a later step missing or older than its inputs"
    ROWS_CHANGED = "with table rows changed since their manifest"


def current_stats(class_dir: Path, policy: FilePolicy) -> dict[str, FileStat] | None:
    """Relative path → (size, mtime_ns) of the files a manifest would list now; None when one
    cannot be stat'ed (gone, a broken link: the manifest records why, so a run decides)."""
    stats: dict[str, FileStat] = {}
    for path in listed_files(class_dir, policy):
        try:
            st = path.stat()
        except OSError:
            return None
        stats[str(path.relative_to(class_dir))] = (st.st_size, st.st_mtime_ns)
    return stats


def compare(home: Path, key: str, class_dir: Path, policy: FilePolicy, job: Sequence[str]) -> Verdict:
    """Whether the class ``key`` (folder ``class_dir``) needs a run of ``job`` — its assets in
    order, ``raw_manifest`` first — or is what the catalog under ``home`` already holds."""
    return _compare(home, key, lambda: current_stats(class_dir, policy), None, job)


def compare_entries(home: Path, key: str, entries: Sequence[ManifestEntry], job: Sequence[str]) -> Verdict:
    """:func:`compare` for a class of a dataset table: its rows now (``entries``) against its
    manifest — the same rows (path, row number, group, fold, clip bounds) and every file with the
    size and mtime its stat cache recorded."""

    def stats() -> dict[str, FileStat] | None:
        found: dict[str, FileStat] = {}
        for entry in entries:
            try:
                st = entry.path.stat()
            except OSError:
                return None
            found[entry.relative_path] = (st.st_size, st.st_mtime_ns)
        return found

    rows = sorted(_entry_fields(e.relative_path, e.table_fields()) for e in entries)
    return _compare(home, key, stats, rows, job)


def _entry_fields(relative_path: str, fields: Mapping[str, Any]) -> tuple[Any, ...]:
    return (relative_path, *(fields[c] for c in ENTRY_FIELDS))


ENTRY_FIELDS = ("table_row", "source_group", "fold", "clip_start_s", "clip_end_s")


def _compare(
    home: Path,
    key: str,
    stats: Callable[[], dict[str, FileStat] | None],
    rows: list[tuple[Any, ...]] | None,
    job: Sequence[str],
) -> Verdict:
    if job[0] != MANIFEST:
        raise ValueError(f"the job must start with {MANIFEST}, not {job[0]!r}")
    manifest = catalog.read_lineage(home, MANIFEST, key)
    if manifest is None or not storage.partition_files(home, MANIFEST, {AUDIO_CLASS: key}):
        return Verdict.NO_MANIFEST
    now = stats()
    if now is None or now != stat_cache.read(home, key):
        return Verdict.FILES_CHANGED
    if rows is not None:
        recorded = with_table_columns(storage.read_partition(home, MANIFEST, {AUDIO_CLASS: key}))
        if sorted(_entry_fields(r["relative_path"], r) for r in recorded.iter_rows(named=True)) != rows:
            return Verdict.ROWS_CHANGED
    return Verdict.UNCHANGED if _chain_current(home, key, manifest, job[1:]) else Verdict.INCOMPLETE


def _chain_current(home: Path, key: str, manifest: dict[str, Any], later: Sequence[str]) -> bool:
    """Every asset of ``later`` has a lineage row for ``key`` whose inputs from the job are the
    current rows of those assets (same run, same output fingerprint)."""
    rows = {MANIFEST: manifest}
    for asset in later:
        row = catalog.read_lineage(home, asset, key)
        if row is None:
            return False
        for ref in json.loads(row["inputs"]):
            current = rows.get(ref.get("asset")) if ref.get("partition_key") == key else None
            if current is not None and _ref(ref) != _ref(current):
                return False
        rows[asset] = row
    return True


def _ref(row: dict[str, Any]) -> tuple[Any, Any]:
    return row.get("run_id"), row.get("output_fingerprint")
