"""The CNN earns its place where time order matters, and a candidate that learned nothing is
reported as at chance (core/evaluation/chance.py)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from sec_assets.core.evaluation.chance import chance_check, macro_f1, uniform_guess_macro_f1
from sec_assets.core.models.candidates import DEFAULT_CANDIDATES, Candidate
from sec_assets.core.models.learn import train_candidate
from sec_assets.testing.time_order import ORDERS, time_order_data

CNN = next(c for c in DEFAULT_CANDIDATES if c["features"] == "octave_cnn")
STATS = next(c for c in DEFAULT_CANDIDATES if c["features"] == "octave_stats")


@pytest.fixture(scope="module")
def time_order():
    data = time_order_data()
    return tuple(data.subset(data.mask(s)) for s in ("train", "es", "valid"))


def _valid_macro_f1(spec, train, es, valid) -> tuple[float, np.ndarray]:
    model = train_candidate(Candidate.model_validate(spec), train, es, seed=0)
    predicted = model.probabilities(valid).argmax(axis=1)
    return macro_f1(valid.labels, predicted), predicted


def test_band_statistics_are_the_same_in_every_time_order_class():
    data = time_order_data(n_per_class=200)
    per_class = [data.levels[data.labels == c].max(axis=1).mean(axis=0) for c in range(len(ORDERS))]
    assert np.ptp(np.stack(per_class), axis=0).max() < 1.5  # dB: each band is lit equally long


def test_the_cnn_learns_time_order_that_band_statistics_cannot_see(time_order):
    train, es, valid = time_order
    assert (len(train), len(es), len(valid)) == (96, 48, 48)
    cnn, cnn_predicted = _valid_macro_f1(CNN, train, es, valid)
    stats, stats_predicted = _valid_macro_f1(STATS, train, es, valid)
    assert cnn >= 0.95, cnn  # chance: 0.25 (four balanced classes)
    assert stats <= 0.45, stats  # the band statistics are the same in every class
    groups = valid.source_sha256
    assert chance_check(valid.labels, cnn_predicted, groups, seed=0).above_chance is True
    assert chance_check(valid.labels, stats_predicted, groups, seed=0).above_chance is False


def test_the_chance_check_flags_a_model_trained_on_shuffled_labels(time_order):
    """Train and es labels shuffled (the model never sees a true label): at chance on valid."""
    train, es, valid = time_order
    rng = np.random.default_rng(0)
    train, es = (replace(part, labels=rng.permutation(part.labels)) for part in (train, es))
    f1, predicted = _valid_macro_f1(CNN, train, es, valid)
    check = chance_check(valid.labels, predicted, valid.source_sha256, seed=0)
    assert check.above_chance is False and check.macro_f1 == pytest.approx(f1)
    line = check.warning("octave_cnn/linear")
    assert line is not None and line.startswith("⚠ octave_cnn/linear: validation macro-F1")
    assert "not clearly above chance (uniform guess 0.250" in line and "on these 48 files" in line


def test_chance_yardsticks_are_the_uniform_guess_and_the_permutation_null():
    labels = np.repeat(np.arange(4), 10)
    assert uniform_guess_macro_f1(labels) == pytest.approx(0.25)
    imbalanced = np.array([0] * 30 + [1] * 10)  # shares 0.75 and 0.25: 2p / (1 + 2p)
    assert uniform_guess_macro_f1(imbalanced) == pytest.approx((1.5 / 2.5 + 0.5 / 1.5) / 2)
    groups = [f"file{i}" for i in range(len(labels))]
    perfect = chance_check(labels, labels, groups, seed=0)
    assert perfect.macro_f1 == 1.0 and perfect.chance == pytest.approx(0.25)
    assert 0.25 < perfect.null_p95 < 0.5 and perfect.above_chance is True and perfect.warning("x") is None
    constant = chance_check(labels, np.zeros_like(labels), groups, seed=0)
    assert constant.macro_f1 == pytest.approx(0.1) and constant.above_chance is False
    assert chance_check(labels, labels, groups, seed=0) == perfect  # seeded: the same verdict
    empty = chance_check(np.zeros(0, dtype=int), np.zeros(0, dtype=int), [], seed=0)
    assert empty.above_chance is None and empty.warning("x") is None


def test_a_few_files_need_more_than_one_over_k_to_count_as_learning():
    """Eight files of four classes, two segments each: 0.44 beats 1/K but not luck on 8 files."""
    labels = np.repeat(np.arange(4), 4)
    groups = [f"file{i // 2}" for i in range(16)]
    predicted = labels.copy()
    predicted[[2, 3, 6, 7, 10, 11]] = [1, 1, 2, 2, 3, 3]  # half the files of three classes wrong
    check = chance_check(labels, predicted, groups, seed=0)
    assert check.macro_f1 > check.chance == pytest.approx(0.25)
    assert check.n_files == 8 and check.above_chance is (check.macro_f1 > check.null_p95)


def test_macro_f1_matches_scikit_learn():
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(3)
    for _ in range(20):
        y, p = rng.integers(0, 5, 37), rng.integers(0, 6, 37)
        assert macro_f1(y, p) == pytest.approx(f1_score(y, p, average="macro", zero_division=0))
