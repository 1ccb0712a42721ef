"""n-octave bank: grid, Nyquist handling, fast-vs-reference parity, slopes, silence."""

import numpy as np
import pytest

from sec_assets.core.features import octave
from sec_assets.testing.signals import pink_noise, tone, white_noise

SR = 44100
N = 7 * SR


def _resolvable(bands: octave.Bands, frame_seconds: float = 0.1) -> np.ndarray:
    return (bands.upper - bands.lower) * frame_seconds >= 1


def _leq(levels: np.ndarray) -> np.ndarray:
    return 10 * np.log10(np.mean(10 ** (levels.astype(np.float64) / 10), axis=-2))


def test_grid_formula_at_n3_and_base10():
    bands = octave.band_grid(3, SR)
    k = np.arange(round(3 * np.log2(20 / 1000)), round(3 * np.log2(20 / 1000)) + len(bands))
    np.testing.assert_allclose(bands.center, 1000 * 2 ** (k / 3))
    np.testing.assert_allclose(bands.lower, bands.center * 2 ** (-1 / 6))
    np.testing.assert_allclose(bands.upper[:-1], bands.center[:-1] * 2 ** (1 / 6))
    assert 1000.0 in bands.center
    iec = octave.band_grid(3, SR, base=10)
    assert np.isclose(iec.center, 1000).any() and np.isclose(iec.center, 10**0.1 * 1000, rtol=1e-9).any()
    # even n in base 10: centres sit half a step off 1 kHz (IEC 61260-1)
    iec6 = octave.band_grid(6, SR, base=10)
    assert not np.isclose(iec6.center, 1000).any()
    np.testing.assert_allclose(iec6.upper[:-1] / iec6.lower[:-1], 10 ** (0.3 / 6))
    with pytest.raises(ValueError):
        octave.band_grid(0, SR)


@pytest.mark.parametrize("rate", [8000, 16000, 44100, 48000])
def test_nyquist_handling(rate: int):
    nyquist = rate / 2
    for n in (1, 3, 12):
        bands = octave.band_grid(n, rate)
        assert bands.center[-1] < 0.98 * nyquist and np.all(bands.upper < nyquist)
        assert np.all(bands.lower < bands.upper)
    x = white_noise(2 * rate, np.random.default_rng(0))
    fast = octave.fast_levels(x, rate, 3)
    ref = octave.reference_levels(x, rate, 3)
    assert fast.shape == ref.shape == (20, len(octave.band_grid(3, rate)))
    ok = _resolvable(octave.band_grid(3, rate))
    assert np.all(np.isfinite(fast))
    assert np.max(np.abs(_leq(fast) - _leq(ref))[ok]) < 0.5


@pytest.mark.parametrize("n", [1, 3, 12, 24])
def test_fast_matches_reference_frame_by_frame_on_tones(n: int):
    bands = octave.band_grid(n, SR)
    ok = _resolvable(bands)
    bw_t = (bands.upper - bands.lower) * 0.1
    settle = np.maximum(1, np.ceil(5.7 / bw_t)).astype(int)
    centres = bands.center[ok][:: max(1, len(bands.center[ok]) // 5)]
    for fc in centres:
        x = tone(fc, N, SR, amplitude=0.1)
        fast, ref = octave.fast_levels(x, SR, n), octave.reference_levels(x, SR, n)
        steady = np.arange(ref.shape[0])[:, None] >= settle[None, :]
        loud = ref >= ref.max(axis=1, keepdims=True) - 50
        mask = steady & loud & ok[None]
        assert np.max(np.abs(fast - ref)[mask]) < 0.5, fc
        b = int(np.argmin(np.abs(bands.center - fc)))
        expected = 20 * np.log10(0.1 / np.sqrt(2) / octave.P_REF)
        assert abs(np.median(fast[:, b]) - expected) < 0.2  # the tone's own band reads its level


@pytest.mark.parametrize("kind,slope", [("white", 10 * np.log10(2)), ("pink", 0.0)])
def test_noise_levels_agree_and_follow_the_slope(kind: str, slope: float):
    rng = np.random.default_rng(7)
    x = white_noise(N, rng) if kind == "white" else pink_noise(N, rng)
    for n in (3, 12):
        bands = octave.band_grid(n, SR)
        ok = _resolvable(bands) & (bands.upper < 0.9 * SR / 2)
        fast, ref = _leq(octave.fast_levels(x, SR, n)), _leq(octave.reference_levels(x, SR, n))
        assert np.max(np.abs(fast - ref)[ok]) < 0.5
        # level per band vs octaves above 1 kHz: +3.01 dB/octave for white, 0 for pink
        fitted = np.polyfit(np.log2(bands.center[ok] / 1000), fast[ok], 1)[0]
        assert abs(fitted - slope) < 0.3, (n, fitted)


def test_silence_reads_the_floor_in_both_paths():
    for n in (1, 24):
        for levels in (octave.fast_levels(np.zeros(SR), SR, n), octave.reference_levels(np.zeros(SR), SR, n)):
            assert np.all(np.isfinite(levels))
            np.testing.assert_array_equal(levels, np.float32(-100.0))
    dbfs = octave.fast_levels(tone(1000, SR, SR, amplitude=1.0), SR, 3, ref=octave.DBFS_REF)
    b = int(np.argmin(np.abs(octave.band_grid(3, SR).center - 1000)))
    assert abs(np.median(dbfs[:, b])) < 0.1  # a full-scale sine is 0 dBFS (AES17)


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="shorter than one frame"):
        octave.fast_levels(np.zeros(100), SR, 3)
    with pytest.raises(ValueError, match="NaN"):
        octave.fast_levels(np.full(SR, np.nan), SR, 3)


def test_batching_does_not_change_values():
    x = np.stack([white_noise(N, np.random.default_rng(i)) for i in range(5)])
    together = octave.fast_levels(x, SR, 12, batch_size=5)
    apart = np.stack([octave.fast_levels(c, SR, 12, batch_size=1) for c in x])
    np.testing.assert_array_equal(together, apart)


def test_the_band_grid_is_computed_once_per_octave_and_shared_read_only():
    from sec_assets.core.features.spectrogram import LevelParams

    octave.band_grid.cache_clear()
    params = LevelParams(n=3, sample_rate=32000)
    grid = params.bands
    plan = octave.filterbank_plan(3, 32000, 32000 * 2, params.frame_seconds, params.base)
    assert params.bands is grid and plan.bands is grid  # one object along the whole path
    assert octave.band_grid.cache_info().misses == 1
    assert not grid.center.flags.writeable
    assert len(grid) == 29 and round(float(grid.center[0]), 2) == 19.69
