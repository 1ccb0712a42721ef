"""What a user reads when a job ends without its step reporting."""

from __future__ import annotations

from pathlib import Path

import pytest

from sec_assets.executor import JobRecord
from sec_assets.executor.report import failure_reason


def _record(tmp_path: Path, stderr: str) -> JobRecord:
    record = JobRecord("8", "sec-e9cbe4f5-over_time-a0", "over_time", 0, tmp_path)
    record.stderr.parent.mkdir(parents=True, exist_ok=True)
    record.stderr.write_text(stderr)
    return record


@pytest.mark.parametrize(
    ("state", "stderr", "expected"),
    [
        # the early signal while the interpreter was still starting (seen on a loaded 2-core CI box)
        ("FAILED", "srun: error: cpu1: task 0: User defined signal 2\n", "while the job was still starting"),
        (
            "FAILED",
            "sec_assets: Slurm signalled the time limit (SIGUSR2, 45 s ahead)\n",
            "reached its Slurm time limit",
        ),
        ("TIMEOUT", "", "reached its Slurm time limit"),
        ("OUT_OF_MEMORY", "", "ran out of memory (raise mem_gb)"),
        ("FAILED", "Traceback …\nImportError: no module\n", "exited with an error"),
    ],
)
def test_the_reason_names_the_cause_and_what_to_change(tmp_path, state, stderr, expected):
    text = failure_reason(_record(tmp_path, stderr), {"State": state, "ExitCode": "12:0", "NodeList": "cpu1"})
    assert f"Slurm job 8 ('sec-e9cbe4f5-over_time-a0') ended {state}" in text and expected in text
    assert stderr.strip().splitlines()[-1] in text if stderr else "stderr tail" in text
    if "time limit" in expected or "starting" in expected:
        assert "time_min" in text
