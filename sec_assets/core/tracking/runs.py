"""What an MLflow run of this project holds.

One **parent run** per (octave, ``trained_classifier`` materialization), with a **child run per
candidate**: its parameters (feature set, head, hyperparameters, octave, splits fingerprint,
embedding model, code version, Dagster run and partition), the per-epoch ``train_loss`` and
``es_loss``, the validation figures, and the model as a pyfunc (:mod:`.pyfunc`) with signature
and input example. ``evaluation_report`` adds the valid and test figures to each child and the
report, its JSON and figures to the parent (:func:`log_evaluation`).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sec_assets.core.models.data import SegmentData
from sec_assets.core.models.learn import TrainedModel
from sec_assets.core.tracking import model_io
from sec_assets.core.tracking.store import experiment

if TYPE_CHECKING:  # MLflow itself is imported on first use (see .store)
    from mlflow.entities import Metric, Param
    from mlflow.models import ModelSignature
    from mlflow.tracking import MlflowClient

EXAMPLE_ROWS = 3
REQUIREMENTS = ("mlflow", "numpy", "pandas", "safetensors", "torch", "pydantic", "scikit-learn")
MAX_PARAM = 6000  # MLflow's parameter value limit (characters)


def _flat(prefix: str, value: Any) -> dict[str, str]:
    if isinstance(value, Mapping):
        out: dict[str, str] = {}
        for k, v in value.items():
            out |= _flat(f"{prefix}.{k}" if prefix else str(k), v)
        return out
    text = json.dumps(value) if isinstance(value, list | tuple) else str(value)
    return {prefix: text[:MAX_PARAM]}


def signature(example: dict[str, np.ndarray], output: Any) -> ModelSignature:
    """The inferred signature with any number of frames in ``levels_db`` (statistics and the CNN's
    pooling take any length: an inference window need not be a training segment's length)."""
    from mlflow.models import ModelSignature, infer_signature
    from mlflow.types.schema import ColSpec, Schema, TensorSpec

    inferred = infer_signature(example, output)
    specs: list[ColSpec | TensorSpec] = [
        TensorSpec(np.dtype(np.float32), (-1, -1, *example[name].shape[2:]), name)
        if name == model_io.INPUT_COLUMNS["levels"]
        else TensorSpec(np.dtype(np.float32), (-1, *example[name].shape[1:]), name)
        for name in example
    ]
    return ModelSignature(inputs=Schema(specs), outputs=inferred.outputs)


def _metric(name: str, value: float, step: int) -> Metric:
    from mlflow.entities import Metric

    return Metric(name, float(value), int(time.time() * 1000), step)


def _params(values: Mapping[str, str]) -> list[Param]:
    from mlflow.entities import Param

    return [Param(k, v) for k, v in sorted(values.items())]


def requirements() -> list[str]:
    return [f"{p}=={importlib.metadata.version(p)}" for p in REQUIREMENTS]


@dataclass(frozen=True)
class CandidateRun:
    run_id: str
    model_uri: str


@dataclass
class TrainingLog:
    """The open parent run of one octave's training; :meth:`candidate` logs one child."""

    client: MlflowClient
    experiment_id: str
    parent_run_id: str
    common: dict[str, str]
    children: dict[str, CandidateRun] = field(default_factory=dict)

    def candidate(self, model: TrainedModel, train: SegmentData, extra: Mapping[str, Any]) -> CandidateRun:
        cand = model.candidate
        params = {
            **self.common,
            "candidate": cand.id,
            "feature_set": cand.features.name,
            "head": cand.head.name,
            **_flat("features", cand.features.model_dump(mode="json")),
            **_flat("head", cand.head.model_dump(mode="json")),
            **_flat("fit", cand.fit.model_dump(mode="json")),
            "classes": json.dumps(model.classes)[:MAX_PARAM],
            **_flat("", dict(extra)),
        }
        import mlflow

        example = model_io.feature_rows(model, train.subset(np.arange(len(train)) < EXAMPLE_ROWS))
        with mlflow.start_run(
            experiment_id=self.experiment_id, run_name=cand.id, nested=True, tags={"sec.candidate": cand.id}
        ) as run:
            run_id = run.info.run_id
            self.client.log_batch(run_id, params=_params(params))
            metrics = [
                _metric(name, value, epoch)
                for epoch, row in enumerate(model.history, start=1)
                for name, value in row.items()
            ]
            metrics += [
                _metric("epochs", model.epochs, 0),
                _metric("best_epoch", model.best_epoch, 0),
                _metric("best_es_loss", model.best_es_loss, 0),
            ]
            for start in range(0, len(metrics), 1000):  # log_batch takes 1,000 metrics at most
                self.client.log_batch(run_id, metrics=metrics[start : start + 1000])
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=str(model_io.MODEL_CODE),
                artifacts={model_io.ARTIFACT: str(extra["model_path"])},
                signature=signature(example, model_io.predict_frame(model, example)),
                input_example=example,
                pip_requirements=requirements(),
            )
        self.children[cand.id] = CandidateRun(run_id, info.model_uri)
        return self.children[cand.id]

    def selected(self, candidate_id: str, valid: Mapping[str, Mapping[str, float]]) -> None:
        """The selection's validation figures on every child, the choice on the parent."""
        for cid, child in self.children.items():
            figures = [_metric(f"valid_{k}", v, 0) for k, v in valid[cid].items()]
            self.client.log_batch(child.run_id, metrics=figures)
            self.client.set_tag(child.run_id, "sec.selected", str(cid == candidate_id).lower())
        self.client.set_tag(self.parent_run_id, "sec.selected", candidate_id)


@contextlib.contextmanager
def training_run(
    client: MlflowClient,
    uri: str,
    experiment_name: str,
    octave: int,
    params: Mapping[str, Any],
    tags: Mapping[str, str],
) -> Iterator[TrainingLog]:
    """The parent run of one octave's training, open for the block (FAILED if the block raises)."""
    import mlflow

    exp = experiment(client, uri, experiment_name)
    common = {"octave": str(octave), **_flat("", dict(params))}
    with mlflow.start_run(experiment_id=exp, run_name=f"train 1/{octave} octave", tags=dict(tags)) as run:
        client.log_batch(run.info.run_id, params=_params(common))
        yield TrainingLog(client, exp, run.info.run_id, common)


def log_evaluation(
    client: MlflowClient,
    parent_run_id: str,
    figures: Mapping[str, Mapping[str, float]],
    child_runs: Mapping[str, str],
    artifacts: list[Path],
) -> None:
    """Per candidate (its child run) its ``<split>_<figure>`` metrics; the report files on the parent."""
    for cid, values in figures.items():
        run_id = child_runs.get(cid)
        if run_id:
            client.log_batch(run_id, metrics=[_metric(k, v, 0) for k, v in sorted(values.items())])
    for path in artifacts:
        client.log_artifact(parent_run_id, str(path), artifact_path="report")
