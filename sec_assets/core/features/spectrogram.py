"""One shard of ``octave_spectrograms``: stored segments → band levels, a bad segment reported.

A segment whose stored audio is not finite (written by an older version; the segment encoder now
refuses such audio) or whose levels come out non-finite is left out with its key and reason; the
other segments of the batch are computed as if it had never been there (levels do not depend on
which segments share a batch, see :func:`sec_assets.core.features.octave.fast_levels`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from sec_assets.core.audio.segments import decode_audio
from sec_assets.core.features import octave
from sec_assets.core.store.schemas import TABLE_SCHEMAS


@dataclass(frozen=True)
class LevelParams:
    """The filterbank's identity for one octave resolution (recorded in lineage)."""

    n: int
    sample_rate: int
    frame_seconds: float = 0.1
    reference: str = "20uPa"
    floor_db: float = -100.0
    base: int = 2

    @property
    def bands(self) -> octave.Bands:
        return octave.band_grid(self.n, self.sample_rate, self.base)


def spectrogram_shard(
    batch: pl.DataFrame, partition_key: str, params: LevelParams, device: str, batch_size: int = 16
) -> tuple[pl.DataFrame, list[dict[str, str]]]:
    """Rows of ``octave_spectrograms`` for a batch of stored segments (segment_key, source_sha256,
    sample_rate, audio), and the failures (segment_key, source_sha256, reason)."""
    wrong_rate = batch.filter(pl.col("sample_rate") != params.sample_rate)
    if wrong_rate.height:  # a configuration mismatch, not a bad segment: the whole class is stale
        raise ValueError(
            f"{partition_key}: segments are at {sorted(wrong_rate['sample_rate'].unique())} Hz but the "
            f"configured target rate is {params.sample_rate} Hz: re-materialize augmented_segments"
        )
    audio = [decode_audio(a) for a in batch["audio"]]
    reasons: dict[int, str] = {}
    for i, x in enumerate(audio):
        bad = int(np.sum(~np.isfinite(x)))
        if bad:
            reasons[i] = f"{bad} non-finite samples in the stored segment: re-materialize augmented_segments"
    good = [i for i in range(batch.height) if i not in reasons]
    levels = np.zeros((0, 0, 0), dtype=np.float32)
    if good:
        levels = octave.fast_levels(
            np.stack([audio[i] for i in good]),
            params.sample_rate,
            params.n,
            params.frame_seconds,
            ref=octave.LEVEL_REFERENCES[params.reference],
            floor_db=params.floor_db,
            base=params.base,
            device=device,
            batch_size=batch_size,
        )
        finite = np.isfinite(levels).reshape(len(good), -1).all(axis=1)
        reasons.update(
            {i: "band levels are not finite" for i, ok in zip(good, finite, strict=True) if not ok}
        )
        levels = levels[finite]
        good = [i for i, ok in zip(good, finite, strict=True) if ok]
    failures = [
        {
            "segment_key": batch["segment_key"][i],
            "source_sha256": batch["source_sha256"][i],
            "reason": reason,
        }
        for i, reason in sorted(reasons.items())
    ]
    if not good:
        return pl.DataFrame(schema=TABLE_SCHEMAS["octave_spectrograms"]), failures
    kept = batch[good]
    center = params.bands.center.tolist()
    frame = pl.DataFrame(
        {
            "segment_key": kept["segment_key"],
            "partition_key": [partition_key] * kept.height,
            "octave": [params.n] * kept.height,
            "source_sha256": kept["source_sha256"],
            "n_frames": [levels.shape[1]] * kept.height,
            "n_bands": [levels.shape[2]] * kept.height,
            "center_hz": [center] * kept.height,
            "levels_db": [lv.ravel() for lv in levels],
        }
    )
    return frame, failures
