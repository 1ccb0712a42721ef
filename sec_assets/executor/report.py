"""What a user reads about a job: why it failed, and the engine event after it ended."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dagster import MetadataValue

from sec_assets.executor.jobs import JobRecord
from sec_assets.executor.protocol import EARLY_SIGNAL_KILLED, TIME_LIMIT_NOTICE
from sec_assets.executor.sacct import STATE_HINTS, base_state
from sec_assets.executor.usage import gpu_usage, job_usage


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no file at {path})"


def failure_reason(record: JobRecord, info: Mapping[str, str]) -> str:
    """A job that ended without its step reporting: Slurm's state, a hint, the stderr tail."""
    state = base_state(info)
    hint = STATE_HINTS.get(state, "the job ended without the step reporting a result")
    stderr = tail(record.stderr)
    if TIME_LIMIT_NOTICE in stderr or state == "TIMEOUT":
        hint = STATE_HINTS["TIMEOUT"]
    elif EARLY_SIGNAL_KILLED in stderr:
        hint = STATE_HINTS["TIMEOUT_AT_START"]
    return (
        f"Slurm job {record.job_id} ('{record.name}') ended {info.get('State', state)} "
        f"(exit {info.get('ExitCode', '?')}, node {info.get('NodeList', '?')}, "
        f"elapsed {info.get('Elapsed', '?')}): {hint}.\nstderr tail ({record.stderr}):\n{stderr}"
    )


@dataclass(frozen=True)
class PostJobEvent:
    step_key: str
    message: str
    metadata: dict[str, Any]


def post_job_event(
    record: JobRecord, info: Mapping[str, str], mode: str, ended: bool, waited_s: float
) -> PostJobEvent:
    """sacct's figures (slurm mode) and the tails of the job's stdout/stderr. Read once the job has
    ended (``ended``), so that the logs are complete; otherwise the message says so plainly."""
    state = info.get("State", "?")
    logs: dict[str, MetadataValue] = {
        "stdout": MetadataValue.path(str(record.stdout)),
        "stderr": MetadataValue.path(str(record.stderr)),
    }
    if mode != "debug":  # debug mode runs the step in the orchestrator: the job has no log files
        logs["stdout_tail"] = MetadataValue.text(tail(record.stdout, 40))
        logs["stderr_tail"] = MetadataValue.text(tail(record.stderr, 40))
    status = (
        state
        if ended
        else f"had not finished when it was read ({state} {waited_s:.0f} s after its step ended; the "
        "figures and log tails are partial)"
    )
    if mode != "slurm":
        return PostJobEvent(
            record.step_key,
            f"{mode.capitalize()} job {record.job_id} of {record.step_key}: {status}",
            {"submitit_job_id": record.job_id, "state": state, "job_finished": ended, **logs},
        )
    figures: dict[str, Any] = {
        "slurm_job_id": record.job_id,
        "slurm_state": state,
        "node": info.get("NodeList", "?"),
        "elapsed": info.get("Elapsed", "?"),
        "max_rss": info.get("MaxRSS", "?"),
        "alloc_tres": info.get("AllocTRES", "?"),
        "exit_code": info.get("ExitCode", "?"),
    }
    used = {**job_usage(info), **gpu_usage(tail(record.stderr, 200))}
    figures.update(used)
    efficiency = (
        f", CPU efficiency {used['cpu_efficiency']:.0%}, {used['node_hours']:.4f} node-h"
        if "cpu_efficiency" in used
        else ""
    )
    gpu = (
        f", GPU util avg {used['gpu_util_avg']:.0f} % / max {used['gpu_util_max']:.0f} %, "
        f"GPU memory peak {used['gpu_mem_peak_mb']:.0f} MB"
        if used.get("gpu_samples")
        else ""
    )
    return PostJobEvent(
        record.step_key,
        f"Slurm job {record.job_id} of {record.step_key}: {status} on {figures['node']}, elapsed "
        f"{figures['elapsed']}, MaxRSS {figures['max_rss']}, TRES {figures['alloc_tres']}, "
        f"exit {figures['exit_code']}{efficiency}{gpu}",
        {**figures, "job_finished": ended, **logs},
    )
