"""What runs on the node: the job wrapper around ``dagster api execute_step``."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from typing import Any

from sec_assets.executor.container import (
    ContainerStep,
    kill_command,
    node_command,
    passed_env_names,
    runtime_env,
)
from sec_assets.executor.container_checks import check_container
from sec_assets.executor.protocol import STOP_REPEAT_S, TIME_LIMIT_NOTICE, TIME_LIMIT_SIGNAL, step_env
from sec_assets.executor.usage import GpuSampler


def in_container(
    container: ContainerStep, environ: Mapping[str, str]
) -> tuple[list[str], dict[str, str], list[str] | None]:
    """The step's argv and environment to run it inside ``container``, and how to kill that
    container (podman, docker). Checks first that it can start here: raises
    :class:`~sec_assets.executor.container_checks.ContainerUnavailable` naming the setting."""
    check_container(container.config, container.binds, environ=environ)
    inside = {**environ, **dict(container.env)}
    names = passed_env_names(inside, container.config.env)
    name = f"sec-{environ.get('SLURM_JOB_ID') or 'local'}-{os.getpid()}"
    argv = node_command(
        container.config, container.gpus, container.binds, names, name=name, user=(os.getuid(), os.getgid())
    )
    return argv, runtime_env(container.config, inside, names), kill_command(container.config, name)


def run_dagster_step(
    env: Mapping[str, str], signal_delay_s: int, container: ContainerStep | None = None
) -> int:
    """Run ``dagster api execute_step`` as a child with ``env`` added; forward the time-limit signal.

    Submitted to submitit (pickled by reference: this module must be importable on the nodes,
    which it is wherever the step can run; jobs queued before the executor became a package refer
    to ``sec_assets.executor.run_dagster_step``, which the package re-exports). The step runs
    under ``sys.executable``, the node's python — or, with ``container``, inside the container
    (:func:`in_container`; this wrapper stays outside), after checking that it can start.
    """
    child_env = {**os.environ, **env, **step_env(signal_delay_s)}
    argv = [sys.executable, "-m", "dagster", "api", "execute_step"]
    kill: list[str] | None = None
    if container is not None:
        argv, child_env, kill = in_container(container, child_env)
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
        child = subprocess.Popen(argv, env=child_env, start_new_session=True)
    finally:
        for sig, handler in ignored.items():
            signal.signal(sig, handler)
    stop_requested: list[float] = []

    def forward(signum: int, _frame: Any) -> None:
        print(
            f"sec_assets: {TIME_LIMIT_NOTICE} ({signal.Signals(signum).name}, "
            f"{signal_delay_s} s ahead); asking the step to stop",
            file=sys.stderr,
            flush=True,
        )
        stop_requested.append(time.monotonic())
        child.send_signal(TIME_LIMIT_SIGNAL)

    def terminated(signum: int, _frame: Any) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)
        if kill is not None:  # the container itself is not in that group
            with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                subprocess.run(kill, capture_output=True, timeout=30, check=False)
        print(
            f"sec_assets: got {signal.Signals(signum).name} from Slurm (scancel, preemption or node "
            "drain); the step process was stopped",
            file=sys.stderr,
            flush=True,
        )

    handlers = {signal.SIGTERM: terminated, signal.SIGUSR2: forward}  # USR2: not submitit's requeue
    previous = {sig: signal.signal(sig, handler) for sig, handler in handlers.items()} if in_main else {}
    # the job's GPUs, sampled while the step runs (a line in stderr the executor reads back)
    sampler = GpuSampler.for_this_job() if in_main else None
    if sampler is not None:
        sampler.start()
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
        if sampler is not None:
            sampler.stop()
            print(sampler.line(), file=sys.stderr, flush=True)
    if code != 0:
        where = "" if container is None else f" (in the {container.config.runtime} container)"
        raise RuntimeError(f"the step process{where} exited with code {code}")
    return code
