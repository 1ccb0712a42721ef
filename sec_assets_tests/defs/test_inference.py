"""Inference through the training code path: on the demo's own test files, windows cut with the
training segment settings get exactly the stored features, and the champion scores them exactly
as the evaluation report did."""

from pathlib import Path

import mlflow
import numpy as np
import polars as pl
import pytest
import torch

from sec_assets.cli import run_everything
from sec_assets.core.features import clap
from sec_assets.core.features.spectrogram import LevelParams
from sec_assets.core.inference.featurize import Featurizer
from sec_assets.core.inference.windows import WindowParams, recording_windows
from sec_assets.core.models.data import load_segment_data
from sec_assets.core.store import catalog
from sec_assets.core.tracking.registry import load_alias, score
from sec_assets.core.tracking.store import tracking

pytestmark = pytest.mark.slow


def test_inference_on_test_files_reproduces_the_evaluation_exactly(demo_dataset, make_settings, dagster_home):
    root, _ = demo_dataset
    settings = make_settings(root, octaves=(3,))
    run_everything(settings, log=False)
    home = settings.home
    files = catalog.query(
        home,
        "SELECT a.path, a.sha256, a.partition_key FROM audio_files a JOIN splits s "
        "ON s.source_sha256 = a.sha256 AND s.partition_key = a.partition_key "
        "WHERE s.split = 'test' AND a.status = 'ok' ORDER BY a.path",
    )
    assert files.height >= 5
    expected = pl.read_parquet(home / "reports" / "octave=3" / "test_predictions.parquet")
    classes = sorted(set(expected["label"]))
    stored = load_segment_data(home, 3, classes, ("test",))
    training = settings.segment_params()
    window = WindowParams(settings.segment_seconds, settings.hop_seconds, settings.min_segment_seconds)
    torch.set_num_threads(2)  # as the step ran here
    model_files = clap.resolve_model_files(settings.model_store, allow_random_init=True)
    featurizer = Featurizer(
        clap.load_clap(model_files, device="cpu"),
        [LevelParams(n=3, sample_rate=training.sample_rate, frame_seconds=settings.frame_seconds)],
    )
    with tracking(settings.tracking_uri):
        champion, version = load_alias("sec-classifier-oct3", "champion")
    got: dict[tuple[str, int], np.ndarray] = {}
    features: dict[tuple[str, int], tuple[np.ndarray, np.ndarray]] = {}
    for path, sha in files.select("path", "sha256").iter_rows():
        for rows in recording_windows(
            Path(path), sha, window.segment_params(training), settings.file_policy().samples
        ):
            data, failures = featurizer.features(rows)
            assert failures == []
            proba, columns = score(champion, data[3])
            assert columns == classes
            np.testing.assert_allclose(proba.sum(axis=1), 1.0)
            for i, key in enumerate(data[3].segment_keys):
                _, sha20, _, index = key.split(":")
                got[(sha20, int(index))] = proba[i]
                features[(sha20, int(index))] = (data[3].embedding[i], data[3].levels[i])
    assert version == "1"
    stored_at = {(k.split(":")[1], int(k.split(":")[3])): i for i, k in enumerate(stored.segment_keys)}
    assert set(got) == set(stored_at)  # the same windows as the stored test segments
    for key, i in stored_at.items():
        assert np.array_equal(features[key][0], stored.embedding[i]), key  # same CLAP vector, bit for bit
        assert np.array_equal(features[key][1], stored.levels[i]), key  # same band levels
    for key, probabilities in zip(expected["segment_key"], expected["probabilities"], strict=True):
        _, sha20, _, index = key.split(":")
        assert np.array_equal(got[(sha20, int(index))], np.asarray(probabilities)), key
    assert mlflow.get_registry_uri()  # (the champion was read through the registry)
