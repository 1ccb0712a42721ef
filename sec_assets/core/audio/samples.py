"""Sample validity: what a decoded file holds (non-finite samples, peak) and what is done about it.

Float formats (float WAV, float64, FLAC never) may legally hold samples beyond ±1 and, when damaged,
NaN or ±inf. Left alone, one NaN poisons a whole resampled block, then the segment, its embedding
and its spectrogram; a peak of 1e5 overflows float16 storage to ±inf. So every file is scanned
where it is decoded (:func:`sec_assets.core.audio.audio_io.probe`), graded by a
:class:`SamplePolicy`, and the repair decided there is applied to the raw samples before mixing
and resampling, the same way on every read, and recorded on the file's manifest row and on each of
its segments.

Policies (settings ``non_finite_samples`` and ``over_full_scale``):

- non-finite: ``fail`` (default) records the file as failed, naming what was found and where, e.g.
  "312 NaN samples at 0.040–0.051 s"; ``zero`` sets them to 0 and records it.
- over full scale (finite peak > 1): ``scale`` (default) multiplies the whole file by 1/peak (the
  waveform keeps its shape; levels drop by the recorded dB), ``clip`` clips to ±1, ``fail`` rejects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

NonFinitePolicy = Literal["fail", "zero"]
OverFullScalePolicy = Literal["scale", "clip", "fail"]
FULL_SCALE = 1.0


@dataclass
class SampleScan:
    """Running figures over the decoded blocks of one file (all channels)."""

    frames: int = 0
    nan: int = 0
    posinf: int = 0
    neginf: int = 0
    first_bad: int | None = None  # first and last frame holding a non-finite sample
    last_bad: int | None = None
    peak: float = 0.0  # largest |finite sample|

    def update(self, block: np.ndarray) -> None:
        """Add one (frames, channels) block; call in file order."""
        finite = np.isfinite(block)
        if not finite.all():
            self.nan += int(np.isnan(block).sum())
            self.posinf += int(np.isposinf(block).sum())
            self.neginf += int(np.isneginf(block).sum())
            rows = np.flatnonzero(~finite.all(axis=1)) + self.frames
            self.first_bad = int(rows[0]) if self.first_bad is None else self.first_bad
            self.last_bad = int(rows[-1])
            finite_abs = np.abs(np.where(finite, block, 0.0))
        else:
            finite_abs = np.abs(block)
        if finite_abs.size:
            self.peak = max(self.peak, float(finite_abs.max()))
        self.frames += block.shape[0]

    @property
    def non_finite(self) -> int:
        return self.nan + self.posinf + self.neginf

    def describe_non_finite(self, sample_rate: int) -> str:
        """E.g. "312 NaN and 2 +inf samples at 0.040–0.051 s"."""
        kinds = [(self.nan, "NaN"), (self.posinf, "+inf"), (self.neginf, "-inf")]
        counts = " and ".join(f"{n} {name}" for n, name in kinds if n)
        assert self.first_bad is not None and self.last_bad is not None
        start, end = self.first_bad / sample_rate, (self.last_bad + 1) / sample_rate
        return f"{counts} sample{'s' if self.non_finite > 1 else ''} at {start:.3f}–{end:.3f} s"


@dataclass(frozen=True)
class Repair:
    """What is done to a file's raw samples before mixing and resampling (identity by default)."""

    zero_non_finite: bool = False
    scale: float = 1.0
    clip: bool = False
    note: str | None = None  # human-readable, stored on the manifest row and the segments

    @property
    def active(self) -> bool:
        return self.zero_non_finite or self.scale != 1.0 or self.clip

    def apply(self, block: np.ndarray) -> np.ndarray:
        if not self.active:
            return block
        out = np.array(block, dtype=np.float32, copy=True)
        if self.zero_non_finite:
            out[~np.isfinite(out)] = 0.0
        if self.scale != 1.0:
            out *= np.float32(self.scale)
        if self.clip:
            np.clip(out, -FULL_SCALE, FULL_SCALE, out=out)
        return out


class SampleRejected(ValueError):
    """The file's samples are unusable under the policy; the message says what was found."""


@dataclass(frozen=True)
class SamplePolicy:
    non_finite: NonFinitePolicy = "fail"
    over_full_scale: OverFullScalePolicy = "scale"

    def decide(self, scan: SampleScan, sample_rate: int) -> Repair:
        """The repair for a scanned file, or :class:`SampleRejected` naming what was found."""
        notes: list[str] = []
        zero = False
        if scan.non_finite:
            found = scan.describe_non_finite(sample_rate)
            if self.non_finite == "fail":
                raise SampleRejected(f"{found} (non_finite_samples = 'fail'; 'zero' repairs them)")
            zero = True
            notes.append(f"{found} set to 0")
        scale, clip = 1.0, False
        if scan.peak > FULL_SCALE:
            peak = f"peak {scan.peak:.6g} beyond full scale (±1)"
            if self.over_full_scale == "fail":
                raise SampleRejected(f"{peak} (over_full_scale = 'fail'; 'scale' or 'clip' repair it)")
            if self.over_full_scale == "scale":
                scale = FULL_SCALE / scan.peak
                notes.append(f"{peak}: scaled by {scale:.6g} ({20 * np.log10(scale):.1f} dB)")
            else:
                clip = True
                notes.append(f"{peak}: clipped to ±1")
        return Repair(zero, scale, clip, "; ".join(notes) or None)
