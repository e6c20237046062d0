"""``from_estimator``: a ModelTask class from any scikit-learn estimator class.

The task's luigi parameters are the estimator's hyperparameters with their defaults
(``IntParameter``, ``FloatParameter``, ``BoolParameter``, else a :class:`HyperParameter`
that reads Python literals: ``None``, ``3``, ``0.5``, ``"sqrt"``, ``{"a": 1}``). ``fit`` trains on
the input's feature columns against ``label``; ``score`` stores scikit-learn's ``score`` on the
``test`` output when the input has one (else on the training data) as ``accuracy`` (classifiers),
``r2`` (regressors) or ``score``. scikit-learn is the optional extra ``models``.

Example:
    >>> from sklearn.linear_model import Ridge
    >>> Model = from_estimator(Ridge, label="target")
    >>> Model().alpha, Model(alpha=0.5).alpha
    (1.0, 0.5)
"""

from __future__ import annotations

import ast
import inspect
import sys
from collections.abc import Sequence
from typing import Any

import luigi
import pandas as pd

from flowlib.errors import TaskDefinitionError
from flowlib.models.task import ModelError, ModelTask

__all__ = ["from_estimator", "HyperParameter", "training_frame"]


class HyperParameter(luigi.Parameter):  # type: ignore[misc]
    """A parameter holding any Python literal (``None``, numbers, strings, tuples, dicts).

    On the command line the text is read with ``ast.literal_eval``; text that is not a literal
    stays a string (``--criterion entropy``).

    Example:
        >>> HyperParameter().parse("3"), HyperParameter().parse("sqrt"), HyperParameter().parse("None")
        (3, 'sqrt', None)
    """

    def parse(self, x: str) -> Any:
        try:
            return ast.literal_eval(x)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            return x

    def serialize(self, x: Any) -> str:
        return repr(x)

    def normalize(self, x: Any) -> Any:
        return x


def _parameter(default: Any) -> Any:
    if isinstance(default, bool):
        return luigi.BoolParameter(default=default, parsing=luigi.BoolParameter.EXPLICIT_PARSING)
    if isinstance(default, int):
        return luigi.IntParameter(default=default)
    if isinstance(default, float):
        return luigi.FloatParameter(default=default)
    if default is inspect.Parameter.empty:
        return HyperParameter()
    return HyperParameter(default=default)


def training_frame(data: Any, part: str = "train") -> pd.DataFrame:
    """The DataFrame to train (or test) on from what ``input_load()`` returned.

    A DataFrame is itself; a dict gives its ``part`` (``"train"`` / ``"test"``) or its only value;
    a list gives its first item (``"train"``) or its last (``"test"``).

    Example:
        >>> training_frame({"train": pd.DataFrame({"a": [1]}), "test": pd.DataFrame({"a": [2]})}, "test")["a"].tolist()
        [2]
    """
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, dict):
        if part in data:
            return training_frame(data[part], part)
        if len(data) == 1:
            return training_frame(next(iter(data.values())), part)
    if isinstance(data, (list, tuple)) and data:
        return training_frame(data[0] if part == "train" else data[-1], part)
    raise ModelError(
        f"a model task trains on a DataFrame (or a dict / list of them with 'train' and 'test'); "
        f"its input is {type(data).__name__}"
    )


def _metric_name(estimator: Any) -> str:
    from sklearn.base import is_classifier, is_regressor

    return "accuracy" if is_classifier(estimator) else "r2" if is_regressor(estimator) else "score"


def from_estimator(
    estimator_class: type,
    label: str = "target",
    features: Sequence[str] | None = None,
    name: str | None = None,
) -> type[ModelTask]:
    """A ModelTask class training ``estimator_class`` to predict ``label`` from ``features`` (default: the rest).

    Give it training data by subclassing with ``@flowlib.requires(GetData)``. ``name`` is the
    class name (the task family; default the estimator's name).

    Example:
        >>> from sklearn.tree import DecisionTreeClassifier
        >>> Tree = from_estimator(DecisionTreeClassifier, label="species", name="Tree")
        >>> Tree(max_depth=3).max_depth, Tree.get_task_family()
        (3, 'Tree')
    """
    if not isinstance(estimator_class, type) or not callable(getattr(estimator_class, "fit", None)):
        raise TaskDefinitionError(
            f"from_estimator takes an estimator class with fit(), e.g. RandomForestClassifier; got {estimator_class!r}"
        )
    signature = inspect.signature(estimator_class)
    attributes: dict[str, Any] = {}
    for parameter in signature.parameters.values():
        if parameter.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            continue
        if hasattr(ModelTask, parameter.name):
            raise TaskDefinitionError(
                f"{estimator_class.__name__}'s hyperparameter {parameter.name!r} clashes with a task attribute; "
                "subclass ModelTask and write fit() yourself"
            )
        attributes[parameter.name] = _parameter(parameter.default)
    hyperparameters = tuple(attributes)
    chosen_features = None if features is None else list(features)

    def estimator(self: ModelTask) -> Any:
        """A new, unfitted estimator with this task's hyperparameters."""
        return estimator_class(**{key: getattr(self, key) for key in hyperparameters})

    def fit(self: Any, data: Any) -> Any:
        frame = training_frame(data, "train")
        if label not in frame.columns:
            raise ModelError(f"{self}: the training data has no label column {label!r}; columns: {list(frame.columns)}")
        columns = chosen_features if chosen_features is not None else [c for c in frame.columns if c != label]
        model = self.estimator()
        model.fit(frame[columns], frame[label])
        return model

    def score(self: ModelTask, model: Any, data: Any) -> dict[str, Any]:
        frame = training_frame(data, "test")
        columns = self.model_features(model) or [c for c in frame.columns if c != label]
        return {_metric_name(model): float(model.score(frame[columns], frame[label])), "rows": len(frame)}

    def code_parts(cls: type) -> list[str]:
        # The estimator's own code is not in this class: its name and its library's version stand for it.
        library = sys.modules.get(estimator_class.__module__.partition(".")[0])
        version = getattr(library, "__version__", "unknown")
        return [f"estimator {estimator_class.__module__}.{estimator_class.__qualname__} {version}", f"label {label}"]

    family = name or estimator_class.__name__
    frame = inspect.currentframe()
    caller = frame.f_back.f_globals.get("__name__", __name__) if frame and frame.f_back else __name__
    attributes.update(
        __module__=caller,
        __qualname__=family,
        __doc__=f"{estimator_class.__name__} as a model task, predicting {label!r}.",
        label=label,
        features=chosen_features,
        estimator_class=estimator_class,
        hyperparameters=hyperparameters,
        estimator=estimator,
        fit=fit,
        score=score,
        code_parts=classmethod(code_parts),
    )
    return type(family, (ModelTask,), attributes)
