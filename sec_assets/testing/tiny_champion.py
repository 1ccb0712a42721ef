"""A small trained classifier standing in for a registered champion (tests and benchmarks).

It is a real ``clap+octave_stats/mlp`` candidate trained for a few epochs on the features it is
given, wrapped like a loaded MLflow pyfunc model (``predict`` + ``metadata``) around the project's
own :class:`SecClassifierModel` — the scoring path of a registered model, without a store.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sec_assets.core.inference.label import Champion
from sec_assets.core.models.candidates import Candidate
from sec_assets.core.models.data import SegmentData
from sec_assets.core.models.learn import train_candidate
from sec_assets.core.tracking.pyfunc import SecClassifierModel


class PyfuncLike:
    """predict + metadata, as ``mlflow.pyfunc.load_model`` returns, around SecClassifierModel."""

    def __init__(self, model: Any) -> None:
        self.inner = SecClassifierModel()
        self.inner.model = model
        self.metadata = self

    def get_input_schema(self) -> None:
        return None

    def predict(self, rows: Any) -> Any:
        return self.inner.predict(None, rows)


def tiny_champion(features: SegmentData, octave: int, classes: int = 4, epochs: int = 3) -> Champion:
    """A champion trained on ``features`` repeated once per class, labels cycling over the classes."""
    n = len(features)
    fake = SegmentData(
        segment_keys=features.segment_keys * classes,
        source_sha256=features.source_sha256 * classes,
        splits=["train"] * (classes * n),
        labels=np.arange(classes * n) % classes,
        classes=[chr(ord("a") + i) for i in range(classes)],
        embedding=np.tile(features.embedding, (classes, 1)),
        levels=np.tile(features.levels, (classes, 1, 1)),
        center_hz=features.center_hz,
    )
    spec = {"features": "clap+octave_stats", "head": "mlp", "fit": {"epochs": epochs}}
    trained = train_candidate(Candidate.model_validate(spec), fake, fake, 0)
    return Champion(octave, "tiny", "1", PyfuncLike(trained))
