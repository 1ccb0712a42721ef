"""The classifier's pyfunc input and output, without MLflow: which stored feature rows a model
reads (named float32 tensors), and its DataFrame of class probabilities. :mod:`.pyfunc` (the
MLflow model), :mod:`.runs` (its signature and input example) and :mod:`.registry` (scoring a
loaded champion) share them; this module imports no MLflow, so the definitions load without it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

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
