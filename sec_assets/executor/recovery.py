"""After the orchestrator died: find its runs, cancel their jobs, fail them, re-execute from failure.

The process that runs a Dagster run with the submitit executor (``dagster asset materialize``,
a run worker the daemon launched, ``sec-assets campaign run``) is the run's orchestrator. If it is
killed (``kill -9``, a login node rebooted) the run stays *started* in the instance and its
Slurm jobs keep running with no one watching them. The executor records its orchestrator (host,
pid, process start time) as the run's first engine event (:func:`orchestrator_metadata`), so:

1. :func:`orphaned_runs` — started runs whose orchestrator process is gone (checked on its own
   host; a run orchestrated on another host is named explicitly);
2. :func:`recover` — ``scancel`` every job of the run still in the queue and wait until Slurm has
   ended them (so no step of the old run can commit after this point), mark the run failed with
   the reason, then re-execute it from failure (Dagster's own ``ReexecutionOptions.from_failure``:
   steps that succeeded — also those whose job finished after the orchestrator died — are kept,
   the rest run again). Every write is atomic and replaces its partition, and ``clap_embeddings``
   resumes from committed shards, so the catalog ends with exactly one copy of every row.

Cancel rather than reattach: a restarted orchestrator cannot re-enter Dagster's step loop for
a run it did not start, and a cancelled step costs at most its own work again.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dagster import DagsterEventType, DagsterInstance, DagsterRun, DagsterRunStatus, RunsFilter

ORCHESTRATOR_EVENT = "Orchestrator of this run: "
LIVE_STATES = {"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "REQUEUED", "RESIZING", "SUSPENDED"}


def process_start(pid: int) -> str | None:
    """A process's start time (clock ticks after boot, ``/proc/<pid>/stat`` field 22): with the
    pid it names one process, never a later one that reused the pid. None: no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def orchestrator_metadata() -> dict[str, Any]:
    pid = os.getpid()
    return {
        "orchestrator_host": socket.gethostname(),
        "orchestrator_pid": pid,
        "orchestrator_start": process_start(pid) or "?",
    }


@dataclass(frozen=True)
class Orchestrator:
    host: str
    pid: int
    start: str

    def alive(self) -> bool | None:
        """Whether the process still runs; None when it ran on another host (cannot tell here)."""
        if self.host != socket.gethostname():
            return None
        return process_start(self.pid) == self.start


def orchestrator(instance: DagsterInstance, run_id: str) -> Orchestrator | None:
    for entry in instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT):
        event = entry.dagster_event
        if event is None or not (event.message or "").startswith(ORCHESTRATOR_EVENT):
            continue
        meta = event.engine_event_data.metadata
        return Orchestrator(
            str(meta["orchestrator_host"].value),
            int(str(meta["orchestrator_pid"].value)),
            str(meta["orchestrator_start"].value),
        )
    return None


def orphaned_runs(instance: DagsterInstance) -> list[DagsterRun]:
    """Started runs of the submitit executor whose orchestrator, on this host, is gone."""
    active = [DagsterRunStatus.STARTED, DagsterRunStatus.STARTING, DagsterRunStatus.CANCELING]
    out = []
    for run in instance.get_runs(RunsFilter(statuses=active)):
        owner = orchestrator(instance, run.run_id)
        if owner is not None and owner.alive() is False:
            out.append(run)
    return out


def run_jobs(instance: DagsterInstance, run_id: str) -> list[str]:
    """Ids of every job the run submitted (its "Submitted step …" engine events)."""
    ids = []
    for entry in instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT):
        event = entry.dagster_event
        data = event.engine_event_data if event is not None else None
        submitted = event is not None and (event.message or "").startswith("Submitted step")
        if submitted and data is not None and "submitit_job_id" in data.metadata:
            ids.append(str(data.metadata["submitit_job_id"].value))
    return ids


def live_jobs(job_ids: list[str]) -> list[str]:
    if not job_ids:
        return []
    out = subprocess.run(
        ["squeue", "-h", "-j", ",".join(job_ids), "-o", "%i|%T"], capture_output=True, text=True, timeout=60
    ).stdout
    return [line.split("|")[0] for line in out.splitlines() if line.split("|")[-1] in LIVE_STATES]


def cancel_jobs(job_ids: list[str], timeout_s: float = 120.0) -> list[str]:
    """scancel the jobs still queued or running; return once Slurm lists none of them."""
    live = live_jobs(job_ids)
    if live:
        subprocess.run(["scancel", *live], check=False, capture_output=True, timeout=60)
    deadline = time.monotonic() + timeout_s
    while live_jobs(live):
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"jobs {live} were scancelled but are still in the queue after {timeout_s:.0f} s"
            )
        time.sleep(1.0)
    return live


@dataclass(frozen=True)
class Recovered:
    run_id: str
    cancelled: list[str]
    new_run_id: str | None
    success: bool


def recover(
    instance: DagsterInstance, run: DagsterRun, module: str, log: Callable[[str], None], rerun: bool = True
) -> Recovered:
    """Cancel the run's live jobs, mark it failed, and (``rerun``) re-execute it from failure
    in this process, with the run's own config and tags."""
    from dagster import ReexecutionOptions, execute_job
    from dagster._core.definitions.reconstruct import ReconstructableRepository  # as the asset CLI does

    cancelled = cancel_jobs(run_jobs(instance, run.run_id))
    owner = orchestrator(instance, run.run_id)
    who = f"{owner.host} pid {owner.pid}" if owner else "unknown"
    reason = f"sec-assets recover: the run's orchestrator ({who}) is gone; " + (
        f"its jobs {', '.join(cancelled)} were scancelled" if cancelled else "no job of it was still running"
    )
    current = instance.get_run_by_id(run.run_id)
    if current is not None and current.status not in (DagsterRunStatus.FAILURE, DagsterRunStatus.SUCCESS):
        instance.report_run_failed(current, reason)
    log(f"run {run.run_id}: {reason}; marked failed")
    if not rerun:
        return Recovered(run.run_id, cancelled, None, False)
    repository = ReconstructableRepository.for_module(module, "defs", working_directory=None)
    job = repository.get_reconstructable_job(run.job_name)
    tags = {k: v for k, v in run.tags.items() if not k.startswith("dagster/backfill")}
    result = execute_job(
        job,
        instance=instance,
        run_config=run.run_config,
        tags=tags,
        reexecution_options=ReexecutionOptions.from_failure(run.run_id, instance),
    )
    outcome = "success" if result.success else "FAILED"
    log(f"run {run.run_id}: re-executed from failure as run {result.run_id}: {outcome}")
    return Recovered(run.run_id, cancelled, result.run_id, result.success)
