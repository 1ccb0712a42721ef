"""A class's stored segments with their audio, whichever way the audio was stored.

Two ways (the ``segment_storage`` setting, part of ``augmented_segments``' lineage):

- ``pcm`` (default): every row holds its audio as float16 PCM bytes — ≈ 0.9 × the 16-bit source
  per round (measured: 286 MB per hour of audio at 44.1 kHz), read back as is.
- ``recipe``: the row holds the recipe only — source file, round, window index, augmentation
  draws — and a null ``audio``; the audio is **regenerated on read** from the source file with
  the segmenter's own code (:func:`~sec_assets.core.audio.segments.segment_source`, the path
  :func:`~sec_assets.core.audio.segments.regenerate_segment` takes), decoding each source file
  once per batch. The source files must stay where the manifest found them.

Either way each row carries ``audio_sha256``, the digest of its float16 bytes, and every
regenerated segment is checked against it: a source file edited, truncated or replaced since
the segments were made fails with the file's name and what to re-materialize — never a silently
different segment. The parameters used to regenerate are those recorded in the partition's
lineage (what the segments were made with), not today's settings.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.parquet as pq

from sec_assets.core.audio.manifest import source_files
from sec_assets.core.audio.segments import (
    SegmentParams,
    SegmentStorage,
    SourceFile,
    Window,
    encode_audio,
    file_windows,
    segment_source,
)
from sec_assets.core.audio.splits import AUGMENTED_SPLITS
from sec_assets.core.audio.views import SegmentViews, parse_segment_key
from sec_assets.core.store import catalog, storage
from sec_assets.core.store.schemas import AUDIO_CLASS

LINEAGE_STORAGE: dict[str, str] = {"pcm": "float16", "recipe": "recipe"}  # the lineage's "storage"
RECIPE_COLUMNS = ["segment_key", "source_sha256", "split", "audio_sha256"]
TABLE = "augmented_segments"


class SegmentMismatch(RuntimeError):
    """A regenerated segment differs from the one recorded, or cannot be regenerated."""


def audio_digest(data: bytes) -> str:
    """``audio_sha256`` of a segment: sha256 of its float16 PCM bytes (first 32 hex digits)."""
    return hashlib.sha256(data).hexdigest()[:32]


def stored_audio(audio: Any, storage_mode: SegmentStorage) -> tuple[bytes | None, str]:
    """(``audio`` column value, ``audio_sha256``) of a segment for the storage mode."""
    data = encode_audio(audio)
    return (data if storage_mode == "pcm" else None), audio_digest(data)


def lineage_segment_params(params_json: str) -> SegmentParams:
    """The :class:`SegmentParams` an ``augmented_segments`` lineage row records."""
    recorded = json.loads(params_json)
    names = {f.name for f in dataclasses.fields(SegmentParams)}
    values = {k: v for k, v in recorded.items() if k in names}
    if "gain_db_range" in values:
        values["gain_db_range"] = tuple(values["gain_db_range"])
    return SegmentParams(**values)


class _Regenerator:
    """Rebuilds a class's recipe rows: the recorded parameters and the manifest's source files."""

    def __init__(self, home: Path, partition_key: str) -> None:
        row = catalog.read_lineage(home, TABLE, partition_key)
        if row is None:
            raise FileNotFoundError(f"{TABLE} partition {partition_key!r} has no lineage: materialize it")
        self.key = partition_key
        self.params = lineage_segment_params(row["params"])
        self.views: SegmentViews = json.loads(row["params"]).get("segment_views", "by_split")
        manifest = storage.read_partition(home, "raw_manifest", {AUDIO_CLASS: partition_key})
        self.sources = {s.sha256: s for s in source_files(manifest)[0]}

    def fill(self, batch: pl.DataFrame) -> pl.DataFrame:
        """``batch`` with every null ``audio`` regenerated and checked against its digest."""
        missing = batch["audio"].is_null()
        if not missing.any():
            return batch
        audio = batch["audio"].to_list()
        rows = [i for i, m in enumerate(missing.to_list()) if m]
        by_source: dict[str, list[int]] = {}
        for i in rows:
            by_source.setdefault(batch["source_sha256"][i], []).append(i)
        for sha, indices in by_source.items():
            made = self._regenerate(
                sha, [batch["segment_key"][i] for i in indices], batch["split"][indices[0]]
            )
            for i in indices:
                key = batch["segment_key"][i]
                data = made[key]
                if audio_digest(data) != batch["audio_sha256"][i]:
                    raise SegmentMismatch(
                        f"segment {key} regenerated from {self.sources[sha].path} differs from the one "
                        f"recorded (the file changed since {TABLE} was materialized?): re-materialize "
                        f"{TABLE} for class {self.key!r}"
                    )
                audio[i] = data
        return batch.with_columns(pl.Series("audio", audio, dtype=pl.Binary))

    def _regenerate(self, sha: str, keys: Sequence[str], split: str) -> dict[str, bytes]:
        source = self.sources.get(sha)
        if source is None:
            raise SegmentMismatch(
                f"segments {keys[0]}… come from a file (sha256 {sha[:20]}…) that is no longer in class "
                f"{self.key!r}'s manifest: re-materialize {TABLE} for the class"
            )
        if not source.path.is_file():
            raise SegmentMismatch(
                f"{source.path} is gone: recipe-only segments (segment_storage: recipe) are rebuilt from "
                f"their source files; restore it or re-materialize {TABLE} for class {self.key!r}"
            )
        wanted = {parse_segment_key(k)[2:] for k in keys}  # (round, index)
        windows = [
            w
            for r in sorted({r for r, _ in wanted})
            for w in self._windows(source, r)
            if (r, w.index) in wanted
        ]
        if len(windows) != len(wanted):
            raise SegmentMismatch(
                f"{len(wanted) - len(windows)} segment(s) of {source.path} do not exist for the recorded "
                f"parameters: re-materialize {TABLE} for class {self.key!r}"
            )
        both = self.views == "both"  # every file has both views, whatever its split
        augment = both or split in AUGMENTED_SPLITS
        return {
            seg.key: encode_audio(seg.audio)
            for seg in segment_source(source, windows, self.key, self.params, augment, both)
        }

    def _windows(self, source: SourceFile, round_: int) -> list[Window]:
        return file_windows(source.target_frames(self.params), self.params, self.key, source.sha256, round_)


def iter_segment_batches(
    home: Path, partition_key: str, batch_rows: int, columns: Sequence[str]
) -> Iterator[pl.DataFrame]:
    """The class's segments in row batches (memory bounded by a row group), ``audio`` filled in
    whichever way it was stored; only ``columns`` are returned."""
    dims = {AUDIO_CLASS: partition_key}
    files = storage.partition_files(home, TABLE, dims)
    # partitions written before audio_sha256 existed hold PCM; they have nothing to regenerate
    recipes = (
        "audio" in columns and bool(files) and set(RECIPE_COLUMNS) <= set(pq.read_schema(files[0]).names)
    )
    wanted = list(dict.fromkeys([*columns, *(RECIPE_COLUMNS if recipes else [])]))
    regenerator: _Regenerator | None = None
    for batch in storage.iter_partition_batches(home, TABLE, dims, batch_rows, wanted):
        if recipes and batch["audio"].is_null().any():
            regenerator = regenerator or _Regenerator(home, partition_key)
            batch = regenerator.fill(batch)
        yield batch.select(columns)
