"""The code of every run's MLflow pyfunc model (MLflow "models from code"; see harness.serving)."""

import mlflow
from mlflow.pyfunc import PythonModel

from harness.serving import HarnessModel


class _Model(HarnessModel, PythonModel):
    pass


mlflow.models.set_model(_Model())
