"""n-octave band levels per frame.

Centre frequencies follow the predecessor's base-2 grid ``fc = 1000 · 2^(k/n)`` for integer k from
``round(n·log2(20/1000))`` to ``round(n·log2(nyquist/1000))``, keeping ``fc < 0.98 · nyquist``;
band edges are ``fc · 2^(∓1/(2n))`` with the upper edge clipped below Nyquist. Base 10 (IEC
61260-1, ``G = 10^(3/10)``) is an option. Levels are ``20·log10(rms / ref)`` per band and
non-overlapping frame, with ``ref = 20 µPa`` (full scale 1.0 read as 1 Pa, the predecessor's
convention) or ``ref = 1`` (dBFS); silence gives ``floor_db``, never -inf or NaN.

Two implementations:

- :func:`reference_levels` — the predecessor's definition: 4th-order Butterworth band-pass SOS
  filters (8th-order band-pass) run at the full sample rate in float64. Slow; the yardstick.
- :func:`fast_levels` — per frame, the power spectrum of the frame (rfft, rectangular window so
  Parseval holds exactly) is summed over each band with fractional bin weights. Bands narrower
  than one frequency bin (bandwidth × frame length < 1) get their share of the bin's power
  density, which is right for noise and only approximate for tones there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal

P_REF = 2e-5
NYQUIST_MARGIN = 0.98
BASE10_G = 10 ** (3 / 10)


@dataclass(frozen=True)
class Bands:
    center: np.ndarray
    lower: np.ndarray
    upper: np.ndarray

    def __len__(self) -> int:
        return int(self.center.size)


def band_grid(n: int, sample_rate: int, base: int = 2, f_min: float = 20.0) -> Bands:
    """Centre and edge frequencies of the 1/n-octave bands below Nyquist."""
    if n <= 0:
        raise ValueError(f"bands per octave must be a positive integer, got {n}")
    if sample_rate <= 0:
        raise ValueError(f"sample rate must be positive, got {sample_rate}")
    g = 2.0 if base == 2 else BASE10_G if base == 10 else None
    if g is None:
        raise ValueError("base must be 2 or 10")
    nyquist = sample_rate / 2
    log_g = np.log(g)
    k = np.arange(round(n * np.log(f_min / 1000) / log_g), round(n * np.log(nyquist / 1000) / log_g) + 1)
    center = 1000.0 * g ** (k / n)
    center = center[center < NYQUIST_MARGIN * nyquist]
    lower = center * g ** (-1 / (2 * n))
    upper = np.minimum(center * g ** (1 / (2 * n)), nyquist * 0.999)
    return Bands(center=center, lower=lower, upper=upper)


def _to_db(mean_square: np.ndarray, ref: float, floor_db: float) -> np.ndarray:
    floor_ms = (ref * 10 ** (floor_db / 20)) ** 2
    return (10 * np.log10(np.maximum(mean_square, floor_ms) / ref**2)).astype(np.float32)


def _framed(audio: np.ndarray, frame_len: int) -> np.ndarray:
    n_frames = audio.shape[-1] // frame_len
    if n_frames == 0:
        raise ValueError(f"signal of {audio.shape[-1]} samples is shorter than one frame ({frame_len})")
    return audio[..., : n_frames * frame_len].reshape(*audio.shape[:-1], n_frames, frame_len)


def reference_levels(
    audio: np.ndarray,
    sample_rate: int,
    n: int,
    frame_seconds: float = 0.1,
    ref: float = P_REF,
    floor_db: float = -100.0,
    base: int = 2,
) -> np.ndarray:
    """(frames, bands) levels in dB with the float64 full-rate Butterworth bank."""
    bands = band_grid(n, sample_rate, base)
    frame_len = round(frame_seconds * sample_rate)
    x = np.asarray(audio, dtype=np.float64)
    out = np.empty((x.size // frame_len, len(bands)), dtype=np.float32)
    for b, (lo, hi) in enumerate(zip(bands.lower, bands.upper, strict=True)):
        sos = signal.butter(4, [lo, hi], btype="bandpass", fs=sample_rate, output="sos")
        y = signal.sosfilt(sos, x)
        out[:, b] = _to_db(np.mean(_framed(y, frame_len) ** 2, axis=-1), ref, floor_db)
    return out


def band_weights(bands: Bands, frame_len: int, sample_rate: int) -> np.ndarray:
    """(bands, bins) fractional overlap of each rfft bin's frequency cell with each band."""
    n_bins = frame_len // 2 + 1
    df = sample_rate / frame_len
    bin_lo = np.maximum((np.arange(n_bins) - 0.5) * df, 0.0)
    bin_hi = np.minimum((np.arange(n_bins) + 0.5) * df, sample_rate / 2)
    overlap = np.minimum(bands.upper[:, None], bin_hi[None]) - np.maximum(bands.lower[:, None], bin_lo[None])
    return np.clip(overlap, 0.0, None) / df


def fast_levels(
    audio: np.ndarray,
    sample_rate: int,
    n: int,
    frame_seconds: float = 0.1,
    ref: float = P_REF,
    floor_db: float = -100.0,
    base: int = 2,
) -> np.ndarray:
    """(…, frames, bands) levels in dB from per-frame power spectra; batched over leading axes."""
    bands = band_grid(n, sample_rate, base)
    frame_len = round(frame_seconds * sample_rate)
    frames = _framed(np.asarray(audio, dtype=np.float64), frame_len)
    spectrum = np.fft.rfft(frames, axis=-1)
    power = spectrum.real**2 + spectrum.imag**2
    # one-sided spectrum → mean square: DC and Nyquist once, every other bin twice (Parseval)
    scale = np.full(power.shape[-1], 2.0)
    scale[0] = 1.0
    if frame_len % 2 == 0:
        scale[-1] = 1.0
    mean_square = (power * scale) @ band_weights(bands, frame_len, sample_rate).T / frame_len**2
    return _to_db(mean_square, ref, floor_db)
