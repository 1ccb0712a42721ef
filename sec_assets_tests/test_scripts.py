"""scripts/apt_wait.sh: `apt_install` waits for the dpkg lock another install holds, says so, and gives
up with a clear message after its timeout (instead of failing at once, as apt-get does)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
LOCK = Path("/var/lib/dpkg/lock-frontend")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.geteuid() != 0 or not LOCK.exists() or not shutil.which("apt-get") or not shutil.which("flock"),
        reason="needs root, Debian's apt-get and flock",
    ),
]

# how the lock is held: flock(1) (another of our scripts) or a POSIX lock, as apt and dpkg take it
HOLDERS = {
    "flock": ["flock", str(LOCK), "sleep", "{seconds}"],
    "posix": [
        sys.executable,
        "-c",
        "import fcntl, os, time; fd = os.open({lock!r}, os.O_RDWR); fcntl.lockf(fd, fcntl.LOCK_EX); "
        "print('held', flush=True); time.sleep({seconds})",
    ],
}


def _hold(kind: str, seconds: float) -> subprocess.Popen[str]:
    cmd = [part.format(seconds=seconds, lock=str(LOCK)) for part in HOLDERS[kind]]
    holder = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # until the lock is really taken
        listed = subprocess.run(["lslocks", "-r", "-n", "-o", "PID,PATH"], capture_output=True, text=True)
        if f"{holder.pid} {LOCK}" in listed.stdout:
            return holder
        time.sleep(0.05)
    holder.kill()
    raise AssertionError(f"the {kind} holder never took {LOCK}")


def _apt_install(package: str, timeout_s: int) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    done = subprocess.run(
        ["bash", "-c", f'source "{SCRIPTS / "apt_wait.sh"}" && apt_install {package}'],
        env={**os.environ, "SEC_APT_LOCK_TIMEOUT": str(timeout_s)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done, time.monotonic() - started


@pytest.mark.parametrize("kind", sorted(HOLDERS))
def test_apt_install_waits_for_the_dpkg_lock_then_installs(kind: str):
    holder = _hold(kind, seconds=3)
    try:
        done, seconds = _apt_install("coreutils", timeout_s=600)  # installed already: a no-op install
    finally:
        holder.wait(timeout=30)
    assert done.returncode == 0, done.stderr
    assert seconds >= 2, "returned before the holder let go of the lock"
    assert "apt_install: waiting up to" in done.stderr and str(LOCK) in done.stderr
    assert "gave up" not in done.stderr


@pytest.mark.parametrize("kind", sorted(HOLDERS))
def test_apt_install_gives_up_with_a_clear_message_after_its_timeout(kind: str):
    holder = _hold(kind, seconds=6)
    try:
        done, seconds = _apt_install("coreutils", timeout_s=1)
    finally:
        holder.kill()
        holder.wait(timeout=30)
    assert done.returncode != 0
    assert seconds < 5
    assert f"apt_install: gave up after 1 s: another package install still holds the dpkg lock {LOCK}" in (
        done.stderr
    )
    assert "SEC_APT_LOCK_TIMEOUT" in done.stderr


def test_the_scripts_that_install_packages_use_the_helper():
    for script in sorted(SCRIPTS.glob("*.sh")):
        text = script.read_text()
        if script.name == "apt_wait.sh":
            continue
        installs = [line for line in text.splitlines() if "apt-get install" in line or "apt install" in line]
        assert not installs, f"{script.name} runs apt-get itself: use apt_install (scripts/apt_wait.sh)"
        if "apt_install" in text:
            assert 'source "$(dirname "${BASH_SOURCE[0]}")/apt_wait.sh"' in text, script.name
