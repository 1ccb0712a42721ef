"""The champion gate's decision and the paired bootstrap it rests on (pure, no MLflow)."""

import numpy as np
import pytest

from sec_assets.core.evaluation.bootstrap import paired_difference
from sec_assets.core.tracking.gate import CHALLENGER, CHAMPION, Champion, Thresholds, decide

DEFAULT = Thresholds(min_test_map=0.5, min_test_macro_f1=0.5, tolerance=0.0)


def _data(n_files=30, per_file=3, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(n_files) % classes, per_file)
    groups = [f"f{i}" for i in range(n_files) for _ in range(per_file)]
    good = np.full((len(labels), classes), 0.05)
    good[np.arange(len(labels)), labels] = 0.9
    noise = rng.random((len(labels), classes))
    bad = noise / noise.sum(axis=1, keepdims=True)
    return labels, groups, good, bad


def test_paired_difference_of_a_model_with_itself_is_exactly_zero():
    y, groups, good, _ = _data()
    diff = paired_difference(y, good, good, groups, 100, seed=0)
    assert diff["macro_f1"] == (0.0, 0.0, 0.0) and diff["macro_map"] == (0.0, 0.0, 0.0)


def test_paired_difference_is_deterministic_and_signed():
    y, groups, good, bad = _data()
    better = paired_difference(y, good, bad, groups, 200, seed=1)
    assert better == paired_difference(y, good, bad, groups, 200, seed=1)
    observed, low, high = better["macro_f1"]
    assert 0.4 < low <= observed <= high <= 1.0  # a perfect model against noise
    worse = paired_difference(y, bad, good, groups, 200, seed=1)
    assert worse["macro_f1"][2] < 0
    assert paired_difference(y, good, bad, groups, 200, seed=2) != better  # another seed, other draws


def test_the_thresholds_come_first_and_name_the_setting():
    d = decide({"macro_f1": 0.8, "macro_map": 0.42}, DEFAULT, None)
    assert d.alias == CHALLENGER and not d.promoted
    assert d.reason == "below the thresholds: test mAP 0.420 < 0.5 (gate_min_test_map)"
    d = decide({"macro_f1": 0.3, "macro_map": 0.3}, DEFAULT, Champion("2", True, {}))
    assert "test macro-F1 0.300 < 0.5 (gate_min_test_macro_f1); test mAP 0.300 < 0.5" in d.reason


def test_first_version_and_a_different_test_set_compare_on_thresholds_only():
    figures = {"macro_f1": 0.7, "macro_map": 0.8}
    first = decide(figures, DEFAULT, None)
    assert first.alias == CHAMPION and first.reason.endswith("; no champion yet")
    other = decide(figures, DEFAULT, Champion("5", False, {}))
    assert other.promoted
    assert "champion v5 was evaluated on a different test set" in other.reason
    assert "against the thresholds only" in other.reason


@pytest.mark.parametrize(
    ("f1", "ap", "alias", "text"),
    [
        ((0.05, -0.02, 0.11), (0.0, -0.01, 0.02), CHAMPION, "not worse vs champion v3"),
        ((-0.20, -0.31, -0.08), (0.0, -0.01, 0.02), CHALLENGER, "the interval of Δ macro-F1 lies below -0"),
        ((-0.20, -0.31, -0.08), (-0.1, -0.2, -0.01), CHALLENGER, "Δ macro-F1 and Δ mAP lies below"),
    ],
)
def test_same_test_set_uses_the_paired_interval(f1, ap, alias, text):
    d = decide(
        {"macro_f1": 0.7, "macro_map": 0.8}, DEFAULT, Champion("3", True, {"macro_f1": f1, "macro_map": ap})
    )
    assert d.alias == alias and text in d.reason
    assert f"Δ macro-F1 {f1[0]:+.3f} [{f1[1]:+.3f}, {f1[2]:+.3f}]" in d.reason


def test_tolerance_lets_a_slightly_worse_model_through():
    champion = Champion("3", True, {"macro_f1": (-0.03, -0.05, -0.01), "macro_map": (0.0, 0.0, 0.0)})
    figures = {"macro_f1": 0.7, "macro_map": 0.8}
    assert decide(figures, DEFAULT, champion).alias == CHALLENGER
    assert decide(figures, Thresholds(0.5, 0.5, tolerance=0.02), champion).alias == CHAMPION
