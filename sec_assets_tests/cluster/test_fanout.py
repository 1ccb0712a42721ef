"""Fan-out on the local cluster: a backfill of 40 classes with K = 10 is 4 runs whose jobs run at
the same time on 4 nodes, launched by the Dagster daemon from ``sec-assets backfill``. The work is
simulated (``sec_assets.testing.fanout_defs`` sleeps per class): these 2 cores cannot show real
parallel compute, only that the runs and jobs spread and overlap."""

from __future__ import annotations

import re
import subprocess
from datetime import datetime

import pytest
from dagster import AssetKey, DagsterEventType, DagsterInstance, RunsFilter

from sec_assets_tests.cluster.helpers import BIN, REPO, settled, start_daemon, stop_daemon

pytestmark = [pytest.mark.slow, pytest.mark.cluster]
MODULE = "sec_assets.testing.fanout_defs"
CLASSES = [f"c{i:03d}" for i in range(40)]
PER_CLASS_S = 3.0


def test_a_backfill_of_40_classes_with_k_10_is_4_runs_at_once_on_4_nodes(cluster_env, tmp_path):
    env = {
        **cluster_env,
        "SEC_CLASSES_PER_RUN": "10",
        "SEC_SIMULATED_CLASS_S": str(PER_CLASS_S),
        # the 4 steps wait for each other to start: their overlap is what is checked, not the
        # machine's speed at launching runs (a late run's job could take a node freed meanwhile)
        "SEC_SIMULATED_BARRIER_DIR": str(tmp_path / "barrier"),
        "SEC_SIMULATED_BARRIER_N": "4",
    }
    with DagsterInstance.get() as instance:
        instance.add_dynamic_partitions("audio_class", CLASSES)
    daemon = start_daemon(env, MODULE, tmp_path / "daemon.log")
    try:
        done = subprocess.run(
            [str(BIN / "sec-assets"), "backfill", "-m", MODULE, "--wait", "--timeout", "600"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=700,
        )
    finally:
        stop_daemon(daemon)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-3000:] + (tmp_path / "daemon.log").read_text()[-3000:]
    assert "simulated_class_work: 40 partition(s) → 4 run(s)" in out
    backfill_id = re.search(r"backfill (\w+) submitted", out).group(1)
    with DagsterInstance.get() as instance:
        runs = instance.get_runs(RunsFilter(tags={"dagster/backfill": backfill_id}))
        assert len(runs) == 4 and all(r.is_success for r in runs)
        ranges = sorted(
            (r.tags["dagster/asset_partition_range_start"], r.tags["dagster/asset_partition_range_end"])
            for r in runs
        )
        assert ranges == [("c000", "c009"), ("c010", "c019"), ("c020", "c029"), ("c030", "c039")]
        assert instance.get_materialized_partitions(AssetKey("simulated_class_work")) == set(CLASSES)
    jobs = [row for run in runs for row in settled(f"sec-{run.run_id[:8]}-")]
    assert len(jobs) == 4 and all(j["State"] == "COMPLETED" for j in jobs), jobs  # one job per run
    assert len({j["NodeList"] for j in jobs}) == 4, jobs  # four nodes
    starts = [datetime.fromisoformat(j["Start"]) for j in jobs]
    ends = [datetime.fromisoformat(j["End"]) for j in jobs]
    assert max(starts) < min(ends), jobs  # all four at once (sacct)
    # efficiency in each run's log: the job's CPU efficiency and node-hours, and the run's summary
    with DagsterInstance.get() as instance:
        for run in runs:
            events = [
                e.dagster_event for e in instance.all_logs(run.run_id, of_type=DagsterEventType.ENGINE_EVENT)
            ]
            (job,) = [e for e in events if e.message.startswith("Slurm job ") and e.step_key]
            meta = {k: v.value for k, v in job.engine_event_data.metadata.items()}
            assert 0.0 <= meta["cpu_efficiency"] < 0.5  # it sleeps on 4 CPUs
            assert meta["node_hours"] > 0 and meta["node_hours"] == pytest.approx(
                meta["elapsed_s"] / 3600, abs=1e-6
            )
            (summary,) = [e for e in events if e.message.startswith("Slurm usage of this run")]
            assert summary.engine_event_data.metadata["node_hours_total"].value == meta["node_hours"]
            assert "| simulated_class_work | 1 |" in summary.engine_event_data.metadata["by_step"].value
    span = (max(ends) - min(starts)).total_seconds()
    work = PER_CLASS_S * len(CLASSES)
    print(
        f"40 classes, K = 10: 4 jobs on 4 nodes, {span:.0f} s from first start to last end; work {work:.0f} s"
    )
