"""n-octave band levels: the band grid, agreement with the reference, silence at the floor."""

import numpy as np

from sec_assets.core.features import octave


def test_band_grid_matches_formula():
    bands = octave.band_grid(3, 44100)
    k = np.arange(-17, -17 + bands.center.size)
    np.testing.assert_allclose(bands.center, 1000 * 2 ** (k / 3))
    np.testing.assert_allclose(bands.lower, bands.center * 2 ** (-1 / 6))
    assert bands.center[-1] < 0.98 * 22050 and np.all(bands.upper < 22050)
    # band counts of the predecessor at 52.1 kHz
    assert [len(octave.band_grid(n, 52100)) for n in (1, 3, 12, 24)] == [11, 32, 125, 248]


def test_fast_levels_match_reference_on_a_band_centre_tone():
    sr = 44100
    t = np.arange(sr) / sr
    x = 0.1 * np.sin(2 * np.pi * 1000 * t)
    ref = octave.reference_levels(x, sr, 3)
    fast = octave.fast_levels(x, sr, 3)
    centre = int(np.argmin(np.abs(octave.band_grid(3, sr).center - 1000)))
    expected = 20 * np.log10(0.1 / np.sqrt(2) / octave.P_REF)
    assert abs(fast[2:, centre].mean() - expected) < 0.1
    assert abs(ref[2:, centre].mean() - fast[2:, centre].mean()) < 0.5


def test_silence_gives_the_floor_not_nan():
    levels = octave.fast_levels(np.zeros(44100), 44100, 12, floor_db=-100.0)
    assert np.all(np.isfinite(levels))
    np.testing.assert_allclose(levels, -100.0)  # the documented floor, in dB re the reference
