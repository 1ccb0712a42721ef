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

Anything else needs a run, as it would without this check. The cost, per class and on its first
sight only: one walk of its folder with one ``stat`` per file, one read of its stat cache and one
lineage row per asset of the job; nothing is decoded or hashed.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sec_assets.core.audio.manifest import FilePolicy, FileStat, listed_files
from sec_assets.core.store import catalog, stat_cache, storage
from sec_assets.core.store.schemas import AUDIO_CLASS

MANIFEST = "raw_manifest"


class Verdict(enum.StrEnum):
    """What a class's first sight found; the values read after a count ("5 unchanged since …")."""

    UNCHANGED = "unchanged since their manifest"
    NO_MANIFEST = "without a manifest"
    FILES_CHANGED = "with files changed since their manifest"
    INCOMPLETE = "with a later step missing or older than its inputs"


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
    if job[0] != MANIFEST:
        raise ValueError(f"the job must start with {MANIFEST}, not {job[0]!r}")
    manifest = catalog.read_lineage(home, MANIFEST, key)
    if manifest is None or not storage.partition_files(home, MANIFEST, {AUDIO_CLASS: key}):
        return Verdict.NO_MANIFEST
    stats = current_stats(class_dir, policy)
    if stats is None or stats != stat_cache.read(home, key):
        return Verdict.FILES_CHANGED
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
