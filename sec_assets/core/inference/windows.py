"""Inference windows of a recording, cut by the training segmenter itself.

A recording of any length is graded by the manifest's own rules (:func:`grade`: decodable, long
enough, the NaN and over-full-scale policies and their repairs), decoded (streamed), mixed to
mono, resampled with soxr to the target rate and cut into windows of ``window_seconds`` every
``hop_seconds`` by :func:`sec_assets.core.audio.segments.segment_source` with augmentation off —
the function that cut the clean valid and test segments. So the last partial window follows
training's rule: a remainder at least ``min_window_seconds`` long is repeat-padded to a full
window, a shorter one is dropped; a recording shorter than one window gives one repeat-padded
window when it holds at least ``min_clip_seconds``. Window audio is stored as the segments are
(float16 PCM): a recording that is also a training file gets exactly its training features.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl

from sec_assets.core.audio.manifest import FilePolicy, manifest_row, source_files
from sec_assets.core.audio.segments import (
    SegmentParams,
    SourceFile,
    encode_audio,
    file_windows,
    segment_source,
)
from sec_assets.core.store.schemas import TABLE_SCHEMAS

KEY_PREFIX = "inbox"  # the "class" part of a window's segment key
WINDOW_COLUMNS = {
    "segment_key": pl.String,
    "source_sha256": pl.String,
    "window": pl.Int64,
    "start_s": pl.Float64,
    "end_s": pl.Float64,
    "padded": pl.Boolean,
    "sample_rate": pl.Int64,
    "audio": pl.Binary,
}


@dataclasses.dataclass(frozen=True)
class WindowParams:
    window_seconds: float = 5.0
    hop_seconds: float | None = None  # default: window_seconds
    min_window_seconds: float = 1.0

    def segment_params(self, training: SegmentParams) -> SegmentParams:
        """Training's segment parameters (rate, channel, clip rule) with these windows, no augmentation."""
        return dataclasses.replace(
            training,
            segment_seconds=self.window_seconds,
            hop_seconds=self.hop_seconds or self.window_seconds,
            min_segment_seconds=min(self.min_window_seconds, self.window_seconds),
            target_segments=None,
            augment_probability=0.0,
            noise_mix=0.0,
        )


def grade(path: Path, inbox: Path, policy: FilePolicy) -> tuple[SourceFile | None, dict[str, Any]]:
    """The recording graded by the manifest's own rules: (its source, or None if unusable; the
    manifest row, with the reason in ``error``)."""
    row = manifest_row(path, inbox, KEY_PREFIX, KEY_PREFIX, policy)
    sources, _ = source_files(pl.DataFrame([row], schema=TABLE_SCHEMAS["raw_manifest"]))
    return (sources[0] if sources else None), row


def recording_windows(source: SourceFile, params: SegmentParams, batch: int = 16) -> Iterator[pl.DataFrame]:
    """Batches of window rows (:data:`WINDOW_COLUMNS`) in time order, streamed: memory is one
    batch of windows, not the recording."""
    plan = file_windows(source.target_frames(params), params, KEY_PREFIX, source.sha256, 0)
    rows: list[dict[str, object]] = []
    for seg in segment_source(source, plan, KEY_PREFIX, params, augment=False):
        rows.append(
            {
                "segment_key": seg.key,
                "source_sha256": source.sha256,
                "window": seg.index,
                "start_s": seg.start_s,
                "end_s": seg.start_s + seg.duration_s,
                "padded": seg.padded,
                "sample_rate": params.sample_rate,
                "audio": encode_audio(seg.audio),
            }
        )
        if len(rows) == batch:
            yield pl.DataFrame(rows, schema=WINDOW_COLUMNS)
            rows = []
    if rows:
        yield pl.DataFrame(rows, schema=WINDOW_COLUMNS)
