"""The protocol between the job wrapper on the node and the step's resource, defined once.

The wrapper (:func:`sec_assets.executor.node.run_dagster_step`) starts the step with
:data:`STEP_ENV_FLAG` and :data:`SIGNAL_DELAY_ENV` in its environment; when Slurm signals the time
limit it sends the step :data:`TIME_LIMIT_SIGNAL`, repeated every :data:`STOP_REPEAT_S` seconds
until the step has stopped. In the step, :func:`install_time_limit_handler` (called by
``SecResource.setup_for_execution``) turns that signal into :class:`SlurmTimeLimitError`.

No Dagster here: the step's resource and the wrapper both import this module.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Mapping
from typing import Any

STEP_ENV_FLAG = "SEC_SLURM_STEP"  # "1" in the step process started by the wrapper
SIGNAL_DELAY_ENV = "SEC_SLURM_SIGNAL_DELAY_S"  # seconds between Slurm's signal and the limit
TIME_LIMIT_SIGNAL = signal.SIGUSR1  # what the wrapper sends the step before the time limit
STOP_REPEAT_S = 5.0  # the wrapper repeats it this often until the step has stopped
# printed by the wrapper to the job's stderr; the executor looks for it to explain a failure
TIME_LIMIT_NOTICE = "Slurm signalled the time limit"
# what srun prints when Slurm's early signal (USR2, ``--signal=USR2@signal_delay_s``) kills a task
# that has no handler yet: the interpreter was still starting (imports, unpickling the job) when
# the signal came, so neither the wrapper nor the step could stop cleanly
EARLY_SIGNAL_KILLED = "User defined signal 2"


class SlurmTimeLimitError(BaseException):
    """Raised inside a step that Slurm signalled before its time limit.

    A ``BaseException`` (like ``KeyboardInterrupt``, but not one), not an ``Exception``: the
    signal can arrive anywhere in the asset's code, including inside per-file error handling
    (``except Exception`` around one file, ``except RuntimeError`` around a probe). A stop request
    must never be swallowed there and recorded as that file's failure; it has to end the step.
    The asset boundary (``sec_assets.defs._shared.asset_boundary``) turns it into
    :class:`SlurmTimeLimitReached`, an ordinary step failure, once no per-file code is left above it.
    """


class SlurmTimeLimitReached(RuntimeError):
    """The step stopped at the time limit (raised from :class:`SlurmTimeLimitError` at the asset's
    boundary): an ordinary failure, so the asset's ``RetryPolicy`` runs it again as a new job with
    a fresh limit — a resumable step such as ``clap_embeddings`` continues from its committed
    shards."""


# Dagster mirrors a step's captured output to the process's real stderr (the job's log) with a
# ``tail -F`` child that it terminates the moment the step ends, before tail (1-s poll) has copied
# the last lines: a job's log lost its final lines (``STEP_SUCCESS``…) — 2 of 4 jobs in one run on
# a loaded 2-core machine, while Dagster's own captured log had them (Dagster issue 23336; their
# knob). The wrapper gives the tail this long, unless the user set it. Dagster sleeps it once per
# mirrored stream and capture (the step's and the step process's, nested): with 3 s a job spent
# ≈ 7 s after STEP_SUCCESS (seen with py-spy), on every job. GNU tail -F follows with inotify
# (measured: a line copied in 1–8 ms) and polls each second only without it (inotify instances
# exhausted), so 1.5 s covers one poll with room.
COMPUTE_LOG_TAIL_WAIT_ENV = "DAGSTER_COMPUTE_LOG_TAIL_WAIT_AFTER_FINISH"
COMPUTE_LOG_TAIL_WAIT_S = "1.5"


def step_env(signal_delay_s: int, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """What the wrapper adds to the step's environment."""
    environ = os.environ if environ is None else environ
    return {
        STEP_ENV_FLAG: "1",
        SIGNAL_DELAY_ENV: str(signal_delay_s),
        COMPUTE_LOG_TAIL_WAIT_ENV: environ.get(COMPUTE_LOG_TAIL_WAIT_ENV) or COMPUTE_LOG_TAIL_WAIT_S,
    }


def time_limit_message() -> str:
    delay = os.environ.get(SIGNAL_DELAY_ENV, "?")
    return (
        f"Slurm time limit: job {os.environ.get('SLURM_JOB_ID', '?')} was signalled {delay} s before "
        "its time limit and stopped cleanly (nothing partial was written). Raise time_min in the "
        "asset's sec/resources tag or with the run tag sec/slurm/time_min."
    )


def install_time_limit_handler() -> bool:
    """In a step started by the wrapper (and in the main thread), make :data:`TIME_LIMIT_SIGNAL`
    raise :class:`SlurmTimeLimitError`. Returns whether the handler was installed.

    Elsewhere (``materialize()`` in a notebook, Dagster's own executors, debug mode's threads)
    nothing changes. Slurm's own USR2 stays ignored in the step: the wrapper forwards it; SIGTERM
    is the wrapper's too (it kills the step's process group).
    """
    if os.environ.get(STEP_ENV_FLAG) != "1" or threading.current_thread() is not threading.main_thread():
        return False

    def time_limit(signum: int, _frame: Any) -> None:
        raise SlurmTimeLimitError(time_limit_message())

    signal.signal(TIME_LIMIT_SIGNAL, time_limit)
    return True
