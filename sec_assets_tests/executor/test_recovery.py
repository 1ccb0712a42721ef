"""Orphaned runs: the orchestrator record, telling a live orchestrator from a dead one (pid reuse
included), and which started runs ``sec-assets recover`` picks. The Slurm side (scancel, the
re-execution from failure, exact rows) is tested on the local cluster: cluster/test_faults.py."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from dagster import DagsterEvent, DagsterEventType, DagsterInstance, job, op
from dagster._core.events import EngineEventData

from sec_assets.executor.recovery import (
    ORCHESTRATOR_EVENT,
    Orchestrator,
    orchestrator,
    orchestrator_metadata,
    orphaned_runs,
    process_start,
)


@op
def noop() -> None: ...


@job
def tiny() -> None:
    noop()


def _started_run(instance: DagsterInstance, metadata: dict | None):
    run = instance.create_run_for_job(tiny)
    if metadata is not None:
        instance.report_engine_event(ORCHESTRATOR_EVENT + "test", run, EngineEventData(metadata=metadata))
    start = DagsterEvent(DagsterEventType.RUN_START.value, job_name=run.job_name)
    instance.report_dagster_event(start, run.run_id)
    return run


def test_a_process_is_named_by_its_pid_and_start_time():
    me = orchestrator_metadata()
    assert me["orchestrator_host"] == socket.gethostname() and me["orchestrator_pid"] == os.getpid()
    assert me["orchestrator_start"] == process_start(os.getpid()) and me["orchestrator_start"].isdigit()
    assert Orchestrator(socket.gethostname(), os.getpid(), me["orchestrator_start"]).alive() is True
    # the same pid with another start time is another process (the pid was reused): gone
    assert Orchestrator(socket.gethostname(), os.getpid(), "1").alive() is False
    assert Orchestrator("another-host", os.getpid(), me["orchestrator_start"]).alive() is None


def test_orphaned_runs_are_the_started_ones_whose_orchestrator_is_gone(tmp_path):
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    dead = {
        "orchestrator_host": socket.gethostname(),
        "orchestrator_pid": child.pid,
        "orchestrator_start": process_start(child.pid),
    }
    child.kill()
    child.wait()
    assert process_start(child.pid) is None
    with DagsterInstance.local_temp(str(tmp_path)) as instance:
        orphan = _started_run(instance, dead)
        alive = _started_run(instance, orchestrator_metadata())
        elsewhere = _started_run(instance, {**dead, "orchestrator_host": "login2"})
        unknown = _started_run(instance, None)  # another executor: no record, never touched
        assert orchestrator(instance, orphan.run_id) == Orchestrator(
            socket.gethostname(), child.pid, str(dead["orchestrator_start"])
        )
        assert orchestrator(instance, unknown.run_id) is None
        assert [r.run_id for r in orphaned_runs(instance)] == [orphan.run_id]
        assert {alive.run_id, elsewhere.run_id, unknown.run_id}.isdisjoint(
            r.run_id for r in orphaned_runs(instance)
        )
