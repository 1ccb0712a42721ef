"""Helpers of the cluster tests: start ``dagster asset materialize``, read sacct and squeue."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from dagster import DagsterEventType, DagsterInstance

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def launch(env, module, select, partition=None, **popen):
    args = [str(BIN / "dagster"), "asset", "materialize", "-m", module, "--select", select]
    if partition:
        args += ["--partition", partition]
    return subprocess.Popen(
        args, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **popen
    )


def sacct_rows(name_prefix: str) -> list[dict[str, str]]:
    fields = ["JobID", "JobName", "State", "NodeList", "AllocTRES", "Elapsed", "ExitCode", "Start", "End"]
    out = subprocess.run(
        ["sacct", "-X", "-P", "-n", "-S", "now-1hours", "-o", ",".join(fields)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = [dict(zip(fields, line.split("|"), strict=True)) for line in out.splitlines() if line]
    return [r for r in rows if r["JobName"].startswith(name_prefix)]


def settled(prefix: str, timeout: float = 30) -> list[dict[str, str]]:
    """sacct rows of the prefix once none is still running (accounting lags the step a little)."""
    deadline = time.monotonic() + timeout
    while True:
        rows = sacct_rows(prefix)
        busy = any(r["State"] in ("PENDING", "RUNNING", "COMPLETING") for r in rows)
        if not busy or time.monotonic() > deadline:
            return rows
        time.sleep(0.5)


def settled_states(prefix: str) -> dict[str, str]:
    """attempt → sacct state."""
    return {r["JobName"].rsplit("-", 1)[1]: r["State"] for r in settled(prefix)}


def wait_for_step_start(submitit_folder: Path, job_name_part: str, timeout: float = 180) -> str:
    """Job id of the first job whose name contains ``job_name_part`` once its step has started."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = subprocess.run(["squeue", "-h", "-o", "%i|%j|%T"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            job_id, name, state = line.split("|")
            if job_name_part in name and state == "RUNNING":
                errs = list(submitit_folder.glob(f"*/{job_id}_0_log.err"))
                if errs and "STEP_START" in errs[0].read_text(errors="replace"):
                    return job_id
        time.sleep(0.5)
    raise AssertionError(f"no running job with a started step named *{job_name_part}*")


def run_events(instance: DagsterInstance, run_id: str, kind: DagsterEventType):
    return [e.dagster_event for e in instance.all_logs(run_id, of_type=kind)]


def start_daemon(env: dict[str, str], module: str, log: Path, timeout: float = 120) -> subprocess.Popen:
    """``dagster-daemon run -m module`` on the instance of ``env``, once its backfill daemon has
    sent a heartbeat (``sec-assets backfill`` refuses to submit before that)."""
    out = open(log, "w")  # noqa: SIM115 -- the daemon's log for its lifetime
    proc = subprocess.Popen(
        [str(BIN / "dagster-daemon"), "run", "-m", module], cwd=REPO, env=env, stdout=out, stderr=out
    )
    deadline = time.monotonic() + timeout
    with DagsterInstance.get() as instance:
        while "BACKFILL" not in instance.get_daemon_heartbeats():
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise AssertionError(f"dagster-daemon did not start:\n{log.read_text()[-3000:]}")
            time.sleep(1)
    return proc


def stop_daemon(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
