"""The population stability index: its value on hand-computed cases, the empty-bin epsilon, the
fixed confidence bins and the class union."""

import math

import numpy as np
import pytest

from sec_assets.core.monitoring.psi import (
    CONFIDENCE_BINS,
    EPSILON,
    class_psi,
    confidence_counts,
    confidence_psi,
    psi,
)


def test_psi_is_zero_for_the_same_shares_and_symmetric_kl_otherwise():
    assert psi([50, 50], [1, 1]) == 0.0  # counts or shares: only the shares count
    # 0.1·ln(0.6/0.5) + (−0.1)·ln(0.4/0.5)
    assert psi([0.6, 0.4], [0.5, 0.5]) == pytest.approx(0.0405465108, abs=1e-10)
    assert psi([0.6, 0.4], [0.5, 0.5]) == pytest.approx(psi([0.5, 0.5], [0.6, 0.4]))


def test_an_empty_bin_counts_as_epsilon():
    assert EPSILON == 1e-4
    # observed [1, 0] → shares [1, 1e-4]; expected [0.5, 0.5]
    expected = (1 - 0.5) * math.log(1 / 0.5) + (EPSILON - 0.5) * math.log(EPSILON / 0.5)
    assert psi([1, 0], [1, 1]) == pytest.approx(expected) == pytest.approx(4.6043184667)
    assert psi([3, 0, 1], [3, 0, 1]) == 0.0  # empty on both sides adds nothing


def test_empty_histograms_and_mismatched_bins():
    assert math.isnan(psi([0, 0], [1, 1])) and math.isnan(psi([1, 1], [0, 0]))
    with pytest.raises(ValueError, match="different bins"):
        psi([1, 2], [1, 2, 3])


def test_confidences_fall_in_ten_fixed_bins():
    assert CONFIDENCE_BINS.tolist() == pytest.approx([i / 10 for i in range(11)])
    counts = confidence_counts([0.0, 0.05, 0.1, 0.95, 1.0, 1.2, -0.1])
    assert counts.tolist() == [3, 1, 0, 0, 0, 0, 0, 0, 0, 3]  # clipped into [0, 1]; 1.0 in the last
    assert confidence_psi([0.35] * 4, [0.95] * 6 + [0.75] * 4) == pytest.approx(17.7450486865)
    assert confidence_psi(np.array([0.91, 0.99]), [0.95]) == 0.0  # same bin


def test_class_frequencies_are_compared_over_the_union_of_classes():
    # observed a 0.75, b 0, c 0.25; expected a 0.5, b 0.5, c 0
    assert class_psi({"a": 3, "c": 1}, {"a": 2, "b": 2}) == pytest.approx(6.3143402515)
    assert class_psi({"a": 6, "b": 4}, {"b": 2, "a": 3}) == pytest.approx(0.0)
