"""The local cluster the integration tests share (one per session): Slurm (scripts/local_slurm.sh:
4 nodes, fake GPUs as GRES, slurmdbd + MariaDB), Postgres as the Dagster instance, an MLflow
server on it; and helpers that read sacct and squeue."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@pytest.fixture(scope="session")
def slurm(tmp_path_factory):
    state = tmp_path_factory.mktemp("slurm")
    env = {**os.environ, "SEC_SLURM_PORT": os.environ.get("SEC_TEST_SLURM_PORT", "17800")}
    up = subprocess.run(
        ["bash", str(REPO / "scripts/local_slurm.sh"), "up", str(state)],
        env=env,
        capture_output=True,
        text=True,
    )
    assert up.returncode == 0, up.stderr[-3000:]
    yield state / "slurm.conf"
    subprocess.run(["bash", str(REPO / "scripts/local_slurm.sh"), "down", str(state)], env=env, check=False)


@pytest.fixture(scope="session")
def postgres():
    """The cluster profile's PostgreSQL (scripts/local_postgres.sh), one database per test."""
    # not under pytest's tmp dir: that is private to root, and the server runs as `postgres`
    state = Path(tempfile.mkdtemp(prefix="sec-pg-"))
    port = os.environ.get("SEC_TEST_PG_PORT", "15433")
    env = {**os.environ, "SEC_PG_PORT": port}
    up = subprocess.run(
        ["bash", str(REPO / "scripts/local_postgres.sh"), "up", str(state)],
        env=env,
        capture_output=True,
        text=True,
    )
    assert up.returncode == 0, up.stderr[-3000:]
    yield port
    subprocess.run(
        ["bash", str(REPO / "scripts/local_postgres.sh"), "down", str(state)], env=env, check=False
    )


@pytest.fixture(scope="session")
def mlflow_server(postgres):
    """The cluster's MLflow tracking server (scripts/local_mlflow.sh) on the Postgres above: the
    steps of every node log to it, never to a shared SQLite file."""
    state = Path(tempfile.mkdtemp(prefix="sec-mlflow-"))
    env = {
        **os.environ,
        "SEC_MLFLOW_PORT": os.environ.get("SEC_TEST_MLFLOW_PORT", "15501"),
        "SEC_MLFLOW_BIN": str(BIN),
        "SEC_MLFLOW_BACKEND": f"postgresql+psycopg2://dagster:dagster@127.0.0.1:{postgres}/mlflow",
    }
    script = str(REPO / "scripts/local_mlflow.sh")
    up = subprocess.run(["bash", script, "up", str(state)], env=env, capture_output=True, text=True)
    assert up.returncode == 0, up.stderr[-3000:]
    exports = subprocess.run(["bash", script, "env", str(state)], env=env, capture_output=True, text=True)
    yield exports.stdout.strip().removeprefix("export ").split("=", 1)[1]
    subprocess.run(["bash", script, "down", str(state)], env=env, check=False)


@pytest.fixture
def cluster_env(slurm, postgres, mlflow_server, tmp_path, model_store, monkeypatch):
    """Environment of a user on the cluster: SLURM_CONF, SEC_EXECUTOR=slurm, shared homes, and
    the Postgres cluster profile (dagster.cluster.yaml) as the Dagster instance."""
    dagster_home = tmp_path / "dagster"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text((REPO / "dagster.cluster.yaml").read_text())
    database = f"t_{uuid.uuid4().hex[:12]}"
    subprocess.run(
        [
            "psql",
            "-h",
            "127.0.0.1",
            "-p",
            postgres,
            "-U",
            "dagster",
            "-d",
            "dagster",
            "-q",
            "-c",
            f"CREATE DATABASE {database}",
        ],
        check=True,
    )
    pg = {
        "DAGSTER_PG_HOST": "127.0.0.1",
        "DAGSTER_PG_PORT": postgres,
        "DAGSTER_PG_USER": "dagster",
        "DAGSTER_PG_PASSWORD": "dagster",
        "DAGSTER_PG_DB": database,
    }
    for k, v in pg.items():
        monkeypatch.setenv(k, v)
    env = {
        **pg,
        **os.environ,
        "SLURM_CONF": str(slurm),
        "SEC_EXECUTOR": "slurm",
        "SEC_SUBMITIT_POLL_S": "1",
        "SEC_SUBMITIT_FOLDER": str(tmp_path / "submitit"),
        "SEC_SLURM_CPUS": "1",
        "SEC_SLURM_MEM_GB": "1",
        "SEC_HOME": str(tmp_path / "home"),
        "SEC_AUDIO_ROOT": str(tmp_path / "landing"),
        "SEC_MODELS": str(model_store),
        "SEC_ALLOW_RANDOM_INIT": "1",
        "SEC_MLFLOW_TRACKING_URI": mlflow_server,
        "SEC_MLFLOW_EXPERIMENT": f"cluster-{database}",
        "DAGSTER_HOME": str(dagster_home),
        "TOKENIZERS_PARALLELISM": "false",
        "HF_HUB_OFFLINE": "1",
    }
    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home))
    monkeypatch.setenv("SLURM_CONF", str(slurm))
    return env
