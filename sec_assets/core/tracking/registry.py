"""The model registry: one registered model per octave resolution (``<prefix>-oct<n>``), each
evaluated selected model a version, and the ``champion`` alias moved only by the gate
(:mod:`.gate`); a version that does not pass gets ``challenger`` and the reason as its tag.

The comparison with the current champion is paired: the champion is loaded through MLflow
(``models:/<name>@champion``, as any user would) and predicts the same test segments as the new
version, and both are resampled by the same source files.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from sec_assets.core.evaluation.bootstrap import paired_difference
from sec_assets.core.models.data import SegmentData
from sec_assets.core.tracking.gate import CHAMPION, Champion, Decision, Thresholds, decide
from sec_assets.core.tracking.model_io import INPUT_COLUMNS

if TYPE_CHECKING:  # MLflow itself is imported on first use (see .store)
    from mlflow.entities.model_registry import ModelVersion
    from mlflow.tracking import MlflowClient

TEST_SET_TAG = "sec.test_set"  # the test-set fingerprint a version was evaluated on
GATE_TAG = "sec.gate"


def registered_name(prefix: str, octave: int) -> str:
    return f"{prefix}-oct{octave}"


@dataclass(frozen=True)
class Registration:
    name: str
    version: str
    alias: str
    reason: str
    champion_before: str | None

    @property
    def uri(self) -> str:
        return f"models:/{self.name}@{self.alias}"


def version_by_alias(client: MlflowClient, name: str, alias: str) -> ModelVersion | None:
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"):
            return None
        raise


def load_alias(name: str, alias: str) -> tuple[Any, str]:
    """(pyfunc model, version) of ``models:/<name>@<alias>`` from the current registry URI."""
    import mlflow

    version = mlflow.MlflowClient().get_model_version_by_alias(name, alias)
    return mlflow.pyfunc.load_model(f"models:/{name}/{version.version}"), str(version.version)


def score(model: Any, data: SegmentData) -> tuple[np.ndarray, list[str]]:
    """(probabilities, class columns) of a loaded pyfunc classifier on segments' stored features:
    the inputs its signature names (``embedding`` and/or ``levels_db``)."""
    schema = model.metadata.get_input_schema()
    wanted = schema.input_names() if schema is not None else list(INPUT_COLUMNS.values())
    rows = {col: np.ascontiguousarray(getattr(data, f), dtype=np.float32) for f, col in INPUT_COLUMNS.items()}
    frame = model.predict({k: rows[k] for k in wanted})
    return frame.to_numpy(dtype=np.float64), [str(c) for c in frame.columns]


def predict_alias(name: str, alias: str, test: SegmentData) -> tuple[np.ndarray, list[str]]:
    """(probabilities, class columns) of ``models:/<name>@<alias>`` on these segments' stored features."""
    model, _ = load_alias(name, alias)
    return score(model, test)


def gate_and_register(
    client: MlflowClient,
    name: str,
    model_uri: str,
    test: SegmentData,
    proba: np.ndarray,
    figures: Mapping[str, float],
    thresholds: Thresholds,
    test_set: str,
    resamples: int,
    seed: int,
    tags: Mapping[str, str],
) -> Registration:
    """Compare with the champion, register ``model_uri`` as a new version, move the aliases."""
    current = version_by_alias(client, name, CHAMPION)
    champion = None
    if current is not None and current.source == model_uri:
        reason = f"already champion v{current.version} (the same logged model)"
        return Registration(name, str(current.version), CHAMPION, reason, str(current.version))
    if current is not None:
        same = current.tags.get(TEST_SET_TAG) == test_set
        difference: dict[str, tuple[float, float, float]] = {}
        if same:
            old, columns = predict_alias(name, CHAMPION, test)
            if sorted(columns) != sorted(test.classes):
                same = False  # cannot happen for one fingerprint; compare on thresholds if it does
            else:
                order = [columns.index(c) for c in test.classes]
                groups = test.source_sha256
                difference = paired_difference(test.labels, proba, old[:, order], groups, resamples, seed)
        champion = Champion(str(current.version), same, difference)
    decision: Decision = decide(figures, thresholds, champion)
    with_tags = {
        **tags,
        TEST_SET_TAG: test_set,
        GATE_TAG: decision.reason[:5000],
        "test_macro_f1": f"{figures['macro_f1']:.6f}",
        "test_map": f"{figures['macro_map']:.6f}",
    }
    import mlflow

    version = mlflow.register_model(model_uri, name, tags=with_tags)
    client.set_registered_model_alias(name, decision.alias, version.version)
    return Registration(
        name, str(version.version), decision.alias, decision.reason, str(current.version) if current else None
    )
