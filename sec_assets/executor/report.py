"""What a user reads about a job: why it failed, and the tail of its logs."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from sec_assets.executor.protocol import TIME_LIMIT_NOTICE
from sec_assets.executor.sacct import STATE_HINTS, base_state

if TYPE_CHECKING:
    from sec_assets.executor.handler import JobRecord


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
    return (
        f"Slurm job {record.job_id} ('{record.name}') ended {info.get('State', state)} "
        f"(exit {info.get('ExitCode', '?')}, node {info.get('NodeList', '?')}, "
        f"elapsed {info.get('Elapsed', '?')}): {hint}.\nstderr tail ({record.stderr}):\n{stderr}"
    )
