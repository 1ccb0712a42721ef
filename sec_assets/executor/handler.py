"""The step handler (launch / watch / cancel one submitit job per step) and the executor."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import submitit
from dagster import (
    DagsterEvent,
    DagsterEventType,
    MetadataValue,
    executor,
    multiple_process_executor_requirements,
)

from sec_assets.dagster_seam import (
    CheckStepHealthResult,
    EngineEventData,
    StepDelegatingExecutor,
    StepHandler,
    StepHandlerContext,
    interrupt_requested,
    retry_mode,
)
from sec_assets.executor.config import CONFIG_SCHEMA, SubmititConfig, job_name, step_requests
from sec_assets.executor.container import ContainerStep
from sec_assets.executor.container_checks import check_container
from sec_assets.executor.container_plan import container_step, shared_paths
from sec_assets.executor.jobs import JobRecord
from sec_assets.executor.node import run_dagster_step
from sec_assets.executor.recovery import ORCHESTRATOR_EVENT, orchestrator_metadata
from sec_assets.executor.report import PostJobEvent, failure_reason, post_job_event
from sec_assets.executor.sacct import NODE_FAILURES, SacctPoller, base_state, is_terminal
from sec_assets.executor.usage import run_summary


def recorded_job(instance: Any, run_id: str, step_key: str, folder: Path) -> JobRecord | None:
    """The latest job submitted for a step of a run, read back from the run's engine events
    (how an orchestrator that restarted finds the Slurm jobs it had submitted)."""
    for entry in reversed(instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT)):
        event = entry.dagster_event
        if event is None or event.step_key != step_key or event.engine_event_data is None:
            continue
        meta = event.engine_event_data.metadata
        if "submitit_job_id" in meta and "job_name" in meta:
            excluded = str(meta["excluded_nodes"].value) if "excluded_nodes" in meta else "none"
            return JobRecord(
                str(meta["submitit_job_id"].value),
                str(meta["job_name"].value),
                step_key,
                int(meta["attempt"].value),
                folder / run_id,
                excluded=[n for n in excluded.split(",") if n and n != "none"],
            )
    return None


class SubmititStepHandler(StepHandler):
    """Launch / watch / cancel one submitit job per step (see the package docstring)."""

    def __init__(self, config: SubmititConfig) -> None:
        self.config = config
        self.jobs: dict[tuple[str, str], JobRecord] = {}  # (run id, step key) → latest job
        self.awaiting: list[JobRecord] = []  # steps that have ended, jobs not yet (post-job event)
        self.poller = SacctPoller(config.poll_interval_s)
        # the container's binds and variables, resolved once per run (settings, DAGSTER_HOME)
        self.shared = None if config.container is None else shared_paths(config.container, config.folder)

    @property
    def name(self) -> str:
        return f"submitit-{self.config.mode}"

    def _step_key(self, ctx: StepHandlerContext) -> str:
        keys = ctx.execute_step_args.step_keys_to_execute
        if keys is None or len(keys) != 1:
            raise ValueError(f"a submitit job runs one step; Dagster asked for {keys}")
        return keys[0]

    def _folder(self, run_id: str) -> Path:
        root = self.config.folder
        root.mkdir(parents=True, exist_ok=True)
        os.chmod(root, 0o700)  # the pickles in it execute on the nodes
        folder = root / run_id
        folder.mkdir(mode=0o700, exist_ok=True)
        return folder

    def _executor(
        self, folder: Path, req: Mapping[str, Any], name: str, exclude: list[str] | None = None
    ) -> submitit.AutoExecutor:
        mode = self.config.mode
        kwargs: dict[str, Any] = {}
        if mode == "slurm":
            kwargs["slurm_python"] = self.config.python
        elif mode == "local":
            kwargs["local_python"] = self.config.python
        ex = submitit.AutoExecutor(folder=folder, cluster=mode, **kwargs)
        params: dict[str, Any] = {"name": name, "timeout_min": int(req["time_min"])}
        if mode == "slurm":
            extra = {"no_requeue": True, **self.config.extra}
            if exclude:
                extra["exclude"] = ",".join(exclude)
            if self.config.account:
                extra["account"] = self.config.account
            params.update(
                slurm_partition=req["partition"],
                cpus_per_task=int(req["cpus"]),
                slurm_mem=f"{int(float(req['mem_gb']) * 1024)}M",
                slurm_signal_delay_s=self.config.signal_delay_s,
                slurm_setup=list(self.config.setup),
                slurm_additional_parameters=extra,
            )
            if int(req["gpus"]) > 0:
                params["gpus_per_node"] = int(req["gpus"])
            if self.config.qos:
                params["slurm_qos"] = self.config.qos
        ex.update_parameters(**params)
        return ex

    def launch_step(self, step_handler_context: StepHandlerContext) -> Iterator[DagsterEvent]:
        ctx = step_handler_context
        step_key = self._step_key(ctx)
        run = ctx.dagster_run
        known = ctx.execute_step_args.known_state
        attempt = known.get_retry_state().get_attempt_count(step_key) if known else 0
        req = step_requests(self.config, ctx.step_tags[step_key], run.tags)
        name = job_name(run.run_id, step_key, attempt)
        folder = self._folder(run.run_id)
        env = {e["name"]: e["value"] for e in ctx.execute_step_args.get_command_env()}
        exclude, why = self._nodes_to_avoid(ctx, step_key) if attempt > 0 else ([], "")
        ex = self._executor(folder, req, name, exclude)
        container = self._container(req)
        job = ex.submit(run_dagster_step, env, self.config.signal_delay_s, container)
        record = JobRecord(str(job.job_id), name, step_key, attempt, folder, job=job, excluded=exclude)
        self.jobs[(run.run_id, step_key)] = record
        yield DagsterEvent.engine_event(
            ctx.get_step_context(step_key),
            f"Submitted step {step_key} (attempt {attempt}) as {self.config.mode} job {record.job_id} "
            f"'{name}': partition {req['partition']}, {req['cpus']} CPUs, {req['gpus']} GPUs, "
            f"{req['mem_gb']} GB, {req['time_min']} min{why}",
            EngineEventData(
                metadata={
                    "excluded_nodes": ",".join(exclude) or "none",
                    "submitit_job_id": record.job_id,
                    "job_name": name,
                    "attempt": attempt,
                    "mode": self.config.mode,
                    "partition": str(req["partition"]),
                    "gpus": int(req["gpus"]),
                    "cpus": int(req["cpus"]),
                    "stdout": MetadataValue.path(str(record.stdout)),
                    "stderr": MetadataValue.path(str(record.stderr)),
                    **(
                        {"container": f"{container.config.runtime} {container.config.image}"}
                        if container is not None
                        else {}
                    ),
                }
            ),
        )

    def _container(self, req: Mapping[str, Any]) -> ContainerStep | None:
        """The step's container (None: the node's python), its shared paths checked here first
        (the node checks everything again, before any work: see container_checks)."""
        if self.config.container is None or self.shared is None:
            return None
        step = container_step(self.config.container, self.shared, int(req["gpus"]))
        check_container(step.config, step.binds, on_node=False)
        return step

    def _nodes_to_avoid(self, ctx: StepHandlerContext, step_key: str) -> tuple[list[str], str]:
        """A retry stays off the nodes where an earlier attempt's job failed with its node
        (``NODE_FAIL``, ``BOOT_FAIL``): those, and what that attempt excluded; and a note why."""
        previous = self._record(ctx, step_key)
        if previous is None or self.config.mode != "slurm":
            return [], ""
        info = self.poller.states(sorted(self._watched_ids() | {previous.job_id}), force=True).get(
            previous.job_id, {}
        )
        state, node = base_state(info), info.get("NodeList", "")
        exclude = list(previous.excluded)
        if (
            state in NODE_FAILURES
            and node
            and node not in ("None assigned", "(null)")
            and node not in exclude
        ):
            exclude.append(node)
        why = (
            f"; excluding {','.join(exclude)} (job {previous.job_id} ended {state} there)" if exclude else ""
        )
        return exclude, why

    def _record(self, ctx: StepHandlerContext, step_key: str) -> JobRecord | None:
        """The step's latest job, from memory or — after a restart — from the run's engine events."""
        run_id = ctx.dagster_run.run_id
        if (run_id, step_key) not in self.jobs:
            record = recorded_job(ctx.instance, run_id, step_key, self.config.folder)
            if record is None:
                return None
            self.jobs[(run_id, step_key)] = record
        return self.jobs[(run_id, step_key)]

    def _watched_ids(self) -> set[str]:
        """Every job sacct is asked about: running ones, and ended steps awaiting their job's end."""
        running = {r.job_id for r in self.jobs.values() if r.finished_seen is None and not r.reported}
        return running | {r.job_id for r in self.awaiting}

    def job_state(self, record: JobRecord) -> dict[str, str]:
        """Slurm fields of the job (slurm mode), or a state derived from the local process."""
        if self.config.mode == "slurm":
            ids = sorted(self._watched_ids() | {record.job_id})
            return self.poller.states(ids).get(record.job_id, {"State": "PENDING"})
        job = record.job
        if job is None:
            return {"State": "UNKNOWN"}
        if not job.done():
            return {"State": "RUNNING"}
        return {"State": "FAILED" if job.exception() is not None else "COMPLETED"}

    def check_step_health(self, step_handler_context: StepHandlerContext) -> CheckStepHealthResult:
        step_key = self._step_key(step_handler_context)
        record = self._record(step_handler_context, step_key)
        if record is None:
            return CheckStepHealthResult.unhealthy(f"no job was recorded for step {step_key}")
        info = self.job_state(record)
        state = base_state(info)
        if not is_terminal(state) or state == "UNKNOWN":
            return CheckStepHealthResult.healthy()
        now = time.time()
        if record.finished_seen is None:
            record.finished_seen = now
        # the step writes its events before its job ends: give the event log a moment to be read
        if state == "COMPLETED" and now - record.finished_seen < 3 * self.config.poll_interval_s:
            return CheckStepHealthResult.healthy()
        return CheckStepHealthResult.unhealthy(self.failure_reason(record, info))

    def failure_reason(self, record: JobRecord, info: Mapping[str, str]) -> str:
        return failure_reason(record, info)

    def terminate_step(self, step_handler_context: StepHandlerContext) -> Iterator[DagsterEvent]:
        step_key = self._step_key(step_handler_context)
        record = self._record(step_handler_context, step_key)
        if record is None:
            return
        if self.config.mode == "slurm":
            subprocess.run(["scancel", record.job_id], check=False, capture_output=True, timeout=60)
        elif record.job is not None:
            record.job.cancel(check=False)
        yield DagsterEvent.engine_event(
            step_handler_context.get_step_context(step_key),
            f"Cancelled job {record.job_id} of step {step_key}",
            EngineEventData(metadata={"submitit_job_id": record.job_id}),
        )

    # -- after a step: one engine event with the job's figures and log tails, once the job ended

    def step_ended(self, run_id: str, step_key: str) -> None:
        """The executor saw the step's success, failure or retry: wait for its job to end."""
        record = self.jobs.get((run_id, step_key))
        if record is not None and not record.reported and record.step_ended is None:
            record.step_ended = time.monotonic()
            self.awaiting.append(record)

    def steps_in_flight(self, run_id: str) -> bool:
        """Whether a job of the run has neither ended its step nor been reported (an interrupted run)."""
        return any(
            rid == run_id and not r.reported and r.step_ended is None for (rid, _), r in self.jobs.items()
        )

    def finished_jobs(self, wait: bool = True) -> list[PostJobEvent]:
        """The post-job events of awaiting jobs that Slurm now reports ended — or that have been
        awaited ``finish_wait_s`` (or all of them when ``wait`` is false). Never blocks: in slurm
        mode one rate-limited sacct call serves every watched job (see :class:`SacctPoller`)."""
        events = []
        for record in list(self.awaiting):
            info = self.job_state(record)
            ended = is_terminal(base_state(info))
            waited = time.monotonic() - (record.step_ended or 0.0)
            if ended or not wait or waited >= self.config.finish_wait_s:
                self.awaiting.remove(record)
                record.reported = True
                record.finished_seen = record.finished_seen or time.time()
                events.append(post_job_event(record, info, self.config.mode, ended, waited))
        return events


class SubmititExecutor(StepDelegatingExecutor):
    """The step-delegating executor, plus one engine event with the job's figures after each job."""

    def __init__(self, handler: SubmititStepHandler, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._handler = handler
        self._used: list[tuple[str, Mapping[str, Any]]] = []  # (step key, post-job figures)

    def execute(self, plan_context: Any, execution_plan: Any) -> Iterator[DagsterEvent]:
        handler = self._handler
        owner = orchestrator_metadata()  # read by `sec-assets recover` if this process dies
        yield DagsterEvent.engine_event(
            plan_context,
            f"{ORCHESTRATOR_EVENT}{owner['orchestrator_host']} pid {owner['orchestrator_pid']}",
            EngineEventData(metadata=owner),
        )
        for event in super().execute(plan_context, execution_plan):
            yield event
            if event.step_key and (
                event.is_step_success or event.is_step_failure or event.is_step_up_for_retry
            ):
                handler.step_ended(plan_context.run_id, event.step_key)
            self._report(plan_context, execution_plan, wait=True)
        # the run is complete: wait (polling as before) for the jobs of its last steps to end —
        # unless it was interrupted, then report what is known now
        interrupted = handler.steps_in_flight(plan_context.run_id)
        self._report(plan_context, execution_plan, wait=not interrupted)
        while handler.awaiting:
            time.sleep(handler.config.poll_interval_s)
            self._report(plan_context, execution_plan, wait=not interrupt_requested())
        summary = run_summary(self._used)
        if summary is not None:  # node-hours per step (asset) of the run, in the run's log
            message, total, table = summary
            data = EngineEventData(metadata={"node_hours_total": total, "by_step": MetadataValue.md(table)})
            DagsterEvent.engine_event(plan_context, message, data)

    def _report(self, plan_context: Any, execution_plan: Any, wait: bool) -> None:
        if not self._handler.awaiting:
            return
        for post in self._handler.finished_jobs(wait):
            self._used.append((post.step_key, post.metadata))
            step = execution_plan.get_step_by_key(post.step_key)
            DagsterEvent.engine_event(
                plan_context.for_step(step), post.message, EngineEventData(metadata=post.metadata)
            )


@executor(
    name="submitit",
    config_schema=CONFIG_SCHEMA,
    requirements=multiple_process_executor_requirements(),
)
def submitit_executor(init_context: Any) -> SubmititExecutor:
    """Every step as a submitit job: on Slurm (``mode: slurm``), as local processes or in-process.

    Settings left unset in the run's config come from the environment (read here, once per run)."""
    config = SubmititConfig.from_dagster(init_context.executor_config)
    return SubmititExecutor(
        SubmititStepHandler(config),
        retries=retry_mode(init_context.executor_config["retries"]),
        max_concurrent=config.max_concurrent,
        check_step_health_interval_seconds=max(1, int(config.poll_interval_s)),
        sleep_seconds=min(1.0, config.poll_interval_s),
        should_verify_step=True,
    )
