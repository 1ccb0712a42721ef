"""``sec-assets campaign``: the shipped example runs on the demo data as Dagster runs, two segment
lengths keep separate outputs and meet in one catalog query, re-runs and edits behave."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dagster import DagsterInstance, DagsterRunStatus, RunsFilter, build_sensor_context

from sec_assets.campaigns.launch import load, worker_env
from sec_assets.campaigns.plan import Step, ranges
from sec_assets.campaigns.status import _gone, task_status
from sec_assets.campaigns.worker import run_config, run_tags
from sec_assets.cli import main
from sec_assets.core.campaign.catalog import query_campaign
from sec_assets.core.campaign.tags import CAMPAIGN_TAG, PLAN_TAG, STAGE_TAG, TASK_TAG, WORKER_TAG
from sec_assets.core.processes import process_start_time
from sec_assets.core.settings import PROJECT_CONFIG
from sec_assets.defs.sensors.retrain import _changes
from sec_assets.demo.data import write_demo_dataset

BIN = Path(sys.executable).parent
EXAMPLE = PROJECT_CONFIG.parent / "campaigns" / "demo_segments.yaml"


def test_ranges_never_take_in_a_class_outside_the_task():
    order = ["a", "b", "x", "c", "d", "y"]
    assert ranges(["a", "b", "c", "d"], order) == [("a", "b"), ("c", "d")]
    assert ranges(["y", "a"], order) == [("a", "a"), ("y", "y")]
    assert ranges([], order) == []
    assert Step("features", "class_features", partition_range=("a", "b")).id == "features:a...b"


def test_slurm_tasks_carry_their_executor_config_and_requests(tmp_path, monkeypatch):
    monkeypatch.setenv("SEC_HOME", str(tmp_path / "home"))
    path = tmp_path / "c.yaml"
    path.write_text(
        "run: {where: slurm, executor: {account: proj, time_min: 90}, requests: {gpus: 1, mem_gb: 12}}\n"
        "tasks:\n  big: {octaves: [12]}\n  here: {run: {where: local}}\n"
    )
    campaign, _ = load(path)
    big, here = campaign.tasks
    config = run_config(big)
    assert config["execution"] == {"config": {"account": "proj", "time_min": 90}}
    assert config["resources"]["sec"]["config"]["home"] == str(tmp_path / "home" / "campaigns" / "c" / "big")
    tags = run_tags(campaign, big, Step("train", "retrain_octave", partition="12"), "d1")
    assert tags["sec/slurm/gpus"] == "1" and tags["sec/slurm/mem_gb"] == "12"
    assert (tags[CAMPAIGN_TAG], tags[TASK_TAG], tags[STAGE_TAG], tags[PLAN_TAG]) == (
        "c",
        "big",
        "train",
        "d1",
    )
    assert run_config(here)["execution"] == {"config": {"in_process": {}}}
    assert not any(k.startswith("sec/slurm/") for k in run_tags(campaign, here, Step("summary", "s"), "d2"))
    env = {"SEC_EXECUTOR": "local", "PATH": "/bin"}
    assert worker_env(big, env)["SEC_EXECUTOR"] == "local"  # submitit's local mode: a dry run
    assert worker_env(big, {"PATH": "/bin"})["SEC_EXECUTOR"] == "slurm"
    assert "SEC_EXECUTOR" not in worker_env(here, env)


def test_a_step_is_lost_once_its_worker_is_gone_even_when_its_pid_was_reused(tmp_path, monkeypatch):
    """The worker tag names the process by host, pid and start time: a later process with the
    same pid does not keep a lost step "running"."""
    monkeypatch.setenv("SEC_HOME", str(tmp_path / "home"))
    path = tmp_path / "c.yaml"
    path.write_text("run: {where: local}\ntasks:\n  here: {octaves: [12]}\n")
    campaign, _ = load(path)
    tag = run_tags(campaign, campaign.tasks[0], Step("summary", "s"), "d")[WORKER_TAG]
    host, pid, started = tag.split(":")
    assert (host, int(pid), float(started)) == (
        socket.gethostname(),
        os.getpid(),
        pytest.approx(process_start_time(os.getpid()), abs=0.01),
    )
    assert not _gone(tag)
    assert _gone(f"{host}:{pid}:{float(started) - 3600:.2f}")  # this pid, but another process
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child_tag = f"{host}:{child.pid}:{process_start_time(child.pid) or 0:.2f}"
    child.wait()
    assert _gone(child_tag)
    assert not _gone(f"login-elsewhere:{pid}:1.00")  # another host: cannot tell, never "lost"
    assert not _gone(f"{host}:{pid}") and _gone(f"{host}:{child.pid}")  # an older tag: the pid alone
    assert not _gone(None) and not _gone("garbage")


@pytest.mark.slow
def test_the_example_campaign_runs_on_the_demo_data(tmp_path, model_store, monkeypatch, capfd):
    monkeypatch.chdir(tmp_path)  # the example's audio_root is .sec/demo_audio, relative to here
    home = tmp_path / ".sec"
    write_demo_dataset(home / "demo_audio", files_per_class=6, seed=0)
    for var, value in {"SEC_HOME": home, "SEC_MODELS": model_store, "DAGSTER_HOME": tmp_path / "dh"}.items():
        monkeypatch.setenv(var, str(value))
    monkeypatch.delenv("SEC_CONFIG", raising=False)
    monkeypatch.delenv("SEC_EXECUTOR", raising=False)
    path = tmp_path / "demo_segments.yaml"
    shutil.copyfile(EXAMPLE, path)

    assert main(["campaign", "validate", str(path)]) == 0
    assert "2 task(s)" in capfd.readouterr().out
    assert main(["campaign", "run", str(path)]) == 0
    out = capfd.readouterr().out
    assert "seg5" in out and "seg7" in out

    campaign, _ = load(path)
    with DagsterInstance.get() as instance:
        runs = instance.get_run_records(RunsFilter(tags={CAMPAIGN_TAG: "demo_segments"}))
        # per task: features (one range), spectrograms (the range at 1/3), train, summary
        assert len(runs) == 2 * (1 + 1 + 1 + 1)
        assert {r.dagster_run.status for r in runs} == {DagsterRunStatus.SUCCESS}
        assert {r.dagster_run.tags[TASK_TAG] for r in runs} == {"seg5", "seg7"}
        statuses = [task_status(instance, campaign, t) for t in campaign.tasks]
        assert [(s.state, s.count("done"), len(s.steps)) for s in statuses] == [("done", 4, 4)] * 2
        # campaign runs write their own homes: the retrain sensor sees no change of the models in use
        assert _changes(build_sensor_context(instance=instance), 0)[0] == set()

    # separate outputs: each task's home, catalog and registry names
    for task in ("seg5", "seg7"):
        assert (home / "campaigns" / "demo_segments" / task / "catalog.duckdb").is_file()
    assert not (home / "catalog.duckdb").exists()
    compared = query_campaign(
        campaign,
        "SELECT task, octave, macro_f1, report_path FROM evaluations"
        " WHERE split = 'test' AND selected ORDER BY task",
    )
    assert compared["task"].to_list() == ["seg5", "seg7"] and set(compared["octave"]) == {3}
    assert all(0.0 <= f <= 1.0 for f in compared["macro_f1"])
    assert [
        Path(p).is_relative_to(home / "campaigns" / "demo_segments" / t)
        for t, p in compared.select("task", "report_path").iter_rows()
    ] == [True, True]
    segments = query_campaign(
        campaign,
        "SELECT task, count(*) AS n, max(duration_s) AS longest FROM segments GROUP BY task ORDER BY task",
    )
    assert segments["longest"].to_list() == [5.0, 7.0]
    assert segments["n"][0] > segments["n"][1]  # shorter segments, more of them
    files = query_campaign(campaign, "SELECT DISTINCT task, format FROM audio_files WHERE status = 'ok'")
    assert set(files["format"]) == {"wav", "flac"}  # the lossless filter left ogg and mp3 out

    # a second run finds everything done: no new runs
    assert main(["campaign", "run", str(path)]) == 0
    again = capfd.readouterr().out
    assert (
        "seg5: spectrograms: 0 of 1 run(s) to do" in again and "seg7: features: 0 of 1 run(s) to do" in again
    )
    # an edited task starts over; the other stays done
    path.write_text(path.read_text().replace("segment_seconds: 7.0", "segment_seconds: 6.0"))
    assert main(["campaign", "status", str(path)]) == 0
    table = capfd.readouterr().out
    seg5_line = next(line for line in table.splitlines() if line.startswith("seg5"))
    seg7_line = next(line for line in table.splitlines() if line.startswith("seg7"))
    assert " done " in seg5_line and "not started" in seg7_line
    assert "seg7: 4 run(s) of an older version of the task" in table
    with DagsterInstance.get() as instance:
        assert (
            len(instance.get_run_records(RunsFilter(tags={CAMPAIGN_TAG: "demo_segments"}))) == 8
        )  # status started nothing


@pytest.mark.slow
def test_a_stop_request_ends_the_task_and_is_never_retried(tmp_path, model_store):
    """SIGTERM to ``campaign run`` while a step runs: the run fails as stopped (the step's retry
    policy does not run it again), no later step starts, the command exits 130."""
    write_demo_dataset(tmp_path / "landing", files_per_class=3, seed=0)
    path = tmp_path / "stop.yaml"
    path.write_text("tasks:\n  only: {settings: {segment_seconds: 2.0}, octaves: [1]}\n")
    env = {
        **os.environ,
        "SEC_HOME": str(tmp_path / "home"),
        "SEC_AUDIO_ROOT": str(tmp_path / "landing"),
        "SEC_MODELS": str(model_store),
        "SEC_ALLOW_RANDOM_INIT": "1",
        "DAGSTER_HOME": str(tmp_path / "dh"),
    }
    env.pop("SEC_EXECUTOR", None)
    proc = subprocess.Popen(
        [str(BIN / "sec-assets"), "campaign", "run", str(path)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 240
    started = None
    while started is None and time.monotonic() < deadline and proc.poll() is None:
        if (tmp_path / "dh").is_dir():
            with DagsterInstance.from_config(str(tmp_path / "dh")) as instance:
                runs = instance.get_runs(RunsFilter(statuses=[DagsterRunStatus.STARTED]))
                if runs:
                    started = runs[0]
        time.sleep(0.5)
    assert started is not None, "no run started"
    time.sleep(2)  # inside a step
    proc.send_signal(signal.SIGTERM)
    out = proc.communicate(timeout=120)[0]
    assert proc.returncode == 130, out[-3000:]
    assert "only: stopped" in out and "campaign stop: stopped during task only" in out
    with DagsterInstance.from_config(str(tmp_path / "dh")) as instance:
        runs = instance.get_runs()
        assert [r.run_id for r in runs] == [started.run_id]  # nothing started after the stop
        assert runs[0].status == DagsterRunStatus.FAILURE
        kinds = [
            e.dagster_event.event_type_value for e in instance.all_logs(started.run_id) if e.dagster_event
        ]
        assert "STEP_UP_FOR_RETRY" not in kinds and "STEP_FAILURE" in kinds
        failure = next(
            e.dagster_event
            for e in instance.all_logs(started.run_id)
            if e.dagster_event and e.dagster_event.event_type_value == "STEP_FAILURE"
        )
        assert "stopped: the run was interrupted" in failure.event_specific_data.error.message
