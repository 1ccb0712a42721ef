"""``submitit``: a Dagster executor that runs every step as a submitit job — on Slurm, or locally.

Design (Dagster's step-delegating pattern, as dagster-docker and dagster-k8s use it): the
orchestrating process (the CLI, the daemon's run worker, or ``materialize``) submits each step as
one job that runs ``python -m dagster api execute_step`` on a node; the step opens the same
Dagster instance (so run/event storage must be reachable from every node: Postgres on a cluster,
see ``dagster.cluster.yaml``) and writes its events there; the orchestrator learns what happened
by polling that event log, and asks Slurm about the jobs themselves with **one** ``sacct`` call
per poll interval for every job it watches (running ones, and those whose step has ended but
whose job has not yet).

Modes: ``slurm`` (sbatch through submitit), ``local`` (submitit's local executor: subprocesses on
this machine) and ``debug`` (submitit's in-process executor, for pdb).

Modules, along the seams: :mod:`~sec_assets.executor.config` (config schema, environment,
requests, job names), :mod:`~sec_assets.executor.node` (the wrapper that runs on the node),
:mod:`~sec_assets.executor.protocol` (wrapper ↔ step resource: env flags, the time-limit signal
and error; no Dagster), :mod:`~sec_assets.executor.sacct` (Slurm's answers),
:mod:`~sec_assets.executor.jobs` (the record of a submitted job),
:mod:`~sec_assets.executor.report` (failure reasons, the post-job event),
:mod:`~sec_assets.executor.container` (the ``container`` setting and the command that runs a step
inside it), :mod:`~sec_assets.executor.container_checks` (what the node checks before the step;
the image's identity), :mod:`~sec_assets.executor.container_plan` (a run's shared paths) and
:mod:`~sec_assets.executor.handler` (the step handler and the executor). Dagster's private
step-delegating API comes through :mod:`sec_assets.dagster_seam`.

What a user gets:

- **Requests per asset** from the op tag ``sec/resources`` (JSON: ``gpus``, ``cpus``, ``mem_gb``,
  ``partition``, ``time_min``); a step asking for GPUs goes to ``gpu_partition`` unless it names
  a partition. **Per-run overrides** from run tags ``sec/slurm/<key>`` (same keys, e.g.
  ``sec/slurm/time_min=120``). The step's torch threads follow ``SLURM_CPUS_PER_TASK``.
- **Settings** from the run's ``execution: config:``, else from ``SEC_EXECUTOR``, ``SEC_SLURM_*``
  and ``SEC_SUBMITIT_*`` (:data:`~sec_assets.executor.config.ENV_SETTINGS`), read when the
  executor starts a run, never at import; a bad value is refused with a message naming the
  variable and what it allows.
- **Deterministic job names** ``sec-<run id[:8]>-<step>-a<attempt>``; every job id is recorded as
  an engine event, so an orchestrator that restarts finds its jobs again in the event log.
- **Failures with a reason**: a job that ends without the step reporting (scancel, node failure,
  out of memory, time limit, a crash on import) becomes a step failure whose message carries the
  Slurm state, exit code, node and the tail of the job's stderr — and Dagster retries it under
  the asset's ``RetryPolicy``. Cancelling the Dagster run ``scancel``s every job of the run.
- **Time limit**: Slurm signals the job ``signal_delay_s`` before its limit (``--signal=USR2``);
  the wrapper forwards it to the step as SIGUSR1 (repeated until the step stops), and
  :class:`~sec_assets.resources.SecResource` turns that into a :class:`SlurmTimeLimitError` — a
  ``BaseException``, so no per-file ``except Exception`` can swallow it; the asset boundary
  (``sec_assets.defs._shared.asset_boundary``) re-raises it as ``SlurmTimeLimitReached``, an
  ordinary failure: the step stops cleanly (every write is atomic, nothing of the partition is
  committed), fails with "time limit" in its message, and its ``RetryPolicy`` runs it again as a
  new job. If the limit comes first, the job ends TIMEOUT and the failure says that.
- **Metrics**: after each job, an engine event with sacct's node, elapsed, MaxRSS, allocated TRES
  (GPUs included) and exit code, and the paths and tails of the job's stdout/stderr. It is
  produced once Slurm reports the job ended (then its logs are complete; the step's own events
  reach the event log before its job has finished writing), without blocking the executor; a job
  still not ended ``finish_wait_s`` after its step gets the event anyway, saying so. The step
  itself adds its node, CPUs, GPUs and peak RSS to its materialization metadata.
- **Preemption**: not requeued. Jobs are submitted with ``--no-requeue``; a preempted job ends
  PREEMPTED/CANCELLED and the step is retried as a new job under its ``RetryPolicy`` (resumable
  steps such as ``clap_embeddings`` continue from their committed shards).

The job folder (pickles that execute on the nodes) is created with mode 0700. Jobs pickle the
wrapper by reference; those queued before this became a package name
``sec_assets.executor.run_dagster_step``, which stays importable from here.
"""

import importlib
from typing import TYPE_CHECKING, Any

# the node-side wrapper and the protocol import no Dagster: a job's interpreter reaches the
# wrapper's signal handlers within a fraction of a second of starting (Slurm's early time-limit
# signal can come soon after the job starts), so everything else here is imported on first use
from sec_assets.executor.node import run_dagster_step
from sec_assets.executor.protocol import TIME_LIMIT_SIGNAL, SlurmTimeLimitError, install_time_limit_handler

_LAZY = {
    **dict.fromkeys(
        (
            "CONFIG_SCHEMA",
            "ENV_SETTINGS",
            "EXECUTOR_MODES",
            "RESOURCE_TAG",
            "RUN_TAG_PREFIX",
            "ExecutorConfigError",
            "SubmititConfig",
            "env_defaults",
            "executor_mode",
            "job_name",
            "step_requests",
        ),
        "sec_assets.executor.config",
    ),
    "JobRecord": "sec_assets.executor.jobs",
    **dict.fromkeys(
        ("SubmititExecutor", "SubmititStepHandler", "recorded_job", "submitit_executor"),
        "sec_assets.executor.handler",
    ),
    **dict.fromkeys(
        ("ACTIVE_STATES", "STATE_HINTS", "SacctPoller", "parse_sacct"), "sec_assets.executor.sacct"
    ),
}

if TYPE_CHECKING:
    from sec_assets.executor.config import (
        CONFIG_SCHEMA,
        ENV_SETTINGS,
        EXECUTOR_MODES,
        RESOURCE_TAG,
        RUN_TAG_PREFIX,
        ExecutorConfigError,
        SubmititConfig,
        env_defaults,
        executor_mode,
        job_name,
        step_requests,
    )
    from sec_assets.executor.handler import (
        SubmititExecutor,
        SubmititStepHandler,
        recorded_job,
        submitit_executor,
    )
    from sec_assets.executor.jobs import JobRecord
    from sec_assets.executor.sacct import ACTIVE_STATES, STATE_HINTS, SacctPoller, parse_sacct


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'sec_assets.executor' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "ACTIVE_STATES",
    "CONFIG_SCHEMA",
    "ENV_SETTINGS",
    "EXECUTOR_MODES",
    "RESOURCE_TAG",
    "RUN_TAG_PREFIX",
    "STATE_HINTS",
    "TIME_LIMIT_SIGNAL",
    "ExecutorConfigError",
    "JobRecord",
    "SacctPoller",
    "SlurmTimeLimitError",
    "SubmititConfig",
    "SubmititExecutor",
    "SubmititStepHandler",
    "env_defaults",
    "executor_mode",
    "install_time_limit_handler",
    "job_name",
    "parse_sacct",
    "recorded_job",
    "run_dagster_step",
    "step_requests",
    "submitit_executor",
]
