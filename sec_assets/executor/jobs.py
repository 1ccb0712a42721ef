"""The record of one submitted job, what the step handler and the report both work on.

Its own module so that :mod:`~sec_assets.executor.report` (the failure reasons, the post-job
event) can read it without importing the step handler, which imports the report.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import submitit


@dataclass(eq=False)
class JobRecord:
    job_id: str
    name: str
    step_key: str
    attempt: int
    folder: Path
    submitted: float = field(default_factory=time.time)
    finished_seen: float | None = None  # when a terminal state was first seen
    job: Any = None  # the submitit Job (None after an orchestrator restart)
    step_ended: float | None = None  # monotonic time the executor saw the step's last event
    reported: bool = False  # the post-job engine event was emitted
    excluded: list[str] = field(default_factory=list)  # nodes this job was kept off (--exclude)

    @property
    def stdout(self) -> Path:
        return submitit.core.utils.JobPaths(self.folder, job_id=self.job_id, task_id=0).stdout

    @property
    def stderr(self) -> Path:
        return submitit.core.utils.JobPaths(self.folder, job_id=self.job_id, task_id=0).stderr
