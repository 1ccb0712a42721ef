"""Inference windows of a recording, cut by the training segmenter itself.

A recording of any length is decoded (streamed), mixed to mono, resampled with soxr to the
target rate and cut into windows of ``window_seconds`` every ``hop_seconds`` — by
:func:`sec_assets.core.audio.segments.segment_file` with augmentation off, the function that cut
the clean valid and test segments. So the rule for the last partial window is training's: a
remainder at least ``min_window_seconds`` long is repeat-padded to a full window, a shorter one
is dropped; a recording shorter than one window gives one repeat-padded window when it holds at
least ``min_clip_seconds``. Window audio is stored as the segments are (float16 PCM): a recording
that is also a training file gets exactly the features it got in training.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import polars as pl

from sec_assets.core.audio.samples import SamplePolicy
from sec_assets.core.audio.segments import SegmentParams, encode_audio, segment_file

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


def recording_windows(
    path: Path, sha256: str, params: SegmentParams, policy: SamplePolicy, batch: int = 16
) -> Iterator[pl.DataFrame]:
    """Batches of window rows (:data:`WINDOW_COLUMNS`) in time order, streamed: memory is one
    batch of windows, not the recording. Raises like the manifest on an unusable file."""
    rows: list[dict[str, object]] = []
    for seg in segment_file(path, KEY_PREFIX, sha256, params, policy=policy, augment=False):
        rows.append(
            {
                "segment_key": seg.key,
                "source_sha256": sha256,
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
