"""What a campaign has done: each task's plan against the runs in the Dagster instance.

A step is **done** when its latest run for the task's current plan succeeded, **failed** when it
failed or was canceled, **running** while its run is queued or on, **lost** when that run's
process (on this host) is gone without ending it, and **to do** when it has no run. The process
is named by its host, pid and start time (:func:`worker_tag`), so a later process that got the
same pid does not keep a lost step "running". Runs of an
older version of the task (other settings, octaves or classes) are counted, never taken as done.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field

from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

from sec_assets.campaigns.plan import Step, plan_digest, task_plan
from sec_assets.core.campaign.spec import Campaign, Task
from sec_assets.core.campaign.tags import CAMPAIGN_TAG, PLAN_TAG, STEP_TAG, TASK_TAG, WORKER_TAG
from sec_assets.core.processes import is_alive, process_start_time
from sec_assets.core.store.catalog import query
from sec_assets.partitions import AUDIO_CLASS

STATES = ("done", "running", "lost", "failed", "to do")
ON = {
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
    DagsterRunStatus.CANCELING,
}


@dataclass
class StepState:
    step: Step
    state: str
    run_id: str | None = None


@dataclass
class TaskStatus:
    task: Task
    classes: list[str]
    steps: list[StepState]
    older_runs: int = 0
    metrics: dict[int, float] = field(default_factory=dict)  # octave → test macro-F1 of the model

    def count(self, state: str) -> int:
        return sum(s.state == state for s in self.steps)

    @property
    def state(self) -> str:
        for state in ("failed", "lost", "running"):
            if self.count(state):
                return state
        done = self.count("done")
        return "done" if done == len(self.steps) else "not started" if done == 0 else "partly done"


def _latest_runs(
    instance: DagsterInstance, campaign: Campaign, task: Task, digest: str
) -> tuple[dict[str, object], int]:
    """Step id → its newest run record for this plan; how many runs belong to older plans."""
    records = instance.get_run_records(RunsFilter(tags={CAMPAIGN_TAG: campaign.name, TASK_TAG: task.name}))
    latest: dict[str, object] = {}
    older = 0
    for record in records:  # newest first
        tags = record.dagster_run.tags
        if tags.get(PLAN_TAG) != digest:
            older += 1
        else:
            latest.setdefault(tags.get(STEP_TAG, ""), record)
    return latest, older


def worker_tag() -> str:
    """This process as the worker of a campaign run (the run tag ``WORKER_TAG``):
    ``host:pid:start``, the start in seconds since the epoch (:func:`process_start_time`)."""
    pid = os.getpid()
    started_at = process_start_time(pid)
    return f"{socket.gethostname()}:{pid}" + ("" if started_at is None else f":{started_at:.2f}")


def _gone(worker: str | None) -> bool:
    """Whether the worker named by its ``WORKER_TAG`` (:func:`worker_tag`) ran on this host and
    no longer runs. A tag written before the start time was kept (``host:pid``) names the pid
    alone."""
    parts = (worker or "").split(":")
    if len(parts) not in (2, 3):
        return False
    host, pid, started = (*parts, "")[:3]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        started_at = float(started) if started else None
    except ValueError:
        return False
    return is_alive(int(pid), started_at) is False


def _state(record: object) -> str:
    run = record.dagster_run  # type: ignore[attr-defined]
    if run.status == DagsterRunStatus.SUCCESS:
        return "done"
    if run.status in ON:
        return "lost" if _gone(run.tags.get(WORKER_TAG)) else "running"
    return "failed"


def done_steps(instance: DagsterInstance, campaign: Campaign, task: Task, digest: str) -> set[str]:
    latest, _ = _latest_runs(instance, campaign, task, digest)
    return {step for step, record in latest.items() if _state(record) == "done"}


def _classes(task: Task, registered: Sequence[str]) -> tuple[list[str], list[str]]:
    """The landing folder's classes and the partition order once they are all registered."""
    classes = sorted(task.settings.dataset().classes())
    return classes, [*registered, *sorted(set(classes) - set(registered))]


def _metrics(task: Task) -> dict[int, float]:
    if not (task.settings.home / "catalog.duckdb").is_file():
        return {}
    frame = query(
        task.settings.home,
        "SELECT octave, macro_f1 FROM evaluations WHERE split = 'test' AND selected ORDER BY octave",
    )
    return {int(r["octave"]): float(r["macro_f1"]) for r in frame.iter_rows(named=True)}


def task_status(instance: DagsterInstance, campaign: Campaign, task: Task) -> TaskStatus:
    classes, order = _classes(task, instance.get_dynamic_partitions(AUDIO_CLASS))
    digest = plan_digest(task, classes)
    latest, older = _latest_runs(instance, campaign, task, digest)
    steps = []
    for stage in task_plan(task, classes, order):
        for step in stage:
            record = latest.get(step.id)
            steps.append(
                StepState(step, "to do", None)
                if record is None
                else StepState(step, _state(record), record.dagster_run.run_id)  # type: ignore[attr-defined]
            )
    return TaskStatus(task, classes, steps, older, _metrics(task))


def format_status(campaign: Campaign, statuses: Sequence[TaskStatus]) -> str:
    """A table, one line per task, then the failed and lost steps with their runs."""
    lines = [
        f"campaign {campaign.name} ({campaign.path}): {len(statuses)} task(s), outputs under {campaign.home}",
        f"{'task':<16} {'where':<6} {'octaves':<14} {'state':<12} {'steps':>5} "
        + " ".join(f"{s:>7}" for s in STATES)
        + "  test macro-F1",
    ]
    for st in statuses:
        f1 = ", ".join(f"1/{n}: {v:.3f}" for n, v in sorted(st.metrics.items())) or "-"
        lines.append(
            f"{st.task.name:<16} {st.task.run.where:<6} {','.join(map(str, st.task.octaves)):<14} "
            f"{st.state:<12} {len(st.steps):>5} " + " ".join(f"{st.count(s):>7}" for s in STATES) + f"  {f1}"
        )
    for st in statuses:
        for s in st.steps:
            if s.state in ("failed", "lost"):
                lines.append(f"  {st.task.name}: {s.step.id} {s.state} (run {s.run_id})")
        if st.older_runs:
            lines.append(
                f"  {st.task.name}: {st.older_runs} run(s) of an older version of the task (not counted)"
            )
    return "\n".join(lines)
