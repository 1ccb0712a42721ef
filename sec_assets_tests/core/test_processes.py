"""One process-liveness check: a pid and its start time name one process, never a later one that
got the same pid (what a pid alone, ``kill(pid, 0)``, cannot tell)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sec_assets.core.processes import (
    START_TOLERANCE_S,
    boot_time,
    is_alive,
    process_start_time,
    start_ticks,
    ticks_to_time,
)


@pytest.fixture
def child():
    before = time.time()
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield proc, before
    proc.kill()
    proc.wait()


def test_a_live_child_is_alive_and_its_start_time_is_when_it_started(child):
    proc, before = child
    started_at = process_start_time(proc.pid)
    assert started_at is not None
    assert before - START_TOLERANCE_S <= started_at <= time.time() + START_TOLERANCE_S
    assert is_alive(proc.pid, started_at) is True
    assert is_alive(proc.pid, started_at + START_TOLERANCE_S / 2) is True  # within the tolerance
    assert process_start_time(proc.pid) == started_at  # read again: the same


def test_a_dead_child_is_not_alive(child):
    proc, _ = child
    started_at = process_start_time(proc.pid)
    proc.kill()
    proc.wait()  # reaped: the pid names no process now
    assert process_start_time(proc.pid) is None and start_ticks(proc.pid) is None
    assert is_alive(proc.pid, started_at) is False
    assert is_alive(proc.pid, None) is False


def test_a_live_pid_with_another_start_time_is_another_process(child):
    """PID reuse: the pid is taken by a process that started at another time than the recorded one."""
    proc, _ = child
    started_at = process_start_time(proc.pid)
    assert started_at is not None
    assert is_alive(proc.pid, started_at - 3600) is False  # the recorded process started an hour ago
    assert is_alive(proc.pid, started_at + 10 * START_TOLERANCE_S) is False
    assert is_alive(os.getpid(), started_at + 3600) is False


def test_a_record_without_a_start_time_is_judged_by_its_pid_alone(child):
    proc, _ = child
    assert is_alive(proc.pid, None) is True


def _fake_proc(root: Path, btime: int, pids: dict[int, str]) -> Path:
    """A /proc with ``/proc/stat`` and one ``/proc/<pid>/stat`` per pid (the line as given)."""
    (root / "stat").write_text(f"cpu  1 2 3 4\nbtime {btime}\nprocesses 42\n")
    for pid, line in pids.items():
        (root / str(pid)).mkdir()
        (root / str(pid) / "stat").write_text(line)
    return root


def test_the_start_is_field_22_after_boot_even_with_a_command_name_holding_spaces(tmp_path):
    ticks = os.sysconf("SC_CLK_TCK")
    tail = " ".join(["S"] + ["0"] * 18 + [str(250 * ticks)] + ["0"] * 30)  # fields 3…52, field 22 set
    proc = _fake_proc(tmp_path, 1_700_000_000, {7: f"7 (a (weird) name) {tail}\n"})
    assert boot_time(proc) == 1_700_000_000
    assert start_ticks(7, proc) == 250 * ticks
    assert ticks_to_time(250 * ticks, proc) == process_start_time(7, proc) == 1_700_000_250
    assert is_alive(7, 1_700_000_250, proc=proc) is True
    assert is_alive(7, 1_700_000_000, proc=proc) is False  # another process had pid 7 then
    assert is_alive(8, 1_700_000_250, proc=proc) is False  # no process 8


def test_without_proc_it_cannot_tell(tmp_path):
    assert boot_time(tmp_path) is None and process_start_time(os.getpid(), tmp_path) is None
    assert is_alive(os.getpid(), time.time(), proc=tmp_path) is None
    assert is_alive(os.getpid(), None, proc=tmp_path) is None


def test_this_process_started_after_boot_and_before_now():
    booted, started_at = boot_time(), process_start_time(os.getpid())
    assert booted is not None and started_at is not None
    assert booted <= started_at <= time.time()
