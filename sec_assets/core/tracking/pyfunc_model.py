"""The file MLflow logs as the classifier's model code ("models from code"); see :mod:`.pyfunc`."""

import mlflow.models

from sec_assets.core.tracking.pyfunc import SecClassifierModel

mlflow.models.set_model(SecClassifierModel())
