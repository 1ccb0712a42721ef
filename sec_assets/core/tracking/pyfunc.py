"""A trained classifier as an MLflow ``pyfunc`` model: the seam between MLflow and
:class:`~sec_assets.core.models.learn.TrainedModel`.

The model's artifact is the classifier's own safetensors file (byte-identical to the one in the
catalog). Its input is the *stored feature rows* a candidate's feature set reads, as named
float32 tensors — ``embedding`` (n, 1024), the ``clap_embeddings`` column, and/or ``levels_db``
(n, frames, bands), the ``octave_spectrograms`` column reshaped — and its output is a DataFrame of
class probabilities, one column per class (partition keys, in the model's order)::

    model = mlflow.pyfunc.load_model("models:/sec-classifier-oct3@champion")
    probabilities = model.predict({"embedding": e, "levels_db": l})

The model is logged *from code* (:data:`.model_io.MODEL_CODE`, MLflow's recommended way: nothing pickled);
loading it imports ``sec_assets``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from mlflow.pyfunc import PythonModel

from sec_assets.core.models.learn import TrainedModel
from sec_assets.core.tracking.model_io import ARTIFACT, predict_frame


class SecClassifierModel(PythonModel):
    """Loads the safetensors artifact; ``predict`` gives class probabilities (see the module)."""

    def load_context(self, context: Any) -> None:
        self.model = TrainedModel.from_bytes(Path(context.artifacts[ARTIFACT]).read_bytes())

    def predict(self, context, model_input, params=None):
        # (no type hints: MLflow would infer the signature from them; ours is logged explicitly)
        rows = {k: np.asarray(v) for k, v in dict(model_input).items()}
        return predict_frame(self.model, rows)
