"""A champion's own test-set distribution: the top-1 class and top-1 confidence of each test
segment, as its evaluation predicted them — what use is compared with.

``evaluation_report`` writes ``reports/octave=<n>/test_predictions.parquet`` (the selected model's
probabilities per test segment) and ``report.json``, whose ``registry`` entry names the version that
evaluation registered; it also logs both files to the training's parent MLflow run under
``report/``. The report on disk is the *latest* evaluation, which need not be the champion's: a
selected model the gate turned down (``challenger``) overwrites it. So :func:`champion_reference`
reads the report on disk when it names the champion's version, else the champion's own
``test_predictions.parquet`` from its evaluation's MLflow run (the parent of the run that logged
the model version), and only when neither is there the report on disk, with a note that says so.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from sec_assets.core.monitoring.psi import confidence_counts

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

PREDICTIONS = "test_predictions.parquet"
ARTIFACT = f"report/{PREDICTIONS}"  # where log_evaluation puts it on the parent run
PARENT_TAG = "mlflow.parentRunId"


def report_dir(home: Path, octave: int) -> Path:
    return home / "reports" / f"octave={octave}"


@dataclass(frozen=True, eq=False)
class Reference:
    """The top-1 class keys and confidences of one champion on its test set."""

    octave: int
    model: str
    version: str  # the registered version these predictions are of
    labels: tuple[str, ...]
    confidences: np.ndarray
    origin: str  # where they were read
    note: str = ""  # non-empty when they may not be the champion's own

    @property
    def segments(self) -> int:
        return len(self.labels)

    def above(self, floor: float) -> Reference:
        """The segments whose top-1 confidence is at least ``floor`` (the inbox keeps no label
        below ``min_confidence``: its reference must leave out what it cannot show)."""
        if floor <= 0:
            return self
        keep = self.confidences >= floor
        labels = tuple(label for label, k in zip(self.labels, keep, strict=True) if k)
        return dataclasses.replace(self, labels=labels, confidences=self.confidences[keep])

    def class_counts(self) -> dict[str, int]:
        keys, counts = np.unique(np.asarray(self.labels, dtype=str), return_counts=True)
        return {str(k): int(c) for k, c in zip(keys, counts, strict=True)}

    def confidence_counts(self) -> np.ndarray:
        return confidence_counts(self.confidences)


def top1(predictions: pl.DataFrame) -> tuple[tuple[str, ...], np.ndarray]:
    """(top-1 class key, top-1 probability) per row of a ``test_predictions.parquet`` frame
    (columns ``predicted``: the arg-max class, ``probabilities``: one list per segment)."""
    confidences = predictions["probabilities"].list.max().cast(pl.Float64).fill_null(0.0).to_numpy()
    return tuple(str(p) for p in predictions["predicted"]), np.asarray(confidences, dtype=np.float64)


def reported_version(home: Path, octave: int) -> tuple[str, str] | None:
    """(registered name, version) the evaluation report on disk registered, if it says."""
    try:
        registry = json.loads((report_dir(home, octave) / "report.json").read_text())["registry"]
        return str(registry["name"]), str(registry["version"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _from_mlflow(client: MlflowClient, name: str, version: str) -> tuple[pl.DataFrame, str] | None:
    """The champion's test predictions from its evaluation's MLflow run, or None."""
    from mlflow.exceptions import MlflowException

    try:
        run_id = client.get_model_version(name, version).run_id
        if not run_id:
            return None
        parent = client.get_run(run_id).data.tags.get(PARENT_TAG) or run_id
        with tempfile.TemporaryDirectory(prefix="sec-drift-") as tmp:
            local = client.download_artifacts(parent, ARTIFACT, tmp)
            return pl.read_parquet(local), parent
    except (MlflowException, OSError):
        return None


def champion_reference(
    home: Path, octave: int, name: str, version: str, client: MlflowClient | None = None
) -> Reference:
    """The champion ``name`` v``version``'s test-set top-1 distribution (see the module)."""
    path = report_dir(home, octave) / PREDICTIONS
    on_disk = reported_version(home, octave)
    if path.is_file() and on_disk == (name, version):
        labels, confidences = top1(pl.read_parquet(path))
        return Reference(octave, name, version, labels, confidences, str(path))
    disk_note = "no report on disk" if not path.is_file() else _describe(on_disk)
    if client is not None and (found := _from_mlflow(client, name, version)) is not None:
        frame, run_id = found
        labels, confidences = top1(frame)
        note = f"the report on disk is {disk_note}; the champion's own was read from MLflow"
        return Reference(octave, name, version, labels, confidences, f"MLflow run {run_id}", note)
    if path.is_file():
        labels, confidences = top1(pl.read_parquet(path))
        of = on_disk[1] if on_disk else "unknown"
        note = (
            f"NOT the champion's own: the report on disk is {disk_note} and v{version}'s evaluation "
            "run has no test predictions in MLflow"
        )
        return Reference(octave, name, of, labels, confidences, str(path), note)
    raise FileNotFoundError(
        f"1/{octave}: no test predictions of the champion {name} v{version} ({path} is missing and "
        f"its MLflow run has none): materialize evaluation_report for octave {octave}"
    )


def _describe(on_disk: tuple[str, str] | None) -> str:
    return "of an unknown version (no report.json)" if on_disk is None else f"of {on_disk[0]} v{on_disk[1]}"
