"""n-octave band levels per frame: a float64 reference bank and a fast torch path (CPU or CUDA).

**Grid.** Base 2 (the predecessor's, default): ``fc = 1000 · 2^(k/n)`` for integer k from
``round(n·log2(20/1000))`` to ``round(n·log2(nyquist/1000))``, keeping ``fc < 0.98 · nyquist``;
edges ``fc · 2^(∓1/(2n))``, the upper edge clipped to ``0.999 · nyquist``. Base 10 (IEC 61260-1,
``G = 10^(3/10)``): ``fc = 1000 · G^(k/n)`` for odd n and ``1000 · G^((2k+1)/(2n))`` for even n.

**Levels.** ``20·log10(rms / ref)`` per band and non-overlapping frame (default 0.1 s), with
``ref = 20 µPa`` (full scale 1.0 read as 1 Pa, the predecessor's convention) or dBFS (AES17:
``ref = 1/√2``, so a full-scale sine reads 0 dBFS). Silence reads ``floor_db``, never -inf/NaN.

**Reference** (:func:`reference_levels`): the predecessor's definition — a 4th-order Butterworth
band-pass (8th-order overall) per band as float64 SOS, run with ``sosfilt`` at the full rate.
Cost grows with bands × samples: the yardstick for tests and the benchmark, not for production.

**Fast path** (:func:`fast_levels`): the *same* filters applied in the frequency domain, batched
over signals and bands with torch (float32, CPU or CUDA). Each band takes one of two routes:

- *Exact route* (narrow and low bands): the signal is low-passed and decimated (zero-phase Kaiser
  FIR as one GEMM; its ripple is divided out), one FFT covers the (zero-padded) clip, and each
  band multiplies the bins where its Butterworth response is above ``-skirt_db`` by the filter's
  exact *complex* response (``sosfreqz`` of the reference's SOS, magnitude and phase). Those bins,
  shifted to DC, go through a short inverse FFT (2× oversampled) to give the band's analytic signal
  at a rate that divides the frame; half its squared magnitude, averaged per frame, is the band's
  mean square. The padding (≥ 6 frames) holds the filters' ring-down, so this is the reference's
  causal filter output, start-up transient included.
- *Frame route* (bands ≥ 16 frame bins wide whose lower edge is ≥ 6 bins above the next band's
  centre): per frame, the power spectrum of a window that is flat over the frame and tapers a
  quarter frame into each neighbour, weighted by the filter's |H|² — the band's steady-state
  power by Parseval. The narrow-band limits keep window leakage from a loud neighbour below the
  error budget (measured). The last window is moved left to end at the last sample: the
  reference never sees a signal stop.

Cost: roughly one FFT of the framed clip plus one of the decimated clip, nearly independent of n
(the reference grows with bands × samples). Figures: ``python -m sec_assets.benchmarks.octave``.

**Agreement with the reference** (tested, and measured by the benchmark): within 0.5 dB for bands
with bandwidth × frame ≥ 1 whose reference level is within ``skirt_db - 10`` dB of the loudest band
in the frame — frame by frame on steady tones once the reference filter has settled (≈ 5.7 / (bw·T)
frames), and on the mean over frames for white and pink noise. Below those bounds: the start-up
frames of the frame route lack the reference's filter transient; a band reading a tone far out in
its skirt (below ``-skirt_db``) reads nothing of it, where the reference reads the far skirt;
bands narrower than 1/frame also lack the ``cos 2ωt`` ripple the envelope does not carry, so only
their mean over frames agrees. float32 limits any band to ≈ 70 dB below the loudest content of the
same clip.
"""

from __future__ import annotations

import functools
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

from sec_assets.core.devices import resolve_device

if TYPE_CHECKING:  # torch is imported on first use: ≈ 1 s of every process that loads the definitions
    import torch


@functools.cache
def _signal() -> ModuleType:
    """``scipy.signal``, imported on first use: it costs ≈ 1 s of start-up (its array-API
    layer), which every step process would pay when it imports the definitions, while only the
    band design and the reference filter need it."""
    import scipy.signal

    return scipy.signal


P_REF = 2e-5
DBFS_REF = 1 / math.sqrt(2)  # AES17: a full-scale sine reads 0 dBFS
LEVEL_REFERENCES = {"20uPa": P_REF, "dBFS": DBFS_REF}
NYQUIST_MARGIN = 0.98
BASE10_G = 10 ** (3 / 10)
BUTTER_ORDER = 4  # scipy's band-pass doubles it: 8th order overall, as the predecessor
PAD_FRAMES = 6  # least zero padding, in frames, for the filters' ring-down (bw·T ≥ 1 needs 5.7)
MAX_PAD_FRAMES = 20  # narrower bands ring longer; past this their tail wraps onto the first frames
RING_DOWN_BW_SECONDS = 5.7  # an 8th-order Butterworth band-pass of width bw decays 60 dB in ≈ 5.7/bw
FRAME_PATH_MIN_BINS = 16.0  # bands at least this many frame bins wide are measured on framed spectra
FRAME_PATH_MIN_GAP_BINS = 6.0  # … if the neighbour band's centre is this many bins below the edge
TAPER_FRACTION = 0.25  # the frame path's window reaches this fraction of a frame into each neighbour
SKIRT_DB = 60.0  # the exact path keeps each filter's response down to this attenuation
CPU_BLOCK = 8  # signals per CPU call: one fixed shape, so values never depend on batching


@dataclass(frozen=True)
class Bands:
    center: np.ndarray
    lower: np.ndarray
    upper: np.ndarray

    def __len__(self) -> int:
        return int(self.center.size)


@functools.lru_cache(maxsize=64)
def band_grid(n: int, sample_rate: int, base: int = 2, f_min: float = 20.0) -> Bands:
    """Centre and edge frequencies of the 1/n-octave bands below Nyquist.

    Computed once per (n, rate, base) in a process: the settings' level parameters, the
    filterbank plan and the spectrogram rows all read this one grid (read-only arrays)."""
    if n <= 0 or int(n) != n:
        raise ValueError(f"bands per octave must be a positive integer, got {n}")
    if sample_rate <= 0:
        raise ValueError(f"sample rate must be positive, got {sample_rate}")
    if base not in (2, 10):
        raise ValueError(f"base must be 2 or 10, got {base}")
    g = 2.0 if base == 2 else BASE10_G
    nyquist = sample_rate / 2
    log_g = math.log(g)
    k = np.arange(round(n * math.log(f_min / 1000) / log_g), round(n * math.log(nyquist / 1000) / log_g) + 1)
    exponent = (2 * k + 1) / (2 * n) if base == 10 and n % 2 == 0 else k / n
    center = 1000.0 * g**exponent
    center = center[center < NYQUIST_MARGIN * nyquist]
    lower = center * g ** (-1 / (2 * n))
    upper = np.minimum(center * g ** (1 / (2 * n)), nyquist * 0.999)
    for array in (center, lower, upper):
        array.setflags(write=False)  # shared by every caller through the cache
    return Bands(center=center, lower=lower, upper=upper)


def band_sos(bands: Bands, sample_rate: int) -> list[np.ndarray]:
    """The reference's filters: one float64 Butterworth band-pass SOS per band."""
    return [
        _signal().butter(BUTTER_ORDER, [lo, hi], btype="bandpass", fs=sample_rate, output="sos")
        for lo, hi in zip(bands.lower, bands.upper, strict=True)
    ]


def frame_length(frame_seconds: float, sample_rate: int) -> int:
    frame_len = round(frame_seconds * sample_rate)
    if frame_len <= 0:
        raise ValueError(f"frame of {frame_seconds} s is shorter than one sample at {sample_rate} Hz")
    return frame_len


def to_db(mean_square: np.ndarray, ref: float, floor_db: float) -> np.ndarray:
    """Mean square → dB re ``ref``, clamped to ``floor_db`` (silence is a number, not -inf)."""
    floor_ms = (ref * 10 ** (floor_db / 20)) ** 2
    return (10 * np.log10(np.maximum(mean_square, floor_ms) / ref**2)).astype(np.float32)


def _check_signal(audio: np.ndarray, frame_len: int) -> int:
    n_frames = audio.shape[-1] // frame_len
    if n_frames == 0:
        raise ValueError(f"signal of {audio.shape[-1]} samples is shorter than one frame ({frame_len})")
    if not np.all(np.isfinite(audio)):
        raise ValueError("signal contains NaN or infinite samples")
    return n_frames


def reference_levels(
    audio: np.ndarray,
    sample_rate: int,
    n: int,
    frame_seconds: float = 0.1,
    ref: float = P_REF,
    floor_db: float = -100.0,
    base: int = 2,
) -> np.ndarray:
    """(frames, bands) levels in dB with the float64 full-rate Butterworth bank (one signal)."""
    bands = band_grid(n, sample_rate, base)
    frame_len = frame_length(frame_seconds, sample_rate)
    x = np.asarray(audio, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError("reference_levels takes one 1-D signal")
    n_frames = _check_signal(x, frame_len)
    out = np.empty((n_frames, len(bands)), dtype=np.float32)
    for b, sos in enumerate(band_sos(bands, sample_rate)):
        y = _signal().sosfilt(sos, x)[: n_frames * frame_len]
        out[:, b] = to_db(np.mean(y.reshape(n_frames, frame_len) ** 2, axis=-1), ref, floor_db)
    return out


# ---------------------------------------------------------------------------------------------
# fast path


@dataclass(frozen=True)
class _ExactGroup:
    """Narrow bands sharing one inverse-FFT length ``m`` (one decimation factor ``fft_len / m``)."""

    index: np.ndarray  # band indices into the grid
    m: int  # bins per band window = decimated samples per signal
    bins: np.ndarray  # (bands, m) bin indices of each band's window in the low-rate spectrum
    response: np.ndarray  # (bands, m) complex response on those bins (0 outside the support)


@dataclass(frozen=True, eq=False)  # hashed by identity: plans are cached and tensors keyed on them
class FilterbankPlan:
    """Everything about a (grid, rate, length) that does not depend on the signal; cached."""

    bands: Bands
    sample_rate: int
    n_samples: int
    frame_len: int
    n_frames: int
    skirt_db: float  # both paths keep each filter's response down to this attenuation
    # frame path: windows of frame + 2·taper samples, one per frame, centred on it
    frame_index: np.ndarray  # bands measured on framed spectra
    taper: int
    frame_window: np.ndarray  # (frame_len + 2·taper,) flat over the frame, raised-cosine tapers
    frame_weights: np.ndarray  # (window bins, frame bands): |H|² · one-sided scale / window length
    frame_norm: np.ndarray  # (frames,) Σ w² over the samples of each window inside the signal
    end_shift: bool  # the last frame's window is moved left to end at the last sample
    frame_fft: int  # FFT length of a frame window (zero-padded to a fast size)
    # exact path: low-pass FIR + decimation by `decimate`, then one FFT of fft_len / decimate
    fft_len: int  # multiple of frame_len and of decimate, ≥ signal + ring-down padding
    decimate: int
    fir: np.ndarray  # odd-length zero-phase low-pass (empty when decimate == 1)
    spectrum_len: int  # low-rate rfft bins plus zero bins for windows reaching past its end
    exact_groups: tuple[_ExactGroup, ...]


def _smooth(n: int, primes: tuple[int, ...] = (2, 3, 5, 7)) -> bool:
    """Whether n has no prime factor outside ``primes`` (a fast FFT length)."""
    for p in primes:
        while n % p == 0:
            n //= p
    return n == 1


def _divisors(n: int) -> list[int]:
    small = [d for d in range(1, math.isqrt(n) + 1) if n % d == 0]
    return sorted(set(small + [n // d for d in small]))


def _support(lo: float, hi: float, sample_rate: int, skirt_db: float) -> tuple[float, float]:
    """Frequencies where the digital Butterworth band-pass is above ``-skirt_db``.

    scipy designs it by the bilinear transform with pre-warped edges, so with ``w = tan(π f/fs)``
    the response is the analog prototype's: ``|H|² = 1 / (1 + ε^(2·order))`` with
    ``ε = (w/w0 - w0/w) · w0 / (w_hi - w_lo)``. Solving ``|ε| = ε_c`` gives the two edges.
    """
    w_lo, w_hi = math.tan(math.pi * lo / sample_rate), math.tan(math.pi * hi / sample_rate)
    w0, width = math.sqrt(w_lo * w_hi), w_hi - w_lo
    eps = (10 ** (skirt_db / 10) - 1) ** (1 / (2 * BUTTER_ORDER))
    root = math.sqrt((eps * width) ** 2 + 4 * w0**2)
    f_lo = math.atan((root - eps * width) / 2) * sample_rate / math.pi
    f_hi = math.atan((root + eps * width) / 2) * sample_rate / math.pi
    return f_lo, min(f_hi, sample_rate / 2)


def _frame_fft_size(size: int) -> int:
    """The smallest 7-smooth multiple of 64 ≥ size: MKL is several times slower on lengths like
    6614 = 2·3²·5·7² or 6656 = 2⁹·13 than on 6720 = 2⁶·3·5·7 (measured), so frames are
    zero-padded to a friendlier length."""
    n = -(-size // 64) * 64
    while not _smooth(n):
        n += 64
    return n


def _taper_window(frame_len: int, taper: int) -> np.ndarray:
    """1 over the frame, sin² ramps of ``taper`` samples on each side (a Tukey window)."""
    ramp = np.sin(0.5 * np.pi * (np.arange(taper) + 0.5) / taper) ** 2 if taper else np.zeros(0)
    return np.concatenate([ramp, np.ones(frame_len), ramp[::-1]])


def _frame_path(
    sos: list[np.ndarray], sample_rate: int, frame_len: int, n_frames: int, n_samples: int, taper: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """Window, weights, per-frame normalisation, and whether the last window is moved left.

    A window reaching past the end would see the signal stop (a click the causal reference never
    sees), so the last frame's window is moved left to end at the last sample.
    """
    window = _taper_window(frame_len, taper)
    size = window.size
    n_fft = _frame_fft_size(size)
    freqs = np.arange(n_fft // 2 + 1) * sample_rate / n_fft
    one_sided = np.full(freqs.size, 2.0)
    one_sided[0] = 1.0
    if n_fft % 2 == 0:
        one_sided[-1] = 1.0
    gains = [np.abs(_signal().sosfreqz(s, worN=freqs, fs=sample_rate)[1]) ** 2 for s in sos]
    weights = np.stack(gains, axis=1) * (one_sided / n_fft)[:, None]  # Parseval: Σ|wx|² = Σ|X|²/n_fft
    # a stationary signal's mean square is Σ w²x² / Σ w²; only samples inside the signal count
    start = np.arange(n_frames)[:, None] * frame_len - taper + np.arange(size)[None]
    norm = np.sum(np.where((start >= 0) & (start < n_samples), window**2, 0.0), axis=1)
    end_shift = start[-1, -1] >= n_samples and n_samples >= size
    if end_shift:
        norm[-1] = np.sum(window**2)
    return window, weights, norm, bool(end_shift)


def _decimator(f_max: float, sample_rate: int, frame_len: int) -> tuple[int, np.ndarray]:
    """The largest decimation dividing the frame that keeps ``[0, f_max]`` alias-free, and its FIR.

    Aliases into ``[0, f_max]`` come from ``fs/R ± f_max``, so the FIR passes ``f_max`` and stops
    ``fs/R - f_max`` by 100 dB (Kaiser design); its passband ripple is divided out afterwards.
    """
    choices = [r for r in _divisors(frame_len) if r <= 64 and sample_rate / r >= 2.5 * f_max]
    decimate = max(choices, default=1)
    if decimate == 1:
        return 1, np.zeros(0)
    width = (sample_rate / decimate - 2 * f_max) / (sample_rate / 2)
    taps, beta = _signal().kaiserord(100.0, width)
    taps += 1 - taps % 2  # odd: an integer delay, removed so the filter is zero-phase
    fir = _signal().firwin(taps, (sample_rate / decimate / 2) / (sample_rate / 2), window=("kaiser", beta))
    return decimate, fir


def _fir_gain(fir: np.ndarray, freqs: np.ndarray, sample_rate: int) -> np.ndarray:
    """Real amplitude response of the zero-phase (centred) FIR."""
    if fir.size == 0:
        return np.ones(freqs.size)
    lag = np.arange(fir.size) - (fir.size - 1) // 2
    return np.cos(2 * np.pi * np.outer(freqs, lag) / sample_rate) @ fir


def _exact_groups(
    sos: list[np.ndarray],
    bands: Bands,
    index: np.ndarray,
    sample_rate: int,
    frame_len: int,
    fft_len: int,
    decimate: int,
    fir: np.ndarray,
    skirt_db: float,
) -> tuple[_ExactGroup, ...]:
    n_bins = fft_len // decimate // 2 + 1  # bins of the low-rate spectrum (same spacing fs/L)
    bin_hz = sample_rate / fft_len
    # band decimations that divide the frame, so every frame is a whole number of samples
    decimations = [d for d in _divisors(frame_len) if fft_len % d == 0]
    by_m: dict[int, list[tuple[int, int, np.ndarray]]] = {}
    for b in index:
        f_lo, f_hi = _support(bands.lower[b], bands.upper[b], sample_rate, skirt_db)
        k_lo, k_hi = max(1, math.floor(f_lo / bin_hz)), min(n_bins - 1, math.ceil(f_hi / bin_hz))
        width = k_hi - k_lo + 1
        # twice the window: the squared envelope has twice its bandwidth, and frames average it
        m = fft_len // max(d for d in decimations if fft_len // d >= 2 * width)
        k_start = max(0, k_lo - (m - width) // 2)
        bins = k_start + np.arange(m)
        response = np.zeros(m, dtype=np.complex128)
        inside = (bins >= k_lo) & (bins <= k_hi)
        freqs = bins[inside] * bin_hz
        _, h = _signal().sosfreqz(sos[b], worN=freqs, fs=sample_rate)
        # the low-rate spectrum is X · fir_gain / R: undo both so the band sees X · H exactly
        response[inside] = h * decimate / _fir_gain(fir, freqs, sample_rate)
        by_m.setdefault(m, []).append((int(b), k_start, response))
    return tuple(
        _ExactGroup(
            index=np.array([b for b, _, _ in members]),
            m=m,
            bins=np.stack([k + np.arange(m) for _, k, _ in members]),
            response=np.stack([r for _, _, r in members]),
        )
        for m, members in sorted(by_m.items())
    )


@functools.lru_cache(maxsize=64)
def filterbank_plan(
    n: int,
    sample_rate: int,
    n_samples: int,
    frame_seconds: float = 0.1,
    base: int = 2,
    skirt_db: float = SKIRT_DB,
    frame_path_min_bins: float = FRAME_PATH_MIN_BINS,
    taper_fraction: float = TAPER_FRACTION,
) -> FilterbankPlan:
    """Which band takes which path, with its windows and responses, for one signal length."""
    bands = band_grid(n, sample_rate, base)
    frame_len = frame_length(frame_seconds, sample_rate)
    n_frames = n_samples // frame_len
    if n_frames == 0:
        raise ValueError(f"signal of {n_samples} samples is shorter than one frame ({frame_len})")
    sos = band_sos(bands, sample_rate)
    # framed spectra leak a little: a band uses them only when it is wide *and* the next band's
    # centre (where a loud neighbour tone sits) is far enough below its lower edge
    g = 2.0 if base == 2 else BASE10_G
    gap = bands.lower - bands.center * g ** (-1 / n)
    bins_per_hz = frame_len / sample_rate
    wide = ((bands.upper - bands.lower) * bins_per_hz >= frame_path_min_bins) & (
        gap * bins_per_hz >= FRAME_PATH_MIN_GAP_BINS
    )
    frame_index, exact_index = np.flatnonzero(wide), np.flatnonzero(~wide)
    taper = round(taper_fraction * frame_len)
    window, weights, norm, end_shift = _frame_path(
        [sos[b] for b in frame_index], sample_rate, frame_len, n_frames, n_samples, taper
    )
    # zero padding holds the exact bands' ring-down (60 dB in ≈ 5.7 / bandwidth seconds), so a
    # band's tail does not wrap around onto the first frames; capped, as its cost grows with it
    narrowest = float(np.min(bands.upper[exact_index] - bands.lower[exact_index], initial=np.inf))
    pad = math.ceil(RING_DOWN_BW_SECONDS / (narrowest * frame_len / sample_rate))
    pad = min(max(pad, PAD_FRAMES), MAX_PAD_FRAMES)
    q = next(q for q in range(n_frames + pad, 8 * (n_frames + pad)) if _smooth(q))
    fft_len = q * frame_len
    supports = [_support(bands.lower[b], bands.upper[b], sample_rate, skirt_db)[1] for b in exact_index]
    decimate, fir = _decimator(max(supports, default=sample_rate / 2), sample_rate, frame_len)
    exact = _exact_groups(sos, bands, exact_index, sample_rate, frame_len, fft_len, decimate, fir, skirt_db)
    spectrum_len = max([fft_len // decimate // 2 + 1] + [int(g.bins.max()) + 1 for g in exact])
    return FilterbankPlan(
        bands=bands,
        sample_rate=sample_rate,
        n_samples=n_samples,
        frame_len=frame_len,
        n_frames=n_frames,
        skirt_db=skirt_db,
        frame_index=frame_index,
        taper=taper,
        frame_window=window,
        frame_weights=weights,
        frame_norm=norm,
        end_shift=end_shift,
        frame_fft=_frame_fft_size(window.size),
        fft_len=fft_len,
        decimate=decimate,
        fir=fir,
        spectrum_len=spectrum_len,
        exact_groups=exact,
    )


@dataclass(frozen=True)
class _DevicePlan:
    frame_window: torch.Tensor
    frame_blocks: list[tuple[torch.Tensor, int, int, torch.Tensor]]  # see _frame_blocks
    frame_norm: torch.Tensor
    fir_toeplitz: torch.Tensor  # see _decimated
    exact: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]  # (band index, bins, response)


@functools.lru_cache(maxsize=64)
def _on_device(plan: FilterbankPlan, device: str) -> _DevicePlan:
    import torch

    return _DevicePlan(
        frame_window=torch.as_tensor(
            np.pad(plan.frame_window, (0, plan.frame_fft - plan.frame_window.size)),
            dtype=torch.float32,
            device=device,
        ),
        frame_blocks=_frame_blocks(plan, device),
        frame_norm=torch.as_tensor(plan.frame_norm[:, None], dtype=torch.float32, device=device),
        fir_toeplitz=torch.as_tensor(_toeplitz(plan.fir, plan.decimate), dtype=torch.float32, device=device),
        exact=[
            (
                torch.as_tensor(g.index, device=device),
                torch.as_tensor(g.bins.ravel(), device=device),
                torch.as_tensor(g.response, dtype=torch.complex64, device=device),
            )
            for g in plan.exact_groups
        ],
    )


def _frame_blocks(
    plan: FilterbankPlan, device: str, per_block: int = 16
) -> list[tuple[torch.Tensor, int, int, torch.Tensor]]:
    """The frame weights cut into dense blocks of neighbouring bands over the bins they use.

    A band's weights are negligible outside its skirts, so a full (bins × bands) product is
    mostly multiplications by zero. Each block is (band index, first column, end column, weights)
    in the interleaved (re², im²) layout of ``view_as_real``, whose columns are bins × 2.
    """
    import torch

    out = []
    weights = plan.frame_weights
    for start in range(0, plan.frame_index.size, per_block):
        block = weights[:, start : start + per_block]
        used = np.flatnonzero(block.max(axis=1) > 10 ** (-plan.skirt_db / 10) * block.max())
        lo, hi = int(used.min()), int(used.max()) + 1
        out.append(
            (
                torch.as_tensor(plan.frame_index[start : start + per_block], device=device),
                2 * lo,
                2 * hi,
                torch.as_tensor(np.repeat(block[lo:hi], 2, axis=0), dtype=torch.float32, device=device),
            )
        )
    return out


def _toeplitz(fir: np.ndarray, decimate: int, outputs: int = 32) -> np.ndarray:
    """(chunk, outputs) matrix whose column q is the FIR shifted by q·decimate samples."""
    taps = fir.size
    out = np.zeros(((outputs - 1) * decimate + taps, outputs))
    for q in range(outputs):
        out[q * decimate : q * decimate + taps, q] = fir
    return out


def _zero_padded(x: torch.Tensor, left: int, right: int) -> torch.Tensor:
    """``F.pad`` with zeros, but only the padding is zero-filled (a full fill costs as much as
    the copy on long signals)."""
    out = x.new_empty(x.shape[0], left + x.shape[-1] + right)
    out[:, :left].zero_()
    out[:, left : left + x.shape[-1]] = x
    out[:, left + x.shape[-1] :].zero_()
    return out


def _decimated(x: torch.Tensor, plan: FilterbankPlan, toeplitz: torch.Tensor) -> torch.Tensor:
    """Zero-phase FIR low-pass keeping every R-th sample, laid out for a circular FFT of L/R.

    ``y[j] = Σ_i h[i] x[jR + i - c]``. Outputs come in blocks of Q; block b reads the chunk of input
    starting at ``bQR - c``, and a (chunk, Q) banded matrix of shifted FIR copies gives all Q at
    once — a well-shaped GEMM instead of a strided convolution (torch's is slow for one channel).
    The FIR smears an onset at t = 0 slightly into negative time; those outputs go to the end of
    the buffer (index -1 is time -R), so the FFT sees the low-passed signal whole.
    """
    import torch

    r = plan.decimate
    chunk, q = toeplitz.shape
    delay = (plan.fir.size - 1) // 2
    early = -(-delay // r)  # outputs before t = 0
    n_out = early + -(-(plan.n_samples + delay) // r)
    blocks = -(-n_out // q)
    length = (blocks - 1) * q * r + chunk
    left = delay + early * r
    padded = _zero_padded(x, left, length - left - x.shape[-1])
    y = torch.matmul(padded.unfold(-1, chunk, q * r), toeplitz)
    y = y.reshape(x.shape[0], -1)[:, :n_out]
    buffer = _zero_padded(y[:, early:], 0, plan.fft_len // r - n_out)
    buffer[:, buffer.shape[-1] - early :] = y[:, :early]
    return buffer


def _band_mean_squares(x: torch.Tensor, plan: FilterbankPlan, device: str) -> torch.Tensor:
    """(signals, samples) float32 → (signals, frames, bands) mean squares of the band signals."""
    import torch

    dp = _on_device(plan, device)
    s, n_frames, frame_len = x.shape[0], plan.n_frames, plan.frame_len
    out = torch.empty((s, n_frames, len(plan.bands)), dtype=torch.float32, device=device)
    if plan.frame_index.size:
        n_fft, size = plan.frame_fft, plan.frame_window.size
        # zeros before the start (the reference's filters start at rest there too); windows are
        # read n_fft long and the window is zero past its end, so the FFT needs no padding copy
        padded = _zero_padded(x, plan.taper, plan.taper + frame_len + n_fft - size)
        frames = padded.unfold(-1, n_fft, frame_len)[:, :n_frames] * dp.frame_window
        if plan.end_shift:  # the reference never sees the signal stop: the last window ends at it
            frames[:, -1, :size] = x[:, -size:] * dp.frame_window[:size]
        # |X|² @ W as (re², im²) interleaved @ (W rows repeated): no reduction over tiny pairs
        spectra = torch.fft.rfft(frames)
        spectra = torch.view_as_real(spectra).square_().reshape(s, n_frames, -1)
        for index, lo, hi, weights in dp.frame_blocks:
            out[:, :, index] = torch.matmul(spectra[..., lo:hi], weights) / dp.frame_norm
    if plan.exact_groups:
        low = x if plan.decimate == 1 else _decimated(x, plan, dp.fir_toeplitz)
        spectrum = torch.fft.rfft(low, n=plan.fft_len // plan.decimate)
        if plan.spectrum_len > spectrum.shape[-1]:  # a window reaches past the end: zeros there
            spectrum = torch.nn.functional.pad(spectrum, (0, plan.spectrum_len - spectrum.shape[-1]))
        for index, bins, response in dp.exact:
            m = response.shape[-1]
            per_frame = frame_len * m // plan.fft_len  # decimated samples per frame
            analytic = torch.fft.ifft(spectrum[:, bins].reshape(s, index.numel(), m) * response)
            # the analytic signal is (2m/L)·ifft; the real band signal's mean square is |analytic|²/2;
            # re² and im² of a frame's samples are summed in one reduction
            squares = torch.view_as_real(analytic[..., : n_frames * per_frame]).square_()
            energy = squares.reshape(s, index.numel(), n_frames, 2 * per_frame).sum(dim=-1)
            out[:, :, index] = (energy * (2.0 * (m / plan.fft_len) ** 2 / per_frame)).mT
    return out


def fast_levels(
    audio: np.ndarray,
    sample_rate: int,
    n: int,
    frame_seconds: float = 0.1,
    ref: float = P_REF,
    floor_db: float = -100.0,
    base: int = 2,
    device: str | None = "cpu",
    batch_size: int = 16,
    skirt_db: float = SKIRT_DB,
    workers: int | None = None,
) -> np.ndarray:
    """(…, frames, bands) levels in dB; batched over the leading axes.

    A spectrogram must not depend on which segments happened to share a batch. MKL's batched
    FFTs and GEMMs give each row the same bits whatever its position in a batch of one shape, but
    not across shapes or thread counts (both measured). So on CPU every call sees exactly
    :data:`CPU_BLOCK` signals (the last block zero-filled), MKL runs single-threaded inside it, and
    ``workers`` threads (default: torch's thread count) take blocks in parallel: values are
    identical for any ``batch_size`` and worker count. On GPU, batches of ``batch_size`` (CUDA
    values are not bitwise equal to CPU ones; lineage records the device). Peak memory is bounded
    by one block or batch per worker, not by how many signals are passed.
    """
    import torch

    x = np.asarray(audio, dtype=np.float32)
    lead, n_samples = x.shape[:-1], x.shape[-1]
    plan = filterbank_plan(n, sample_rate, n_samples, frame_seconds, base, skirt_db)
    _check_signal(x, plan.frame_len)
    flat = x.reshape(-1, n_samples)
    dev = resolve_device(device)
    out = np.empty((flat.shape[0], plan.n_frames, len(plan.bands)), dtype=np.float32)
    block = batch_size if dev != "cpu" else CPU_BLOCK

    def one_block(start: int) -> None:
        rows = flat[start : start + block]
        with torch.inference_mode():
            chunk = torch.zeros((block, n_samples), dtype=torch.float32, device=dev)
            chunk[: rows.shape[0]] = torch.from_numpy(rows)
            mean_square = _band_mean_squares(chunk, plan, dev)[: rows.shape[0]].double().cpu().numpy()
        out[start : start + rows.shape[0]] = to_db(mean_square, ref, floor_db)

    starts = range(0, flat.shape[0], block)
    if dev != "cpu":
        for start in starts:
            one_block(start)
        return out.reshape(*lead, plan.n_frames, len(plan.bands))
    threads = torch.get_num_threads()
    pool_size = max(1, min(workers or threads, len(starts)))
    torch.set_num_threads(1)
    try:
        with ThreadPoolExecutor(pool_size) as pool:
            list(pool.map(one_block, starts))
    finally:
        torch.set_num_threads(threads)
    return out.reshape(*lead, plan.n_frames, len(plan.bands))
