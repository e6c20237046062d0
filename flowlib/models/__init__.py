"""Models: tasks that train and predict, scikit-learn estimators as tasks, a registry of generations.

Example:
    >>> from flowlib.models import ModelTask, from_estimator, Registry  # doctest: +SKIP
"""

from flowlib.models.registry import (
    Model,
    ModelRef,
    Provenance,
    Registry,
    RegistryError,
    UnknownModelError,
    provenance,
)
from flowlib.models.sklearn import HyperParameter, from_estimator, training_frame
from flowlib.models.task import FeatureError, ModelError, ModelTask, as_predictions, default_apply, model_features

__all__ = [
    "ModelTask",
    "Registry",
    "ModelRef",
    "Model",
    "Provenance",
    "provenance",
    "RegistryError",
    "UnknownModelError",
    "ModelError",
    "FeatureError",
    "from_estimator",
    "HyperParameter",
    "training_frame",
    "as_predictions",
    "default_apply",
    "model_features",
]
