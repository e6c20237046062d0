"""Records, after DFFML: one keyed row of features with an optional prediction, and conversions to and from frames.

Example:
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"id": [1, 2], "x": [0.5, 1.5], "y": ["a", "b"]})
    >>> rows = records(frame, key="id")
    >>> rows[0]
    Record(1, features={'x': 0.5, 'y': 'a'})
    >>> rows[1].features(["y"])
    {'y': 'b'}
    >>> to_frame(rows, key="id").equals(frame)
    True
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

from flowlib.sources.errors import SchemaError

__all__ = ["Record", "records", "to_frame"]


class Record:
    """``Record(key, features={...}, prediction=None)``: a keyed row of feature values."""

    __slots__ = ("key", "_features", "prediction")

    def __init__(self, key: Any, features: Mapping[str, Any] | None = None, prediction: Any = None) -> None:
        self.key = key
        self._features = dict(features or {})
        self.prediction = prediction

    def features(self, names: Sequence[str] | None = None) -> dict[str, Any]:
        """The feature values (``names``: only these, in this order; an unknown name is a ``SchemaError``)."""
        if names is None:
            return dict(self._features)
        missing = [n for n in names if n not in self._features]
        if missing:
            raise SchemaError(f"record {self.key!r} has no feature {missing}; it has {list(self._features)}")
        return {n: self._features[n] for n in names}

    def evaluated(self, **features: Any) -> Record:
        """A copy with more (or other) feature values."""
        return Record(self.key, {**self._features, **features}, self.prediction)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Record):
            return NotImplemented
        return (self.key, self._features, self.prediction) == (other.key, other._features, other.prediction)

    def __hash__(self) -> int:
        return hash(self.key)

    def __repr__(self) -> str:
        text = f"Record({self.key!r}, features={self._features!r}"
        return text + (f", prediction={self.prediction!r})" if self.prediction is not None else ")")


def _plain(value: Any) -> Any:
    """numpy scalars as Python values; missing values as None."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and value != value:
        return None
    item = getattr(value, "item", None)
    return item() if callable(item) and not isinstance(value, (str, bytes)) else value


def records(frame: pd.DataFrame, key: str = "id", *, prediction: str | None = None) -> list[Record]:
    """One :class:`Record` per row: ``key`` names the key column, ``prediction`` an optional prediction column."""
    if key not in frame.columns:
        raise SchemaError(f"records(key={key!r}): the frame has no such column; its columns: {list(frame.columns)}")
    if prediction is not None and prediction not in frame.columns:
        raise SchemaError(f"records(prediction={prediction!r}): the frame has no such column")
    names = [c for c in frame.columns if c not in (key, prediction)]
    keys = frame[key].tolist()
    predictions = frame[prediction].tolist() if prediction is not None else [None] * len(frame)
    columns = {name: frame[name].tolist() for name in names}
    return [
        Record(_plain(k), {n: _plain(columns[n][i]) for n in names}, _plain(predictions[i])) for i, k in enumerate(keys)
    ]


def to_frame(rows: Iterable[Record], key: str = "id", *, prediction: str = "prediction") -> pd.DataFrame:
    """A frame of records: the key column, one column per feature, and ``prediction`` when any record has one."""
    rows = list(rows)
    names: dict[str, None] = {}
    for row in rows:
        names.update(dict.fromkeys(row.features()))
    data: dict[str, list[Any]] = {key: [row.key for row in rows]}
    for name in names:
        data[name] = [row.features().get(name) for row in rows]
    if any(row.prediction is not None for row in rows):
        data[prediction] = [row.prediction for row in rows]
    return pd.DataFrame(data)
