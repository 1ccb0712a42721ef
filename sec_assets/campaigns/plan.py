"""A campaign task as Dagster runs: four stages, each started when the one before succeeded.

1. ``features`` — ``class_features`` (manifest, splits, segments, CLAP embeddings) over the
   classes, one run per contiguous range of class partitions (``BackfillPolicy.single_run``: on
   Slurm each asset is one job looping over the classes);
2. ``spectrograms`` — ``octave_features``, per octave of the task one run per range of its
   classes (a multi-partition range ``a|3...z|3`` is those classes at that octave);
3. ``train`` — ``retrain_octave`` (train, evaluate, gate), one run per octave;
4. ``summary`` — ``retrain_summary`` (zero-shot baseline, octave comparison), one run.

The same jobs as the retrain sensor's, so a campaign task is exactly what retraining does, in
the task's home with the task's settings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sec_assets.core.campaign.spec import Task
from sec_assets.core.hashing import stable_hex
from sec_assets.defs.sensors.landing import class_features_job
from sec_assets.defs.sensors.retrain import octave_features_job, retrain_octave_job, retrain_summary_job
from sec_assets.partitions import class_octave_key

STAGES = ("features", "spectrograms", "train", "summary")


@dataclass(frozen=True)
class Step:
    stage: str
    job: str
    partition: str | None = None  # one partition key
    partition_range: tuple[str, str] | None = None  # first, last (inclusive, in the instance's order)

    @property
    def id(self) -> str:
        if self.partition_range:
            return f"{self.stage}:{self.partition_range[0]}...{self.partition_range[1]}"
        return f"{self.stage}:{self.partition}" if self.partition else self.stage


def ranges(classes: Sequence[str], registered: Sequence[str]) -> list[tuple[str, str]]:
    """``classes`` as maximal runs of consecutive keys in the instance's partition order
    (``registered``), so a range never takes in a partition outside ``classes``."""
    wanted, out = set(classes), []
    start = last = None
    for key in registered:
        if key in wanted:
            start = start or key
            last = key
        elif start is not None:
            out.append((start, last))
            start = None
    if start is not None:
        out.append((start, last))
    return [(a, b) for a, b in out if a is not None and b is not None]


def task_plan(task: Task, classes: Sequence[str], registered: Sequence[str]) -> list[list[Step]]:
    """The task's stages, each a list of independent steps (runs)."""
    return [
        [Step("features", class_features_job.name, partition_range=r) for r in ranges(classes, registered)],
        [
            Step(
                "spectrograms",
                octave_features_job.name,
                partition_range=(str(class_octave_key(a, n)), str(class_octave_key(b, n))),
            )
            for n in task.octaves
            for a, b in ranges(classes, registered)
        ],
        [Step("train", retrain_octave_job.name, partition=str(n)) for n in task.octaves],
        [Step("summary", retrain_summary_job.name)],
    ]


def plan_digest(task: Task, classes: Sequence[str]) -> str:
    """Identity of a task's plan: its settings and where it runs, and the classes it covers."""
    return stable_hex(task.digest, sorted(classes))
