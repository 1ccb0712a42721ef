"""After the orchestrator died: find its runs, cancel their jobs, fail them, re-execute from failure.

The process that runs a Dagster run with the submitit executor (``dagster asset materialize``,
a run worker the daemon launched, ``sec-assets campaign run``) is the run's orchestrator. If it is
killed (``kill -9``, a login node rebooted) the run stays *started* in the instance and its
Slurm jobs keep running with no one watching them. The executor records its orchestrator (host,
pid, process start time) as the run's first engine event (:func:`orchestrator_metadata`), so:

1. :func:`orphaned_runs` — started runs whose orchestrator process is gone (checked on its own
   host by pid *and* start time, :func:`sec_assets.core.processes.is_alive`, so a later process
   that reused the pid is not taken for it; a run orchestrated on another host is named
   explicitly);
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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from dagster import DagsterEventType, DagsterInstance, DagsterRun, DagsterRunStatus, RunsFilter

from sec_assets.core.processes import is_alive, process_start_time, ticks_to_time
from sec_assets.dagster_seam import module_repository

ORCHESTRATOR_EVENT = "Orchestrator of this run: "
STARTED_AT = "orchestrator_started_at"  # engine event metadata: the process's start, epoch seconds
LIVE_STATES = {"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "REQUEUED", "RESIZING", "SUSPENDED"}


def orchestrator_metadata() -> dict[str, Any]:
    """This process as a run's orchestrator: its host, pid and start time (seconds since the
    epoch; absent where it cannot be read), which together name it and no later process."""
    pid = os.getpid()
    owner: dict[str, Any] = {"orchestrator_host": socket.gethostname(), "orchestrator_pid": pid}
    started_at = process_start_time(pid)
    if started_at is not None:
        owner[STARTED_AT] = started_at
    return owner


@dataclass(frozen=True)
class Orchestrator:
    host: str
    pid: int
    started_at: float | None  # None: not recorded (the pid alone names it)

    def alive(self) -> bool | None:
        """Whether the process still runs (:func:`~sec_assets.core.processes.is_alive`); None when
        it ran on another host (cannot tell here)."""
        if self.host != socket.gethostname():
            return None
        return is_alive(self.pid, self.started_at)


def _started_at(meta: Mapping[str, Any]) -> float | None:
    """The recorded start time; runs recorded before it was kept as seconds have ``/proc`` clock
    ticks after boot under ``orchestrator_start`` ("?" when unknown)."""
    if STARTED_AT in meta:
        return float(meta[STARTED_AT].value)
    ticks = str(meta["orchestrator_start"].value) if "orchestrator_start" in meta else ""
    return ticks_to_time(int(ticks)) if ticks.isdigit() else None


def orchestrator(instance: DagsterInstance, run_id: str) -> Orchestrator | None:
    for entry in instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT):
        event = entry.dagster_event
        if event is None or not (event.message or "").startswith(ORCHESTRATOR_EVENT):
            continue
        meta = event.engine_event_data.metadata
        return Orchestrator(
            str(meta["orchestrator_host"].value), int(str(meta["orchestrator_pid"].value)), _started_at(meta)
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
    job = module_repository(module).get_reconstructable_job(run.job_name)
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
