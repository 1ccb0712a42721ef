"""Is the process recorded earlier still running? One answer for every place that asks.

A pid alone names a process only while it lives: once it has ended the kernel hands the number
to a later process, and ``kill(pid, 0)`` then says "alive" about a process that has nothing to do
with the one recorded (an orchestrator of a run, a campaign worker). A pid *and the time the
process started* name one process for good, so whoever records a process records both
(:func:`process_start_time`), and whoever asks compares both (:func:`is_alive`).

The start time is read from ``/proc/<pid>/stat`` (field 22: clock ticks after boot) and turned
into seconds since the epoch with the boot time of ``/proc/stat`` (``btime``), so a record is
readable by a person and means the same thing after a reboot. Linux only, as the cluster is:
elsewhere the start time is unknown (None) and :func:`is_alive` says so rather than guessing.
"""

from __future__ import annotations

import os
from pathlib import Path

PROC = Path("/proc")
# How far two readings of one process's start time may differ: ``btime`` is whole seconds,
# recomputed by the kernel from the wall clock at each read (so it may move by one), and a tick
# is 10 ms. A pid reused this soon after the recorded process *started* would need that process
# to have ended and the pid counter to have wrapped within the tolerance: not a case to guard.
START_TOLERANCE_S = 2.0


def boot_time(proc: Path = PROC) -> float | None:
    """When this machine booted (seconds since the epoch, ``btime`` of ``/proc/stat``)."""
    try:
        for line in (proc / "stat").read_text().splitlines():
            if line.startswith("btime "):
                return float(line.split()[1])
    except OSError:
        return None
    return None


def start_ticks(pid: int, proc: Path = PROC) -> int | None:
    """The process's start in clock ticks after boot (``/proc/<pid>/stat`` field 22); None: no
    such process. The fields are read after the last ``)``: the command name (field 2) may hold
    spaces and parentheses."""
    try:
        stat = (proc / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()  # fields[0] is field 3
    return int(fields[19]) if len(fields) > 19 and fields[19].isdigit() else None


def ticks_to_time(ticks: int, proc: Path = PROC) -> float | None:
    """Clock ticks after boot as seconds since the epoch (None where there is no ``/proc``)."""
    booted = boot_time(proc)
    return None if booted is None else booted + ticks / os.sysconf("SC_CLK_TCK")


def process_start_time(pid: int, proc: Path = PROC) -> float | None:
    """When process ``pid`` started (seconds since the epoch); None: no such process here, or no
    ``/proc`` to ask. Recorded beside the pid, it tells that process from a later one that got
    the same pid."""
    ticks = start_ticks(pid, proc)
    return None if ticks is None else ticks_to_time(ticks, proc)


def is_alive(
    pid: int, started_at: float | None, tolerance_s: float = START_TOLERANCE_S, proc: Path = PROC
) -> bool | None:
    """Whether the process with pid ``pid`` that started at ``started_at`` (its
    :func:`process_start_time` when it was recorded) still runs on this machine: False when no
    process has that pid, or the one that has it started at another time (the pid was reused).
    None when it cannot be told here (no ``/proc``). A record without a start time (``started_at``
    None: one written before start times were kept) is judged by its pid alone."""
    if boot_time(proc) is None:
        return None
    now = process_start_time(pid, proc)
    if now is None:
        return False
    return started_at is None or abs(now - started_at) <= tolerance_s
