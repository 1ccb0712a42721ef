"""What Slurm says about jobs: one ``sacct`` call for many jobs, and how to read its answer."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Mapping, Sequence

ACTIVE_STATES = {"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "REQUEUED", "RESIZING", "SUSPENDED"}
NODE_FAILURES = {"NODE_FAIL", "BOOT_FAIL"}  # the job failed with its node: a retry avoids that node
STATE_HINTS = {
    "TIMEOUT": "the job reached its Slurm time limit (raise time_min in the asset's sec/resources tag "
    "or the run tag sec/slurm/time_min)",
    "TIMEOUT_AT_START": "Slurm signalled the time limit while the job was still starting (interpreter "
    "start-up and imports took longer than time_min minus signal_delay_s): raise time_min in the "
    "asset's sec/resources tag or the run tag sec/slurm/time_min",
    "OUT_OF_MEMORY": "the job ran out of memory (raise mem_gb)",
    "CANCELLED": "the job was cancelled (scancel, an administrator or preemption)",
    "PREEMPTED": "the job was preempted",
    "NODE_FAIL": "the node failed (a retry is kept off that node)",
    "BOOT_FAIL": "the node failed to boot",
    "DEADLINE": "the job passed its deadline",
    "FAILED": "the job's process exited with an error",
    "COMPLETED": "the job finished but the step reported no result",
}


def base_state(info: Mapping[str, str], default: str = "UNKNOWN") -> str:
    """``"CANCELLED by 0"`` → ``"CANCELLED"``."""
    return (info.get("State") or default).split()[0]


def is_terminal(state: str) -> bool:
    """Slurm has finished with the job (its output files are complete)."""
    return state not in ACTIVE_STATES


class SacctPoller:
    """Job states for many jobs from one ``sacct`` call, refreshed at most every ``interval`` s."""

    FIELDS = (
        "JobID",
        "State",
        "ExitCode",
        "NodeList",
        "Elapsed",
        "MaxRSS",
        "AllocTRES",
        "ElapsedRaw",
        "AllocCPUS",
        "NNodes",
        "TotalCPU",
    )

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
        """The latest rows of ``job_ids``; asks sacct (for all of them at once) only if the last
        call is ``interval`` s old. Pass every job you watch: the call serves them all."""
        if job_ids and (force or time.monotonic() - self._last >= self.interval):
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
        elif rss_bytes(values.get("MaxRSS", "")) > rss_bytes(current.get("MaxRSS", "")):
            current["MaxRSS"] = values["MaxRSS"]
    return rows


def rss_bytes(text: str) -> float:
    """sacct's MaxRSS (``1168576K``, ``2.5G``) in bytes; 0 if empty or unreadable."""
    match = re.fullmatch(r"(\d+(?:\.\d*)?)([KMGT]?)", text.strip())
    if not match:
        return 0.0
    return float(match.group(1)) * 1024 ** " KMGT".index(match.group(2) or " ")
