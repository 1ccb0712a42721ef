"""The submitit executor: resource requests, job names, the mode check, local mode end to end."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sec_assets.executor import job_name, step_requests
from sec_assets_tests.executor.helpers import make_config

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def test_requests_come_from_defaults_then_asset_tag_then_run_tags():
    config = make_config(cpus=2, mem_gb=4.0, time_min=60)
    assert step_requests(config, {}, {}) == {
        "gpus": 0,
        "cpus": 2,
        "mem_gb": 4.0,
        "partition": "cpu",
        "time_min": 60,
    }
    gpu = step_requests(config, {"sec/resources": json.dumps({"gpus": 1, "cpus": 8})}, {})
    assert (
        gpu["partition"] == "gpu" and gpu["gpus"] == 1 and gpu["cpus"] == 8
    )  # GPU steps go to the GPU partition
    run = step_requests(
        config,
        {"sec/resources": json.dumps({"gpus": 1})},
        {"sec/slurm/time_min": "240", "sec/slurm/partition": "a100", "sec/slurm/mem_gb": "32"},
    )
    assert (run["time_min"], run["partition"], run["mem_gb"], run["gpus"]) == (240, "a100", 32.0, 1)


def test_job_names_are_deterministic_and_safe():
    run_id = "0757e8af-8453-4d32-9e4d-2f2b16f25150"
    assert job_name(run_id, "clap_embeddings", 0) == "sec-0757e8af-clap_embeddings-a0"
    assert job_name(run_id, "clap_embeddings", 1) == "sec-0757e8af-clap_embeddings-a1"
    assert job_name(run_id, "weird[step]/x", 2) == "sec-0757e8af-weird_step__x-a2"


def test_unknown_executor_mode_is_refused():
    env = {**os.environ, "SEC_EXECUTOR": "pbs"}
    done = subprocess.run(
        [sys.executable, "-c", "import sec_assets.definitions"],
        env=env,
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert done.returncode != 0 and "SEC_EXECUTOR must be one of" in done.stderr


@pytest.mark.slow
def test_local_mode_runs_each_step_as_a_submitit_job(tmp_path, demo_dataset, model_store):
    """``SEC_EXECUTOR=local``: the same executor without Slurm (submitit's local processes)."""
    root, _ = demo_dataset
    dagster_home = tmp_path / "dagster"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {
        **os.environ,
        "SEC_EXECUTOR": "local",
        "SEC_SUBMITIT_POLL_S": "1",
        "SEC_SUBMITIT_FOLDER": str(tmp_path / "jobs"),
        "SEC_HOME": str(tmp_path / "home"),
        "SEC_AUDIO_ROOT": str(root),
        "SEC_MODELS": str(model_store),
        "SEC_ALLOW_RANDOM_INIT": "1",
        "DAGSTER_HOME": str(dagster_home),
    }
    subprocess.run([str(BIN / "sec-assets"), "scan"], env=env, check=True, capture_output=True)
    done = subprocess.run(
        [
            str(BIN / "dagster"),
            "asset",
            "materialize",
            "-m",
            "sec_assets.definitions",
            "--select",
            "raw_manifest,splits",
            "--partition",
            "tone",
        ],
        env=env,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0 and "RUN_SUCCESS" in out, out[-3000:]
    assert out.count("as local job") == 2  # one submitit job per step
    assert out.count(": COMPLETED") == 2 and out.count("Local job ") == 2, out[-3000:]  # after each job
    folder = next((tmp_path / "jobs").iterdir())
    assert oct(os.stat(tmp_path / "jobs").st_mode & 0o777) == "0o700"  # pickles execute: private
    assert len(list(folder.glob("*_result.pkl"))) == 2
    logs = sorted(folder.glob("*_log.err"))
    assert len(logs) == 2
    for log in logs:  # each job's log keeps the step's last lines (Dagster's mirror is given time)
        assert "STEP_SUCCESS" in log.read_text(errors="replace"), log.read_text(errors="replace")[-2000:]
