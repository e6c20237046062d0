"""ModelTask: a flowlib task that trains a model from its input and predicts with it.

Write ``fit(self, data) -> model`` (``data`` is what ``self.input_load()`` returns) and, if you
want metrics, ``score(self, model, data) -> dict``; ``run()`` is provided: it loads the input,
fits, scores (the metrics go into the task's record, so ``flowlib.lineage`` compares them across
parameter sets) and saves the model with cloudpickle. ``task.predict(frame)`` loads the trained
model and returns a DataFrame; override ``apply(self, model, frame)`` to change how the model is
applied (ForML's "apply mode"): ``predict`` and the serving gateway both call it.

Example:
    >>> import flowlib
    >>> @flowlib.requires(GetData)  # doctest: +SKIP
    ... class Ratio(ModelTask):
    ...     label = "y"
    ...     def fit(self, data):
    ...         return float((data["y"] / data["x"]).mean())
    ...     def apply(self, model, frame):
    ...         return frame["x"] * model
    >>> flowlib.run(Ratio()); Ratio().predict(pd.DataFrame({"x": [1.0, 2.0]}))  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from flowlib.errors import FlowlibError
from flowlib.task import TaskPickle

__all__ = ["ModelTask", "ModelError", "FeatureError", "as_predictions", "default_apply", "model_features"]

logger = logging.getLogger(__name__)


class ModelError(FlowlibError):
    """A model task is used in a way it cannot work (e.g. ``score`` does not return a dict)."""


class FeatureError(ModelError, KeyError):
    """The frame given to a model lacks feature columns it was trained on."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


def model_features(model: Any, declared: Sequence[str] | None = None) -> list[str] | None:
    """The feature columns a model needs: ``declared``, else scikit-learn's ``feature_names_in_``, else ``None``.

    Example:
        >>> model_features(object(), ["a", "b"])
        ['a', 'b']
    """
    if declared is not None:
        return list(declared)
    names = getattr(model, "feature_names_in_", None)
    return None if names is None else [str(name) for name in names]


def check_features(frame: pd.DataFrame, features: Sequence[str] | None) -> None:
    """Raise :class:`FeatureError` naming the columns of ``features`` that ``frame`` lacks."""
    if features is None:
        return
    missing = [name for name in features if name not in frame.columns]
    if missing:
        raise FeatureError(
            f"the input lacks feature column(s) {missing}; the model needs {list(features)}, "
            f"got {[str(c) for c in frame.columns]}"
        )


def default_apply(model: Any, frame: pd.DataFrame, features: Sequence[str] | None = None) -> Any:
    """``model.predict`` on the feature columns of ``frame`` (all of them when ``features`` is ``None``).

    Example:
        >>> class Double:
        ...     def predict(self, x):
        ...         return x["a"] * 2
        >>> default_apply(Double(), pd.DataFrame({"a": [1, 2]})).tolist()
        [2, 4]
    """
    predict = getattr(model, "predict", None)
    if not callable(predict):
        raise ModelError(
            f"a {type(model).__name__} has no predict(); override apply(self, model, frame) in the model task"
        )
    return predict(frame if features is None else frame[list(features)])


def as_predictions(result: Any, index: pd.Index, name: str = "prediction") -> pd.DataFrame:
    """Predictions as a DataFrame: a frame as is, a Series or 1-D array as the column ``name``, 2-D as columns.

    Example:
        >>> as_predictions([1, 0], pd.RangeIndex(2), "y").to_dict("list")
        {'y': [1, 0]}
    """
    if isinstance(result, pd.DataFrame):
        return result
    if isinstance(result, pd.Series):
        return result.to_frame(name)
    values = np.asarray(result)
    same_index = index if len(index) == len(values) else None
    if values.ndim == 1:
        return pd.DataFrame({name: values}, index=same_index)
    if values.ndim == 2:
        columns = [name] if values.shape[1] == 1 else [f"{name}_{i}" for i in range(values.shape[1])]
        return pd.DataFrame(values, index=same_index, columns=columns)
    raise ModelError(f"apply() returned a {values.ndim}-D result; return a DataFrame, a Series or a 1-D / 2-D array")


def _plain(value: Any) -> Any:
    """numpy scalars to Python numbers, so metrics go into the JSON record."""
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    item = getattr(value, "item", None)
    return item() if isinstance(value, np.generic) and callable(item) else value


class ModelTask(TaskPickle):
    """A task that trains a model: write ``fit`` (and optionally ``score`` and ``apply``); ``run`` is provided.

    Class attributes: ``label`` (the predicted column; names the prediction column, default
    ``"prediction"``) and ``features`` (the input columns the model needs; default: what the model
    says, e.g. scikit-learn's ``feature_names_in_``). The model is the output ``model``, pickled.

    Example:
        >>> class Mean(ModelTask):
        ...     def fit(self, data):
        ...         return 42
        ...     def apply(self, model, frame):
        ...         return [model] * len(frame)
        >>> Mean().persist
        ['model']
    """

    persist: ClassVar[Sequence[str]] = ["model"]
    label: ClassVar[str | None] = None
    features: ClassVar[Sequence[str] | None] = None

    def fit(self, data: Any) -> Any:
        """Train and return the model from ``data`` (what ``self.input_load()`` returns)."""
        raise ModelError(f"{type(self).__name__} is a ModelTask: define fit(self, data) returning the model")

    def apply(self, model: Any, frame: pd.DataFrame) -> Any:
        """Predict with ``model`` on ``frame`` (default: ``model.predict`` on the feature columns)."""
        return default_apply(model, frame, self.features)

    def training_data(self) -> Any:
        """What ``fit`` and ``score`` receive: ``self.input_load()``, or ``None`` without requirements."""
        required = self.requires()
        if required is None or required == [] or required == {}:
            return None
        return self.input_load()

    def run(self) -> None:
        """Load the input, fit, score if ``score`` is defined (metrics into the record), save the model."""
        data = self.training_data()
        model = self.fit(data)
        score = getattr(self, "score", None)
        if callable(score):
            metrics = score(model, data)
            if not isinstance(metrics, Mapping):
                raise ModelError(
                    f"{self}.score() returned {type(metrics).__name__}; "
                    "return a dict of metrics, e.g. {'accuracy': 0.9}"
                )
            self.save_metadata(_plain(dict(metrics)))
            logger.info("%s scored %s", self, dict(metrics))
        self.save(model)

    def model_features(self, model: Any) -> list[str] | None:
        """The feature columns ``model`` needs (``features``, else what the model records), or ``None``."""
        return model_features(model, self.features)

    def predict(self, frame: pd.DataFrame, *, model: Any = None) -> pd.DataFrame:
        """Predictions for ``frame`` as a DataFrame, by ``apply`` with the trained model (or ``model``).

        Raises :class:`flowlib.TaskIncompleteError` when the task has not run and no model is given,
        :class:`FeatureError` when ``frame`` lacks feature columns.

        Example:
            >>> Train().predict(pd.DataFrame({"x": [1.0]}))  # doctest: +SKIP
        """
        if model is None:
            model = self.output_load()
        check_features(frame, self.model_features(model))
        name = self.label or "prediction"
        if len(frame) == 0:  # no rows, no predictions (estimators refuse empty input)
            return pd.DataFrame({name: []}, index=frame.index)
        return as_predictions(self.apply(model, frame), frame.index, name)
