"""``submitit``: a Dagster executor that runs every step as a submitit job — on Slurm, or locally.

Design (Dagster's step-delegating pattern, as dagster-docker and dagster-k8s use it): the
orchestrating process (the CLI, the daemon's run worker, or ``materialize``) submits each step as
one job that runs ``python -m dagster api execute_step`` on a node; the step opens the same
Dagster instance (so run/event storage must be reachable from every node: Postgres on a cluster,
see ``dagster.cluster.yaml``) and writes its events there; the orchestrator learns what happened
by polling that event log, and asks Slurm about the jobs themselves with **one** ``sacct`` call
for all running jobs per poll interval.

Modes: ``slurm`` (sbatch through submitit), ``local`` (submitit's local executor: subprocesses on
this machine) and ``debug`` (submitit's in-process executor, for pdb).

What a user gets:

- **Requests per asset** from the op tag ``sec/resources`` (JSON: ``gpus``, ``cpus``, ``mem_gb``,
  ``partition``, ``time_min``); a step asking for GPUs goes to ``gpu_partition`` unless it names
  a partition. **Per-run overrides** from run tags ``sec/slurm/<key>`` (same keys, e.g.
  ``sec/slurm/time_min=120``). The step's torch threads follow ``SLURM_CPUS_PER_TASK``.
- **Deterministic job names** ``sec-<run id[:8]>-<step>-a<attempt>``; every job id is recorded as
  an engine event, so an orchestrator that restarts finds its jobs again in the event log.
- **Failures with a reason**: a job that ends without the step reporting (scancel, node failure,
  out of memory, time limit, a crash on import) becomes a step failure whose message carries the
  Slurm state, exit code, node and the tail of the job's stderr — and Dagster retries it under
  the asset's ``RetryPolicy``. Cancelling the Dagster run ``scancel``s every job of the run.
- **Time limit**: Slurm signals the job ``signal_delay_s`` before its limit (``--signal=USR2``);
  the wrapper forwards it to the step as SIGUSR1 (repeated until the step stops), and
  :class:`~sec_assets.resources.SecResource` turns that into a ``SlurmTimeLimitError`` whose
  message says so — the step stops cleanly (every write is atomic) and fails with "time limit"
  in its message. If the limit comes first, the job ends TIMEOUT and the failure says that.
- **Metrics**: after each job, an engine event with sacct's node, elapsed, MaxRSS, allocated TRES
  (GPUs included) and exit code, and the paths of the job's stdout/stderr; the step itself adds
  its node, CPUs, GPUs and peak RSS to its materialization metadata.
- **Preemption**: not requeued. Jobs are submitted with ``--no-requeue``; a preempted job ends
  PREEMPTED/CANCELLED and the step is retried as a new job under its ``RetryPolicy`` (resumable
  steps such as ``clap_embeddings`` continue from their committed shards).

The job folder (pickles that execute on the nodes) is created with mode 0700.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import submitit
from dagster import Field, MetadataValue, Noneable, Permissive, executor
from dagster import _check as check
from dagster._core.definitions.executor_definition import multiple_process_executor_requirements
from dagster._core.events import DagsterEvent, DagsterEventType, EngineEventData
from dagster._core.execution.retries import RetryMode, get_retries_config
from dagster._core.executor.step_delegating import (
    CheckStepHealthResult,
    StepDelegatingExecutor,
    StepHandler,
    StepHandlerContext,
)

RESOURCE_TAG = "sec/resources"
RUN_TAG_PREFIX = "sec/slurm/"
REQUEST_KEYS = ("gpus", "cpus", "mem_gb", "partition", "time_min")
STEP_ENV_FLAG = "SEC_SLURM_STEP"  # set for the step process: SecResource installs its signal handlers
TIME_LIMIT_SIGNAL = signal.SIGUSR1  # what the wrapper forwards to the step before the time limit
STOP_REPEAT_S = 5.0  # the wrapper repeats it until the step has stopped
ACTIVE_STATES = {"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "REQUEUED", "RESIZING", "SUSPENDED"}
STATE_HINTS = {
    "TIMEOUT": "the job reached its Slurm time limit (raise time_min in the asset's sec/resources tag "
    "or the run tag sec/slurm/time_min)",
    "OUT_OF_MEMORY": "the job ran out of memory (raise mem_gb)",
    "CANCELLED": "the job was cancelled (scancel, an administrator or preemption)",
    "PREEMPTED": "the job was preempted",
    "NODE_FAIL": "the node failed",
    "BOOT_FAIL": "the node failed to boot",
    "DEADLINE": "the job passed its deadline",
    "FAILED": "the job's process exited with an error",
    "COMPLETED": "the job finished but the step reported no result",
}


class SlurmTimeLimitError(RuntimeError):
    """Raised inside a step that Slurm signalled before its time limit."""


# ---------------------------------------------------------------------------------------------
# what runs on the node


def run_dagster_step(env: Mapping[str, str], signal_delay_s: int) -> int:
    """Run ``dagster api execute_step`` as a child with ``env`` added; forward the time-limit signal.

    Submitted to submitit (pickled by reference: this module must be importable on the nodes,
    which it is wherever the step can run). ``sys.executable`` is the node's python.
    """
    # The step runs in its own process group. On SIGTERM (scancel, preemption, node drain) this
    # wrapper SIGKILLs that group at once, before the step's own interrupt handling can report a
    # misleading "interrupted" failure (Slurm signals the processes of a job in PID order: this
    # wrapper first); the executor then reports the job's Slurm state and stderr tail, under the
    # asset's RetryPolicy. Every write of a step is atomic, so nothing partial remains.
    # Slurm's early USR2 reaches every process of the job. The step starts with USR1 and USR2
    # ignored (SIG_IGN survives exec; a handler would not), so an early signal cannot kill it
    # during start-up; SecResource then handles USR1, which this wrapper sends — and repeats
    # every few seconds until the step has stopped, in case one lands outside the asset's code.
    in_main = threading.current_thread() is threading.main_thread()  # debug mode: the orchestrator
    ignored = (
        {sig: signal.signal(sig, signal.SIG_IGN) for sig in (TIME_LIMIT_SIGNAL, signal.SIGUSR2)}
        if in_main
        else {}
    )
    try:
        child = subprocess.Popen(
            [sys.executable, "-m", "dagster", "api", "execute_step"],
            env={**os.environ, **env, STEP_ENV_FLAG: "1", "SEC_SLURM_SIGNAL_DELAY_S": str(signal_delay_s)},
            start_new_session=True,
        )
    finally:
        for sig, handler in ignored.items():
            signal.signal(sig, handler)
    stop_requested: list[float] = []

    def forward(signum: int, _frame: Any) -> None:
        print(
            f"sec_assets: Slurm signalled the time limit ({signal.Signals(signum).name}, "
            f"{signal_delay_s} s ahead); asking the step to stop",
            file=sys.stderr,
            flush=True,
        )
        stop_requested.append(time.monotonic())
        child.send_signal(TIME_LIMIT_SIGNAL)

    def terminated(signum: int, _frame: Any) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)
        print(
            f"sec_assets: got {signal.Signals(signum).name} from Slurm (scancel, preemption or node "
            "drain); the step process was stopped",
            file=sys.stderr,
            flush=True,
        )

    handlers = {signal.SIGTERM: terminated, signal.SIGUSR2: forward}  # USR2: not submitit's requeue
    previous = {sig: signal.signal(sig, handler) for sig, handler in handlers.items()} if in_main else {}
    try:
        while True:
            try:
                code = child.wait(timeout=1.0)
                break
            except subprocess.TimeoutExpired:
                if stop_requested and time.monotonic() - stop_requested[-1] >= STOP_REPEAT_S:
                    stop_requested.append(time.monotonic())
                    child.send_signal(TIME_LIMIT_SIGNAL)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if code != 0:
        raise RuntimeError(f"the step process exited with code {code}")
    return code


# ---------------------------------------------------------------------------------------------
# Slurm queries


@dataclass
class JobRecord:
    job_id: str
    name: str
    step_key: str
    attempt: int
    folder: Path
    submitted: float = field(default_factory=time.time)
    finished_seen: float | None = None  # when a terminal state was first seen
    job: Any = None  # the submitit Job (None after an orchestrator restart)

    @property
    def stdout(self) -> Path:
        return submitit.core.utils.JobPaths(self.folder, job_id=self.job_id, task_id=0).stdout

    @property
    def stderr(self) -> Path:
        return submitit.core.utils.JobPaths(self.folder, job_id=self.job_id, task_id=0).stderr


class SacctPoller:
    """Job states for many jobs from one ``sacct`` call, refreshed at most every ``interval`` s."""

    FIELDS = ("JobID", "State", "ExitCode", "NodeList", "Elapsed", "MaxRSS", "AllocTRES")

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._rows: dict[str, dict[str, str]] = {}
        self._last = 0.0
        self.calls = 0

    def query(self, job_ids: Sequence[str]) -> dict[str, dict[str, str]]:
        """JobID → fields (the allocation's row; MaxRSS from its steps)."""
        if not job_ids:
            return {}
        self.calls += 1
        out = subprocess.run(
            ["sacct", "-P", "-n", "-j", ",".join(job_ids), "-o", ",".join(self.FIELDS)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        return parse_sacct(out.stdout, self.FIELDS)

    def states(self, job_ids: Sequence[str], force: bool = False) -> dict[str, dict[str, str]]:
        if force or time.monotonic() - self._last >= self.interval:
            self._rows.update(self.query(job_ids))
            self._last = time.monotonic()
        return {j: self._rows[j] for j in job_ids if j in self._rows}


def parse_sacct(text: str, fields: Sequence[str]) -> dict[str, dict[str, str]]:
    """``sacct -P -n`` lines → JobID → the allocation's fields, with the largest MaxRSS of its
    steps (MaxRSS is reported on steps such as ``123.batch``, ``123.0``, not the allocation)."""
    rows: dict[str, dict[str, str]] = {}
    for line in text.splitlines():
        values = dict(zip(fields, line.split("|"), strict=False))
        job, _, step = values.get("JobID", "").partition(".")
        if not job:
            continue
        current = rows.setdefault(job, {})
        if not step:
            current.update({k: v for k, v in values.items() if k != "MaxRSS" or v})
        elif _rss_bytes(values.get("MaxRSS", "")) > _rss_bytes(current.get("MaxRSS", "")):
            current["MaxRSS"] = values["MaxRSS"]
    return rows


def _rss_bytes(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)([KMGT]?)", text.strip())
    if not match:
        return 0.0
    return float(match.group(1)) * 1024 ** " KMGT".index(match.group(2) or " ")


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no file at {path})"


def recorded_job(instance: Any, run_id: str, step_key: str, folder: Path) -> JobRecord | None:
    """The latest job submitted for a step of a run, read back from the run's engine events
    (how an orchestrator that restarted finds the Slurm jobs it had submitted)."""
    for entry in reversed(instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT)):
        event = entry.dagster_event
        if event is None or event.step_key != step_key or event.engine_event_data is None:
            continue
        meta = event.engine_event_data.metadata
        if "submitit_job_id" in meta and "job_name" in meta:
            return JobRecord(
                str(meta["submitit_job_id"].value),
                str(meta["job_name"].value),
                step_key,
                int(meta["attempt"].value),
                folder / run_id,
            )
    return None


# ---------------------------------------------------------------------------------------------
# the step handler


@dataclass(frozen=True)
class SubmititConfig:
    mode: str
    folder: Path
    python: str
    setup: tuple[str, ...]
    partition: str | None
    gpu_partition: str
    account: str | None
    qos: str | None
    time_min: int
    cpus: int
    mem_gb: float
    signal_delay_s: int
    poll_interval_s: float
    extra: Mapping[str, Any]

    @classmethod
    def from_dagster(cls, config: Mapping[str, Any]) -> SubmititConfig:
        return cls(
            mode=config["mode"],
            folder=Path(config["folder"]).expanduser().absolute(),
            python=config["python"] or sys.executable,
            setup=tuple(config["setup"]),
            partition=config["partition"],
            gpu_partition=config["gpu_partition"],
            account=config["account"],
            qos=config["qos"],
            time_min=config["time_min"],
            cpus=config["cpus"],
            mem_gb=config["mem_gb"],
            signal_delay_s=config["signal_delay_s"],
            poll_interval_s=config["poll_interval_s"],
            extra=dict(config["slurm_additional_parameters"]),
        )


def step_requests(
    config: SubmititConfig, step_tags: Mapping[str, str], run_tags: Mapping[str, str]
) -> dict[str, Any]:
    """Defaults ← the asset's ``sec/resources`` tag ← run tags ``sec/slurm/<key>``."""
    req: dict[str, Any] = {
        "gpus": 0,
        "cpus": config.cpus,
        "mem_gb": config.mem_gb,
        "partition": None,
        "time_min": config.time_min,
    }
    if RESOURCE_TAG in step_tags:
        tag = step_tags[RESOURCE_TAG]
        req.update(
            {k: v for k, v in (json.loads(tag) if isinstance(tag, str) else tag).items() if k in REQUEST_KEYS}
        )
    for key in REQUEST_KEYS:
        value = run_tags.get(RUN_TAG_PREFIX + key)
        if value is not None:
            req[key] = value if key == "partition" else float(value) if key == "mem_gb" else int(value)
    if not req["partition"]:
        req["partition"] = config.gpu_partition if int(req["gpus"]) > 0 else config.partition
    return req


def job_name(run_id: str, step_key: str, attempt: int) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", f"sec-{run_id[:8]}-{step_key}-a{attempt}")[:120]


class SubmititStepHandler(StepHandler):
    """Launch / watch / cancel one submitit job per step (see the module docstring)."""

    def __init__(self, config: SubmititConfig) -> None:
        self.config = config
        self.jobs: dict[tuple[str, str], JobRecord] = {}  # (run id, step key) → latest job
        self.poller = SacctPoller(config.poll_interval_s)

    @property
    def name(self) -> str:
        return f"submitit-{self.config.mode}"

    def _step_key(self, ctx: StepHandlerContext) -> str:
        keys = ctx.execute_step_args.step_keys_to_execute
        check.invariant(keys is not None and len(keys) == 1, "one step per job")
        return keys[0]  # type: ignore[index]

    def _folder(self, run_id: str) -> Path:
        root = self.config.folder
        root.mkdir(parents=True, exist_ok=True)
        os.chmod(root, 0o700)  # the pickles in it execute on the nodes
        folder = root / run_id
        folder.mkdir(mode=0o700, exist_ok=True)
        return folder

    def _executor(self, folder: Path, req: Mapping[str, Any], name: str) -> submitit.AutoExecutor:
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
        ex = self._executor(folder, req, name)
        job = ex.submit(run_dagster_step, env, self.config.signal_delay_s)
        record = JobRecord(str(job.job_id), name, step_key, attempt, folder, job=job)
        self.jobs[(run.run_id, step_key)] = record
        yield DagsterEvent.engine_event(
            ctx.get_step_context(step_key),
            f"Submitted step {step_key} (attempt {attempt}) as {self.config.mode} job {record.job_id} "
            f"'{name}': partition {req['partition']}, {req['cpus']} CPUs, {req['gpus']} GPUs, "
            f"{req['mem_gb']} GB, {req['time_min']} min",
            EngineEventData(
                metadata={
                    "submitit_job_id": record.job_id,
                    "job_name": name,
                    "attempt": attempt,
                    "mode": self.config.mode,
                    "partition": str(req["partition"]),
                    "gpus": int(req["gpus"]),
                    "cpus": int(req["cpus"]),
                    "stdout": MetadataValue.path(str(record.stdout)),
                    "stderr": MetadataValue.path(str(record.stderr)),
                }
            ),
        )

    def _record(self, ctx: StepHandlerContext, step_key: str) -> JobRecord | None:
        """The step's latest job, from memory or — after a restart — from the run's engine events."""
        run_id = ctx.dagster_run.run_id
        if (run_id, step_key) not in self.jobs:
            record = recorded_job(ctx.instance, run_id, step_key, self.config.folder)
            if record is None:
                return None
            self.jobs[(run_id, step_key)] = record
        return self.jobs[(run_id, step_key)]

    def _running_ids(self) -> list[str]:
        return [r.job_id for r in self.jobs.values() if r.finished_seen is None]

    def job_state(self, record: JobRecord) -> dict[str, str]:
        """Slurm fields of the job (slurm mode), or a state derived from the local process."""
        if self.config.mode == "slurm":
            ids = sorted(set(self._running_ids()) | {record.job_id})
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
        state = info.get("State", "UNKNOWN").split()[0]
        if state in ACTIVE_STATES or state == "UNKNOWN":
            return CheckStepHealthResult.healthy()
        now = time.time()
        if record.finished_seen is None:
            record.finished_seen = now
        # the step writes its events before its job ends: give the event log a moment to be read
        if state == "COMPLETED" and now - record.finished_seen < 3 * self.config.poll_interval_s:
            return CheckStepHealthResult.healthy()
        return CheckStepHealthResult.unhealthy(self.failure_reason(record, info))

    def failure_reason(self, record: JobRecord, info: Mapping[str, str]) -> str:
        state = info.get("State", "UNKNOWN").split()[0]
        hint = STATE_HINTS.get(state, "the job ended without the step reporting a result")
        stderr = _tail(record.stderr)
        if "Slurm signalled the time limit" in stderr or state == "TIMEOUT":
            hint = STATE_HINTS["TIMEOUT"]
        return (
            f"Slurm job {record.job_id} ('{record.name}') ended {info.get('State', state)} "
            f"(exit {info.get('ExitCode', '?')}, node {info.get('NodeList', '?')}, "
            f"elapsed {info.get('Elapsed', '?')}): {hint}.\nstderr tail ({record.stderr}):\n{stderr}"
        )

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

    def finished_metadata(self, run_id: str, step_key: str, wait_s: float = 10.0) -> dict[str, Any] | None:
        """sacct figures of a step's job once it has ended (slurm mode), waiting a little for it."""
        record = self.jobs.get((run_id, step_key))
        if record is None or self.config.mode != "slurm":
            return None
        deadline = time.monotonic() + wait_s
        info: dict[str, str] = {}
        while time.monotonic() < deadline:
            info = self.poller.query([record.job_id]).get(record.job_id, {})
            if info.get("State", "PENDING").split()[0] not in ACTIVE_STATES:
                break
            time.sleep(0.5)
        record.finished_seen = record.finished_seen or time.time()
        return {
            "slurm_job_id": record.job_id,
            "slurm_state": info.get("State", "?"),
            "node": info.get("NodeList", "?"),
            "elapsed": info.get("Elapsed", "?"),
            "max_rss": info.get("MaxRSS", "?"),
            "alloc_tres": info.get("AllocTRES", "?"),
            "exit_code": info.get("ExitCode", "?"),
            "stdout": MetadataValue.path(str(record.stdout)),
            "stderr": MetadataValue.path(str(record.stderr)),
            "stdout_tail": MetadataValue.text(_tail(record.stdout, 40)),
            "stderr_tail": MetadataValue.text(_tail(record.stderr, 40)),
        }


class SubmititExecutor(StepDelegatingExecutor):
    """The step-delegating executor, plus one engine event with sacct figures after each job."""

    def __init__(self, handler: SubmititStepHandler, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._handler = handler

    def execute(self, plan_context: Any, execution_plan: Any) -> Iterator[DagsterEvent]:
        for event in super().execute(plan_context, execution_plan):
            yield event
            done = event.is_step_success or event.is_step_failure or event.is_step_up_for_retry
            if done and event.step_key:
                meta = self._handler.finished_metadata(plan_context.run_id, event.step_key)
                if meta:
                    step = execution_plan.get_step_by_key(event.step_key)
                    DagsterEvent.engine_event(
                        plan_context.for_step(step),
                        f"Slurm job {meta['slurm_job_id']} of {event.step_key}: {meta['slurm_state']} on "
                        f"{meta['node']}, elapsed {meta['elapsed']}, MaxRSS {meta['max_rss']}, "
                        f"TRES {meta['alloc_tres']}, exit {meta['exit_code']}",
                        EngineEventData(metadata=meta),
                    )


def _env(name: str, default: Any) -> Any:
    return os.environ.get(name, default)


CONFIG_SCHEMA = {
    "mode": Field(
        str, default_value=_env("SEC_EXECUTOR", "") or "local", description="slurm | local | debug"
    ),
    "folder": Field(
        str,
        default_value=_env("SEC_SUBMITIT_FOLDER", str(Path(_env("SEC_HOME", ".sec")) / "submitit")),
        description="job folder on storage every node sees (created 0700: its pickles execute there)",
    ),
    "python": Field(
        str,
        default_value=_env("SEC_NODE_PYTHON", ""),
        description="python command on the nodes: a venv's python, or `apptainer exec --nv <sif> python`"
        " (default: this interpreter)",
    ),
    "setup": Field([str], default_value=[], description="shell lines run before the step (module load …)"),
    "partition": Field(Noneable(str), default_value=_env("SEC_SLURM_PARTITION", None)),
    "gpu_partition": Field(str, default_value=_env("SEC_SLURM_GPU_PARTITION", "gpu")),
    "account": Field(Noneable(str), default_value=_env("SEC_SLURM_ACCOUNT", None)),
    "qos": Field(Noneable(str), default_value=_env("SEC_SLURM_QOS", None)),
    "time_min": Field(int, default_value=int(_env("SEC_SLURM_TIME_MIN", 60))),
    "cpus": Field(int, default_value=int(_env("SEC_SLURM_CPUS", 2))),
    "mem_gb": Field(float, default_value=float(_env("SEC_SLURM_MEM_GB", 4))),
    "signal_delay_s": Field(
        int,
        default_value=int(_env("SEC_SLURM_SIGNAL_DELAY_S", 60)),
        description="Slurm signals the step this long before its time limit",
    ),
    "slurm_additional_parameters": Field(Permissive(), default_value={}),
    "max_concurrent": Field(int, default_value=int(_env("SEC_SUBMITIT_MAX_CONCURRENT", 64))),
    "poll_interval_s": Field(float, default_value=float(_env("SEC_SUBMITIT_POLL_S", 5.0))),
    "retries": get_retries_config(),
}


@executor(
    name="submitit",
    config_schema=CONFIG_SCHEMA,
    requirements=multiple_process_executor_requirements(),
)
def submitit_executor(init_context: Any) -> SubmititExecutor:
    """Every step as a submitit job: on Slurm (``mode: slurm``), as local processes or in-process."""
    config = init_context.executor_config
    handler = SubmititStepHandler(SubmititConfig.from_dagster(config))
    return SubmititExecutor(
        handler,
        retries=check.not_none(RetryMode.from_config(config["retries"])),
        max_concurrent=config["max_concurrent"],
        check_step_health_interval_seconds=max(1, int(config["poll_interval_s"])),
        sleep_seconds=min(1.0, config["poll_interval_s"]),
        should_verify_step=True,
    )


EXECUTOR_MODES = ("slurm", "local", "debug")


def executor_mode(environ: Mapping[str, str] | None = None) -> str | None:  # TEMP: moves to executor/config
    mode = (os.environ if environ is None else environ).get("SEC_EXECUTOR", "").strip()
    if mode and mode not in EXECUTOR_MODES:
        raise ValueError(f"SEC_EXECUTOR must be one of {EXECUTOR_MODES} or unset, got {mode!r}")
    return mode or None
