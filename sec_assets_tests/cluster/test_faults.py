"""Faults a cluster really has, on the local cluster: a node going down under a running job, and
the orchestrating process killed (``kill -9``) while its job runs.

The step is ``sec_assets.testing.fanout_defs``'s ``simulated_class_work`` (sleeps while its rows
arrive in chunks, writes its partition atomically with a lineage row), so the test can take the
node down at a known moment and count exactly what was committed."""

from __future__ import annotations

import subprocess

import pytest
from dagster import AssetKey, DagsterEventType, DagsterInstance, DagsterRunStatus

from sec_assets.core.store import catalog, storage
from sec_assets.testing.fanout_defs import ROWS_PER_CLASS, TABLE
from sec_assets_tests.cluster.helpers import BIN, REPO, launch, run_events, settled, wait_for_step_start

pytestmark = [pytest.mark.slow, pytest.mark.cluster]
MODULE = "sec_assets.testing.fanout_defs"


def _node_of(job_id: str) -> str:
    return subprocess.run(
        ["squeue", "-h", "-j", job_id, "-o", "%N"], capture_output=True, text=True
    ).stdout.strip()


def test_a_node_going_down_fails_the_job_and_the_retry_runs_elsewhere(cluster_env, tmp_path):
    env = {**cluster_env, "SEC_SIMULATED_CLASS_S": "20"}
    with DagsterInstance.get() as instance:
        instance.add_dynamic_partitions("audio_class", ["c000"])
    proc = launch(env, MODULE, "simulated_class_work", "c000")
    job_id = wait_for_step_start(tmp_path / "submitit", "-simulated_class_work-a0")
    node = _node_of(job_id)
    assert node in ("cpu1", "cpu2", "gpu1", "gpu2")
    try:
        subprocess.run(
            ["scontrol", "update", f"nodename={node}", "state=down", "reason=sec-assets-test"], check=True
        )
        out = proc.communicate(timeout=400)[0]
    finally:  # the cluster is shared by the session's tests (ReturnToService=2 may have done it)
        subprocess.run(["scontrol", "update", f"nodename={node}", "state=resume"], capture_output=True)
    assert proc.returncode == 0 and "RUN_SUCCESS" in out, out[-4000:]
    with DagsterInstance.get() as instance:
        run = instance.get_runs()[0]
        (retry,) = run_events(instance, run.run_id, DagsterEventType.STEP_UP_FOR_RETRY)
        message = retry.step_retry_data.error.message
        assert f"Slurm job {job_id}" in message and "NODE_FAIL" in message and f"node {node}" in message
        submits = [
            e
            for e in run_events(instance, run.run_id, DagsterEventType.ENGINE_EVENT)
            if e.message.startswith("Submitted")
        ]
        assert len(submits) == 2
        assert f"excluding {node} (job {job_id} ended NODE_FAIL there)" in submits[1].message
        assert submits[1].engine_event_data.metadata["excluded_nodes"].value == node
        assert instance.get_materialized_partitions(AssetKey("simulated_class_work")) == {"c000"}
    # sacct shows both attempts: the first failed with its node, the retry ran on another one
    jobs = {j["JobName"].rsplit("-", 1)[1]: j for j in settled(f"sec-{run.run_id[:8]}-")}
    assert jobs["a0"]["State"] == "NODE_FAIL" and jobs["a0"]["NodeList"] == node
    assert jobs["a1"]["State"] == "COMPLETED" and jobs["a1"]["NodeList"] != node
    # nothing partial committed: the partition is exactly the retry's 100 rows, one lineage row
    home = tmp_path / "home"
    rows = storage.read_partition(home, TABLE, {"audio_class": "c000"})
    assert rows.height == ROWS_PER_CLASS and rows["row"].to_list() == list(range(ROWS_PER_CLASS))
    assert set(rows["attempt"]) == {1} and set(rows["run_id"]) == {run.run_id}
    assert len(storage.partition_files(home, TABLE, {"audio_class": "c000"})) == 1
    lineage = catalog.query(
        home, f"SELECT partition_key, rows, run_id FROM lineage WHERE asset = '{TABLE}'"
    ).rows()
    assert lineage == [("c000", ROWS_PER_CLASS, run.run_id)]


def test_kill_9_of_the_orchestrator_then_recover_finishes_with_exact_rows(cluster_env, tmp_path):
    """``kill -9`` of ``dagster asset materialize`` while its job runs: the run is left *started*
    and its job keeps running; ``sec-assets recover`` scancels the job, fails the run and
    re-executes it from failure: exact rows, one lineage row, no job of either run left."""
    env = {**cluster_env, "SEC_SIMULATED_CLASS_S": "120"}
    with DagsterInstance.get() as instance:
        instance.add_dynamic_partitions("audio_class", ["c001"])
    proc = launch(env, MODULE, "simulated_class_work", "c001")
    job_id = wait_for_step_start(tmp_path / "submitit", "-simulated_class_work-a0")
    proc.kill()  # SIGKILL: no handler runs, nothing is cleaned up
    proc.wait(timeout=30)
    with DagsterInstance.get() as instance:
        (run,) = instance.get_runs()
        assert run.status == DagsterRunStatus.STARTED  # what a dead orchestrator leaves
    assert _node_of(job_id)  # its job still runs, watched by no one
    dry = subprocess.run(
        [str(BIN / "sec-assets"), "recover", "--dry-run"], env=env, capture_output=True, text=True
    )
    assert dry.returncode == 0 and f"run {run.run_id} (__ASSET_JOB, STARTED): orchestrator gone" in dry.stdout
    done = subprocess.run(
        [str(BIN / "sec-assets"), "recover", "-m", MODULE],
        cwd=REPO,
        env={**env, "SEC_SIMULATED_CLASS_S": "4"},  # the re-execution's step: quick
        capture_output=True,
        text=True,
        timeout=400,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-4000:]
    assert f"its jobs {job_id} were scancelled; marked failed" in out
    with DagsterInstance.get() as instance:
        old = instance.get_run_by_id(run.run_id)
        assert old.status == DagsterRunStatus.FAILURE
        (new,) = [r for r in instance.get_runs() if r.run_id != run.run_id]
        assert new.is_success and new.parent_run_id == run.run_id
        assert new.tags["dagster/partition"] == "c001"
    assert f"re-executed from failure as run {new.run_id}: success" in out
    queued = subprocess.run(["squeue", "-h", "-o", "%j"], capture_output=True, text=True).stdout
    assert f"sec-{run.run_id[:8]}-" not in queued and f"sec-{new.run_id[:8]}-" not in queued
    states = {j["JobName"]: j["State"] for j in settled(f"sec-{run.run_id[:8]}-")}
    assert [s.split()[0] for s in states.values()] == ["CANCELLED"]
    home = tmp_path / "home"
    rows = storage.read_partition(home, TABLE, {"audio_class": "c001"})
    assert rows.height == ROWS_PER_CLASS and set(rows["run_id"]) == {new.run_id}
    lineage = catalog.query(
        home, f"SELECT partition_key, rows, run_id FROM lineage WHERE asset = '{TABLE}'"
    ).rows()
    assert lineage == [("c001", ROWS_PER_CLASS, new.run_id)]  # no duplicate, the re-execution's
    again = subprocess.run([str(BIN / "sec-assets"), "recover"], env=env, capture_output=True, text=True)
    assert again.returncode == 0 and "no orphaned runs" in again.stdout
