"""Orphaned runs: the orchestrator record, telling a live orchestrator from a dead one (pid reuse
included), and which started runs ``sec-assets recover`` picks. The Slurm side (scancel, the
re-execution from failure, exact rows) is tested on the local cluster: cluster/test_faults.py."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from typing import Any

from dagster import DagsterEvent, DagsterEventType, DagsterInstance, job, op

from sec_assets.core.processes import process_start_time, start_ticks
from sec_assets.dagster_seam import EngineEventData
from sec_assets.executor.recovery import (
    ORCHESTRATOR_EVENT,
    STARTED_AT,
    Orchestrator,
    orchestrator,
    orchestrator_metadata,
    orphaned_runs,
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
    assert me[STARTED_AT] == process_start_time(os.getpid())
    assert Orchestrator(socket.gethostname(), os.getpid(), me[STARTED_AT]).alive() is True
    # the same pid with another start time is another process (the pid was reused): gone
    assert Orchestrator(socket.gethostname(), os.getpid(), me[STARTED_AT] - 3600).alive() is False
    assert Orchestrator("another-host", os.getpid(), me[STARTED_AT]).alive() is None


def test_a_record_of_an_older_version_in_clock_ticks_is_still_read(tmp_path):
    """Runs started before the start time was kept in seconds carry ``orchestrator_start``: the
    ``/proc`` clock ticks after boot, as a string."""
    legacy = {
        "orchestrator_host": socket.gethostname(),
        "orchestrator_pid": os.getpid(),
        "orchestrator_start": str(start_ticks(os.getpid())),
    }
    with DagsterInstance.local_temp(str(tmp_path)) as instance:
        run = _started_run(instance, legacy)
        owner = orchestrator(instance, run.run_id)
        assert owner is not None and owner.started_at is not None
        assert abs(owner.started_at - (process_start_time(os.getpid()) or 0.0)) < 1.0
        assert owner.alive() is True
        assert orphaned_runs(instance) == []


def test_orphaned_runs_are_the_started_ones_whose_orchestrator_is_gone(tmp_path):
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    dead: dict[str, Any] = {
        "orchestrator_host": socket.gethostname(),
        "orchestrator_pid": child.pid,
        STARTED_AT: process_start_time(child.pid),
    }
    child.kill()
    child.wait()
    assert process_start_time(child.pid) is None
    with DagsterInstance.local_temp(str(tmp_path)) as instance:
        orphan = _started_run(instance, dead)
        alive = _started_run(instance, orchestrator_metadata())
        elsewhere = _started_run(instance, {**dead, "orchestrator_host": "login2"})
        unknown = _started_run(instance, None)  # another executor: no record, never touched
        assert orchestrator(instance, orphan.run_id) == Orchestrator(
            socket.gethostname(), child.pid, dead[STARTED_AT]
        )
        assert orchestrator(instance, unknown.run_id) is None
        assert [r.run_id for r in orphaned_runs(instance)] == [orphan.run_id]
        assert {alive.run_id, elsewhere.run_id, unknown.run_id}.isdisjoint(
            r.run_id for r in orphaned_runs(instance)
        )
