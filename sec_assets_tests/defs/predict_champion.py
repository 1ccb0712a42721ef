"""Run in a fresh process by test_registry: load ``models:/<name>@champion`` through MLflow and
predict the stored test feature rows; print whether the report's test predictions come out exactly."""

import json
import os
import sys
from pathlib import Path

import mlflow
import numpy as np
import polars as pl

from sec_assets.core.models.data import load_segment_data

uri, name = sys.argv[1], sys.argv[2]
home = Path(os.environ["SEC_HOME"])
mlflow.set_tracking_uri(uri)
mlflow.set_registry_uri(uri)
model = mlflow.pyfunc.load_model(f"models:/{name}@champion")
expected = pl.read_parquet(home / "reports" / "octave=3" / "test_predictions.parquet")
classes = sorted(set(expected["label"]))
data = load_segment_data(home, 3, classes, ("test",))
inputs = {"embedding": data.embedding, "levels_db": data.levels}
wanted = model.metadata.get_input_schema().input_names()
predicted = model.predict({k: inputs[k] for k in wanted})
same_rows = data.segment_keys == expected["segment_key"].to_list()
equal = same_rows and np.array_equal(
    predicted[classes].to_numpy(), np.asarray(expected["probabilities"].to_list(), dtype=np.float64)
)
print(json.dumps({"segments": len(data), "equal": bool(equal)}))
