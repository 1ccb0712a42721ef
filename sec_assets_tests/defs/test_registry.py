"""MLflow tracking, the registry and the champion gate through the assets — against the default
SQLite store and a real ``mlflow server`` over HTTP (scripts/local_mlflow.sh)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from dagster import DagsterInstance, materialize
from mlflow.tracking import MlflowClient

from sec_assets.defs import ALL_ASSETS
from sec_assets.local_run import run_everything
from sec_assets.resources import SecResource

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
NAME = "sec-classifier-oct3"
GOOD = [{"features": "octave_stats", "head": "mlp"}]
# one epoch at a negligible learning rate: the random initial weights, far worse than GOOD
BAD = [{"features": "octave_stats", "head": "linear", "fit": {"epochs": 1, "learning_rate": 1e-7}}]
ANY_FIGURES = {"gate_min_test_map": 0.0, "gate_min_test_macro_f1": 0.0}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    state = tmp_path_factory.mktemp("mlflow-server")
    env = {
        **os.environ,
        "SEC_MLFLOW_PORT": str(_free_port()),
        "SEC_MLFLOW_BIN": str(Path(sys.executable).parent),
    }
    script = str(REPO / "scripts" / "local_mlflow.sh")
    subprocess.run(["bash", script, "up", str(state)], env=env, check=True, timeout=120)
    uri = subprocess.run(["bash", script, "env", str(state)], env=env, capture_output=True, text=True)
    yield uri.stdout.strip().split("=", 1)[1]
    subprocess.run(["bash", script, "down", str(state)], env=env, check=False, timeout=60)


def _train_and_evaluate(settings):
    with DagsterInstance.get() as instance:
        result = materialize(
            ALL_ASSETS,
            selection=["trained_classifier", "evaluation_report"],
            partition_key="3",
            resources={"sec": SecResource.from_settings(settings)},
            instance=instance,
        )
    assert result.success
    train = result.asset_materializations_for_node("trained_classifier")[0].metadata
    report = result.asset_materializations_for_node("evaluation_report")[0].metadata
    return {k: v.value for k, v in train.items()}, {k: v.value for k, v in report.items()}


def _history(client: MlflowClient, run_id: str, metric: str) -> list[tuple[int, float]]:
    return [(m.step, m.value) for m in client.get_metric_history(run_id, metric)]


@pytest.mark.parametrize("store", ["sqlite", "server"])
def test_champion_moves_only_when_the_gate_passes(store, request, demo_dataset, make_settings, dagster_home):
    root, _ = demo_dataset
    uri = request.getfixturevalue("mlflow_server") if store == "server" else None
    settings = make_settings(root, octaves=(3,), candidates=BAD, mlflow_tracking_uri=uri, **ANY_FIGURES)
    assert settings.tracking_uri == (uri or f"sqlite:///{settings.home}/mlflow/mlflow.db")
    run_everything(settings, log=False)
    client = MlflowClient(settings.tracking_uri, registry_uri=settings.tracking_uri)  # not the global one
    v1 = client.get_model_version_by_alias(NAME, "champion")
    assert str(v1.version) == "1" and v1.tags["sec.gate"].endswith("no champion yet")
    bad_f1 = float(v1.tags["test_macro_f1"])

    # a better model on the same test set takes the alias
    good = make_settings(root, octaves=(3,), candidates=GOOD, mlflow_tracking_uri=uri)
    train, report = _train_and_evaluate(good)
    assert report["alias"] == "champion" and report["registered_version"] == "2"
    assert "not worse vs champion v1 on the same test set" in report["gate"]
    assert report["test_macro_f1"] > bad_f1 + 0.3 and report["test_mAP"] >= 0.5
    assert report["mlflow_run_id"] == train["mlflow_run_id"]  # the parent run of the training
    if store == "server":
        assert report["mlflow_run"].startswith(f"{uri}/#/experiments/")
    champion = client.get_model_version_by_alias(NAME, "champion")
    assert str(champion.version) == "2" and champion.tags["sec.candidate"] == train["selected"]

    # a fresh process loads the champion by alias and reproduces the report's test predictions
    check = subprocess.run(
        [sys.executable, "-m", "sec_assets_tests.defs.predict_champion", settings.tracking_uri, NAME],
        env={**os.environ, "SEC_HOME": str(settings.home)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert check.returncode == 0, check.stderr[-3000:]
    assert json.loads(check.stdout.strip().splitlines()[-1]) == {
        "segments": report["test_examples"],
        "equal": True,
    }

    # nothing changed: byte-identical weights and the same MLflow metrics, and the gate keeps it
    train_again, report_again = _train_and_evaluate(good)
    assert train_again["model_sha256"] == train["model_sha256"]
    runs = {
        r.info.run_id: r
        for r in client.search_runs(
            [client.get_experiment_by_name("sec_assets").experiment_id], "tags.`sec.selected` = 'true'"
        )
    }
    first, second = (
        next(r for r in runs.values() if r.data.tags["mlflow.parentRunId"] == t["mlflow_run_id"])
        for t in (train, train_again)
    )
    for metric in ("train_loss", "es_loss", "valid_macro_f1", "test_macro_f1", "test_mean_average_precision"):
        assert _history(client, first.info.run_id, metric) == _history(client, second.info.run_id, metric)
    assert len(_history(client, first.info.run_id, "train_loss")) == first.data.metrics["epochs"]
    assert first.data.params == {**second.data.params, "dagster_run_id": first.data.params["dagster_run_id"]}
    assert (
        report_again["alias"] == "champion" and "Δ macro-F1 +0.000 [+0.000, +0.000]" in report_again["gate"]
    )

    # a worse model on the same test set gets `challenger` and the reason; the champion stays
    bad = make_settings(root, octaves=(3,), candidates=BAD, mlflow_tracking_uri=uri, **ANY_FIGURES)
    _, report_bad = _train_and_evaluate(bad)
    assert report_bad["alias"] == "challenger" and report_bad["registered_version"] == "4"
    assert report_bad["gate"].startswith("worse than champion v3: the interval of Δ macro-F1")
    assert str(client.get_model_version_by_alias(NAME, "champion").version) == "3"
    challenger = client.get_model_version_by_alias(NAME, "challenger")
    assert str(challenger.version) == "4" and challenger.tags["sec.gate"] == report_bad["gate"]

    # the default thresholds turn the bad model away on its own figures
    _, report_low = _train_and_evaluate(
        make_settings(root, octaves=(3,), candidates=BAD, mlflow_tracking_uri=uri)
    )
    assert report_low["alias"] == "challenger"
    assert report_low["gate"].startswith("below the thresholds: test macro-F1")
    assert "(gate_min_test_macro_f1)" in report_low["gate"]
    # the report's files are artifacts of the training's parent run
    artifacts = {a.path for a in client.list_artifacts(train_again["mlflow_run_id"], "report")}
    assert {"report/report.md", "report/report.json", "report/confusion_test.png"} <= artifacts
    models = pl.read_parquet(settings.home / "reports" / "octave=3" / "test_predictions.parquet")
    assert models.height == report_low["test_examples"]
    np.testing.assert_allclose(models["probabilities"].list.sum().to_numpy(), 1.0)
