"""A trained classifier as an MLflow ``pyfunc`` model: the seam between MLflow and
:class:`~sec_assets.core.models.learn.TrainedModel`.

The model's artifact is the classifier's own safetensors file (byte-identical to the one in the
catalog). Its input is the *stored feature rows* a candidate's feature set reads, as named
float32 tensors — ``embedding`` (n, 1024), the ``clap_embeddings`` column, and/or ``levels_db``
(n, frames, bands), the ``octave_spectrograms`` column reshaped — and its output is a DataFrame of
class probabilities, one column per class (partition keys, in the model's order)::

    model = mlflow.pyfunc.load_model("models:/sec-classifier-oct3@champion")
    probabilities = model.predict({"embedding": e, "levels_db": l})

The model is logged *from code* (:data:`MODEL_CODE`, MLflow's recommended way: nothing pickled);
loading it imports ``sec_assets``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from mlflow.pyfunc import PythonModel

from sec_assets.core.models.data import SegmentData
from sec_assets.core.models.learn import TrainedModel

MODEL_CODE = Path(__file__).with_name("pyfunc_model.py")
ARTIFACT = "classifier"  # the safetensors file among the model's artifacts
INPUT_COLUMNS = {"embedding": "embedding", "levels": "levels_db"}  # SegmentData field → input name


def feature_rows(model: TrainedModel, data: SegmentData) -> dict[str, np.ndarray]:
    """The model's input for these segments: the stored features its feature set reads."""
    return {
        INPUT_COLUMNS[f]: np.ascontiguousarray(getattr(data, f), dtype=np.float32)
        for f in model.candidate.features.reads
    }


def as_segments(model: TrainedModel, rows: dict[str, np.ndarray]) -> SegmentData:
    missing = sorted(INPUT_COLUMNS[f] for f in model.candidate.features.reads if INPUT_COLUMNS[f] not in rows)
    if missing:
        raise ValueError(f"{model.candidate.id} needs the input(s) {missing}, got {sorted(rows)}")
    arrays = {f: np.asarray(rows[INPUT_COLUMNS[f]], dtype=np.float32) for f in model.candidate.features.reads}
    n = len(next(iter(arrays.values())))
    return SegmentData(
        segment_keys=[""] * n,
        source_sha256=[""] * n,
        splits=[""] * n,
        labels=np.zeros(n, dtype=np.int64),
        classes=model.classes,
        embedding=arrays.get("embedding", np.zeros((n, 0), dtype=np.float32)),
        levels=arrays.get("levels", np.zeros((n, 0, 0), dtype=np.float32)),
        center_hz=[],
    )


def predict_frame(model: TrainedModel, rows: dict[str, np.ndarray]) -> Any:
    import pandas as pd

    return pd.DataFrame(model.probabilities(as_segments(model, rows)), columns=model.classes)


class SecClassifierModel(PythonModel):
    """Loads the safetensors artifact; ``predict`` gives class probabilities (see the module)."""

    def load_context(self, context: Any) -> None:
        self.model = TrainedModel.from_bytes(Path(context.artifacts[ARTIFACT]).read_bytes())

    def predict(self, context, model_input, params=None):
        # (no type hints: MLflow would infer the signature from them; ours is logged explicitly)
        rows = {k: np.asarray(v) for k, v in dict(model_input).items()}
        return predict_frame(self.model, rows)
