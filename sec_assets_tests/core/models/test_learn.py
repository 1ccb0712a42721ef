"""Candidates: registry and configs, deterministic training of every feature set × head, the model
file, class weighting and selection on validation."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from sec_assets.core.models.candidates import DEFAULT_CANDIDATES, Candidate
from sec_assets.core.models.data import SegmentData
from sec_assets.core.models.feature_sets import FEATURE_SETS
from sec_assets.core.models.heads import HEADS
from sec_assets.core.models.learn import TrainedModel, train_candidate
from sec_assets.core.models.selection import select


def synthetic(n_per_class: int = 40, classes: int = 3, frames: int = 20, bands: int = 11, seed: int = 0):
    """Classes that differ in which band carries an onset-like burst, and in the embedding."""
    rng = np.random.default_rng(seed)
    n = n_per_class * classes
    labels = np.repeat(np.arange(classes), n_per_class)
    levels = rng.normal(-60, 3, (n, frames, bands)).astype(np.float32)
    for i, c in enumerate(labels):
        levels[i, 5:9, 2 + 3 * c] += 30.0
    embedding = rng.normal(0, 1, (n, 1024)).astype(np.float32)
    for c in range(classes):  # a class direction across 32 dimensions
        embedding[labels == c, 32 * c : 32 * (c + 1)] += 2.0
    splits = np.array(["train", "es", "valid", "test"])[np.arange(n) % 4].tolist()
    return SegmentData(
        segment_keys=[f"c{c}:{i:05d}" for i, c in enumerate(labels)],
        source_sha256=[f"{i:064d}" for i in range(n)],
        splits=splits,
        labels=labels,
        classes=[f"c{c}" for c in range(classes)],
        embedding=embedding,
        levels=levels,
        center_hz=[1000.0 * 2**k for k in range(bands)],
    )


def test_the_registries_hold_the_documented_feature_sets_and_heads():
    assert sorted(FEATURE_SETS) == ["clap", "clap+octave_stats", "octave_cnn", "octave_stats"]
    assert sorted(HEADS) == ["linear", "mlp"]
    candidates = [Candidate.model_validate(c) for c in DEFAULT_CANDIDATES]
    assert [c.id.split("-")[0] for c in candidates] == [
        "clap/linear",
        "octave_stats/mlp",
        "clap+octave_stats/mlp",
        "octave_cnn/linear",
    ]
    assert len({c.id for c in candidates}) == 4
    custom = Candidate.model_validate(
        {"features": {"name": "octave_stats", "percentiles": [5, 95]}, "head": "mlp"}
    )
    assert custom.features.percentiles == (5.0, 95.0) and custom.id != candidates[1].id
    with pytest.raises(ValueError, match="unknown feature set 'mfcc'; the feature sets are"):
        Candidate.model_validate({"features": "mfcc", "head": "linear"})
    with pytest.raises(ValueError, match="unknown head 'svm'"):
        Candidate.model_validate({"features": "clap", "head": "svm"})


@pytest.mark.parametrize("spec", DEFAULT_CANDIDATES, ids=lambda c: f"{c['features']}-{c['head']}")
def test_every_default_candidate_learns_and_is_deterministic(spec):
    data = synthetic()
    candidate = Candidate.model_validate(spec)
    train, es, valid = (data.subset(data.mask(s)) for s in ("train", "es", "valid"))
    model = train_candidate(candidate, train, es, seed=0)
    again = train_candidate(candidate, train, es, seed=0)
    assert model.to_bytes() == again.to_bytes()  # byte-identical weights and metadata
    accuracy = float((model.probabilities(valid).argmax(axis=1) == valid.labels).mean())
    assert accuracy >= 0.85, (candidate.id, accuracy)  # chance: 0.33
    restored = TrainedModel.from_bytes(model.to_bytes())
    assert restored.candidate == candidate and restored.classes == data.classes
    assert np.array_equal(restored.probabilities(valid), model.probabilities(valid))
    other = train_candidate(candidate, train, es, seed=1)
    assert other.to_bytes() != model.to_bytes()


CHILD = """
import sys, torch
torch.set_num_threads(int(sys.argv[1]))
from sec_assets_tests.core.models.test_learn import synthetic
from sec_assets.core.models.candidates import DEFAULT_CANDIDATES, Candidate
from sec_assets.core.models.learn import train_candidate
d = synthetic()
cnn = Candidate.model_validate(DEFAULT_CANDIDATES[3])
m = train_candidate(cnn, d.subset(d.mask("train")), d.subset(d.mask("es")), 0)
sys.stdout.buffer.write(m.to_bytes())
"""


def test_training_is_byte_identical_in_another_process():
    import torch

    data = synthetic()
    candidate = Candidate.model_validate(DEFAULT_CANDIDATES[3])  # the CNN: mini-batches, convolutions
    here = train_candidate(candidate, data.subset(data.mask("train")), data.subset(data.mask("es")), 0)
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(torch.get_num_threads())], check=True, capture_output=True
    )
    assert child.stdout == here.to_bytes()


def _overlapping(counts: tuple[int, int], split: str, seed: int) -> SegmentData:
    """Two classes whose band-0 level differs by one standard deviation (they overlap)."""
    rng = np.random.default_rng(seed)
    labels = np.repeat([0, 1], counts)
    levels = rng.normal(-60, 3, (len(labels), 4, 2)).astype(np.float32)
    levels[:, :, 0] += 3.0 * labels[:, None] + rng.normal(0, 3, (len(labels), 1)).astype(np.float32)
    n = len(labels)
    return SegmentData(
        segment_keys=[f"{i:05d}" for i in range(n)],
        source_sha256=[f"{i:064d}" for i in range(n)],
        splits=[split] * n,
        labels=labels,
        classes=["common", "rare"],
        embedding=np.zeros((n, 1024), dtype=np.float32),
        levels=levels,
        center_hz=[500.0, 1000.0],
    )


def test_class_weighting_lifts_the_rare_class():
    train, valid = _overlapping((400, 20), "train", 0), _overlapping((300, 300), "valid", 1)
    no_es = train.subset(np.zeros(len(train), dtype=bool))
    recall = {}
    for weighting in (True, False):
        spec = {"features": "octave_stats", "head": "linear", "fit": {"class_weighting": weighting}}
        model = train_candidate(Candidate.model_validate(spec), train, no_es, 0)
        pred = model.probabilities(valid).argmax(axis=1)
        recall[weighting] = float((pred[valid.labels == 1] == 1).mean())
    assert recall[True] > 0.5 > recall[False], recall  # unweighted, the rare class is mostly missed


def test_selection_uses_validation_macro_f1_and_keeps_config_order_on_ties():
    y = np.array([0, 0, 1, 1, 2, 2])
    perfect = np.eye(3)[y]
    half = np.eye(3)[[0, 1, 1, 1, 2, 0]]
    chosen, table = select({"a": half, "b": perfect, "c": perfect}, y)
    assert chosen == "b" and [r["candidate"] for r in table] == ["a", "b", "c"]
    assert table[1]["valid_macro_f1"] == 1.0 and table[0]["valid_macro_f1"] < 1.0


def test_selection_without_validation_segments_keeps_the_first_candidate():
    """A tiny class set can leave valid empty (found by a campaign on 2 files per class):
    every candidate scores 0 and the config order decides, no scikit-learn error."""
    empty = np.zeros((0, 3))
    chosen, table = select({"a": empty, "b": empty}, np.zeros(0, dtype=int))
    assert chosen == "a"
    assert [(r["valid_macro_f1"], r["valid_accuracy"], r["valid_n"]) for r in table] == [(0.0, 0.0, 0)] * 2


@pytest.mark.parametrize("spec", DEFAULT_CANDIDATES, ids=lambda s: str(s["features"]))
def test_a_rows_probabilities_do_not_depend_on_the_rows_scored_with_it(spec):
    """The report scores a whole test set, inference one recording's windows: same bits."""
    cand = Candidate.model_validate({**spec, "fit": {**spec.get("fit", {}), "epochs": 3}})
    data = synthetic(n_per_class=50)  # 150 rows: three blocks of 64, the last one padded
    model = train_candidate(cand, data, data, seed=0)
    everything = model.probabilities(data)
    order = np.random.default_rng(1).permutation(len(data))
    shuffled = model.probabilities(data.subset(np.isin(np.arange(len(data)), order[:70])))
    assert np.array_equal(shuffled, everything[np.sort(order[:70])])
    for i in (0, 63, 64, 149):
        assert np.array_equal(model.probabilities(data.subset(np.arange(len(data)) == i))[0], everything[i])
