"""Run one campaign task: its plan's runs, stage after stage, in this process.

    python -m sec_assets.campaigns.worker FILE TASK [--force]

``sec-assets campaign run`` starts one such process per task, with ``SEC_EXECUTOR`` set for
the task's ``where`` (the executor is chosen when the definitions load). Each run is a Dagster
run in the instance (``DAGSTER_HOME``), visible in the UI with the campaign's tags, executed the
way ``dagster asset materialize`` executes one — a reconstructable job from
``sec_assets.definitions`` — so ``where: slurm`` steps become Slurm jobs; ``local`` runs execute
in this process, one step after another. A step already done for this plan is skipped unless
``--force``; a failed stage ends the task (the next stages need it). SIGTERM and Ctrl-C stop
the task: the run in progress ends as Dagster ends an interrupted run and nothing more starts.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from dagster import DagsterInstance, execute_job

from sec_assets.campaigns.plan import Step, plan_digest, task_plan
from sec_assets.campaigns.status import done_steps, worker_tag
from sec_assets.core.campaign.spec import Campaign, Task
from sec_assets.core.campaign.tags import CAMPAIGN_TAG, PLAN_TAG, STAGE_TAG, STEP_TAG, TASK_TAG, WORKER_TAG
from sec_assets.dagster_seam import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    module_repository,
)
from sec_assets.executor.config import RUN_TAG_PREFIX
from sec_assets.partitions import AUDIO_CLASS
from sec_assets.resources import config_values

DEFINITIONS = "sec_assets.definitions"
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StopRequests:
    """Whether SIGTERM or SIGINT arrived since this was made, whoever handled it.

    While a run executes, Dagster's own handler takes both signals (it interrupts the step) and
    ours never runs; the wakeup fd (:func:`signal.set_wakeup_fd`) still receives every signal's
    number, so a stop request between or during runs is seen here and nothing more starts.
    """

    def __init__(self) -> None:
        self.received: list[int] = []
        for signum in STOP_SIGNALS:
            signal.signal(signum, self._handler)
        read, write = os.pipe()
        os.set_blocking(read, False)
        os.set_blocking(write, False)
        signal.set_wakeup_fd(write)
        self._read = read

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    def requested(self) -> bool:
        try:
            data = os.read(self._read, 1024)
        except BlockingIOError:
            data = b""
        self.received += [b for b in data if b in STOP_SIGNALS]
        return bool(self.received)


def run_config(task: Task) -> dict[str, Any]:
    """The task's settings as the ``sec`` resource's config; ``local``: in this process."""
    execution = {"in_process": {}} if task.run.where == "local" else dict(task.run.executor or {})
    return {
        "resources": {"sec": {"config": config_values(task.settings)}},
        "execution": {"config": execution},
        "loggers": {"console": {"config": {"log_level": "WARNING"}}},
    }


def run_tags(campaign: Campaign, task: Task, step: Step, digest: str) -> dict[str, str]:
    """The campaign's tags, the step's partition tags and the task's Slurm request overrides."""
    tags = {
        CAMPAIGN_TAG: campaign.name,
        TASK_TAG: task.name,
        STAGE_TAG: step.stage,
        STEP_TAG: step.id,
        PLAN_TAG: digest,
        WORKER_TAG: worker_tag(),
    }
    if step.partition_range:
        tags[ASSET_PARTITION_RANGE_START_TAG], tags[ASSET_PARTITION_RANGE_END_TAG] = step.partition_range
    if task.run.where == "slurm":
        tags.update({RUN_TAG_PREFIX + k: str(v) for k, v in (task.run.requests or {}).items()})
    return tags


def run_task(
    instance: DagsterInstance,
    campaign: Campaign,
    task: Task,
    force: bool,
    log: Callable[[str], None],
    stop: StopRequests | None = None,
) -> bool:
    """Every step of the task not yet done (all with ``force``); whether all are done now."""
    from sec_assets.instance import register_classes

    classes, _ = register_classes(task.settings)
    if not classes:
        log(f"{task.name}: no class folders under {task.settings.landing}")
        return False
    registered = instance.get_dynamic_partitions(AUDIO_CLASS)
    digest = plan_digest(task, list(classes))
    done = set() if force else done_steps(instance, campaign, task, digest)
    repository = module_repository(DEFINITIONS)
    config = run_config(task)

    def stopped() -> None:
        if stop is not None and stop.requested():
            raise KeyboardInterrupt(f"signal {stop.received[0]}")

    log(
        f"{task.name}: {len(classes)} classes, octaves {list(task.octaves)}, {task.run.where}; "
        f"home {task.settings.home}"
    )
    for stage in task_plan(task, list(classes), registered):
        todo = [s for s in stage if s.id not in done]
        log(f"{task.name}: {stage[0].stage}: {len(todo)} of {len(stage)} run(s) to do")
        failed = []
        for step in todo:
            stopped()
            job = repository.get_reconstructable_job(step.job)
            tags = run_tags(campaign, task, step, digest)
            if step.partition:
                tags.update(
                    job.get_definition().get_tags_for_partition_key(step.partition, selected_asset_keys=None)
                )
            started = time.perf_counter()
            result = execute_job(job, instance=instance, run_config=config, tags=tags)
            ok = result.success
            log(
                f"  {step.id:<44} {'ok' if ok else 'FAILED'} {time.perf_counter() - started:6.1f} s"
                f"  run {result.run_id}"
            )
            stopped()
            if not ok:
                failed.append(step)
        if failed:
            log(f"{task.name}: stage {failed[0].stage} failed ({len(failed)} run(s)); the later stages wait")
            return False
    return True


def main(argv: list[str] | None = None) -> int:
    from sec_assets.campaigns.launch import load

    parser = argparse.ArgumentParser(prog="python -m sec_assets.campaigns.worker")
    parser.add_argument("file", type=Path)
    parser.add_argument("task")
    parser.add_argument("--force", action="store_true", help="re-run the steps already done")
    args = parser.parse_args(argv)
    stop = StopRequests()
    campaign, _ = load(args.file)
    task = campaign.task(args.task)
    try:
        with DagsterInstance.get() as instance:
            done = run_task(instance, campaign, task, args.force, lambda s: print(s, flush=True), stop)
            return 0 if done else 1
    except KeyboardInterrupt:
        print(f"{task.name}: stopped", flush=True)
        return 130


if __name__ == "__main__":
    sys.exit(main())
