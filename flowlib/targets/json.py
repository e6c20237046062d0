"""JSON files: DataFrames (the table schema layout of pandas' ``orient="table"``) and plain dicts and lists.

Floats are written with every digit Python's ``repr`` gives, so they come back exactly
(pandas alone keeps 15 digits). What JSON loses is listed in ``docs/targets.md``
and tested: datetimes come back with nanosecond unit, narrow numeric dtypes
(int32, float32...) widen to 64 bits, an ``object`` column of strings becomes ``str``,
an index named ``"index"`` loses its name, tuples and non-string keys do not exist in JSON.
What it cannot hold raises :class:`~flowlib.TargetFormatError` when saving.
"""

from __future__ import annotations

import io
import json
import math
from typing import IO, Any

import numpy as np
import pandas as pd

from flowlib.errors import TargetFormatError
from flowlib.targets.base import FileTarget, register_target

__all__ = ["JSONTarget"]

_TABLE_HINT = "or use TaskParquet (any DataFrame) or TaskPickle"


def _is_table(data: Any) -> bool:
    return (
        isinstance(data, dict)
        and set(data) == {"schema", "data"}
        and isinstance(data["schema"], dict)
        and "pandas_version" in data["schema"]
    )


def _check_plain(value: Any, where: str) -> None:
    """Raise unless ``value`` comes back from JSON as it went in (``where`` locates it)."""
    if value is None or isinstance(value, (str, bool, int)):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise TargetFormatError(f"JSON cannot hold {value!r} (at {where}); use None, or TaskPickle")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TargetFormatError(
                    f"JSON object keys are strings, {where} has the key {key!r} ({type(key).__name__}); "
                    "convert the keys with str() or use TaskPickle"
                )
            _check_plain(item, f"{where}[{key!r}]")
        return
    if isinstance(value, list):
        for position, item in enumerate(value):
            _check_plain(item, f"{where}[{position}]")
        return
    if isinstance(value, tuple):
        raise TargetFormatError(
            f"JSON has no tuples: {where} would come back as a list; make it a list or use TaskPickle"
        )
    raise TargetFormatError(
        f"JSON cannot hold {type(value).__name__} (at {where}); convert it to str, int, float, bool, "
        "None, list or dict, or use TaskPickle"
    )


def _levels_and_columns(frame: pd.DataFrame) -> list[pd.Series]:
    """The index levels, then the columns, in the order of the table schema's fields."""
    levels = [pd.Series(frame.index.get_level_values(i)) for i in range(frame.index.nlevels)]
    return levels + [frame.iloc[:, j] for j in range(frame.shape[1])]


def _check_frame(frame: pd.DataFrame) -> None:
    if isinstance(frame.columns, pd.MultiIndex):
        raise TargetFormatError(f"JSON cannot hold MultiIndex columns; flatten them {_TABLE_HINT}")
    names = [*frame.columns, *frame.index.names]
    odd = [name for name in names if name is not None and not isinstance(name, str)]
    if odd or not frame.columns.is_unique:
        raise TargetFormatError(
            f"JSON needs unique string column and index names, got {list(frame.columns)} / {list(frame.index.names)}; "
            f"rename them (e.g. df.columns = df.columns.astype(str)) {_TABLE_HINT}"
        )
    if any("\x00" in name for name in names if name is not None):  # pandas' reader cuts names at a NUL
        raise TargetFormatError(f"JSON cannot hold a NUL character in column or index names; rename them {_TABLE_HINT}")
    for series in _levels_and_columns(frame):
        dtype = series.dtype
        where = f"column {series.name!r}" if series.name is not None else "the index"
        if dtype.kind == "m":
            raise TargetFormatError(f"JSON cannot hold timedeltas ({where}); convert to seconds {_TABLE_HINT}")
        if dtype.kind == "M":
            try:
                series.dt.as_unit("ns")
            except (OverflowError, ValueError) as exc:
                raise TargetFormatError(
                    f"JSON reads datetimes with nanosecond unit, which ends in 2262; {where} has dates "
                    f"beyond: {exc} {_TABLE_HINT}"
                ) from exc
        if isinstance(dtype, pd.CategoricalDtype) and dtype.categories.dtype.kind == "f" and len(dtype.categories):
            raise TargetFormatError(f"JSON would round the float categories of {where}; {_TABLE_HINT}")


def _exact_floats(series: pd.Series) -> list[float | None]:
    values = series.to_numpy(dtype="float64", na_value=np.nan)
    if np.isinf(values).any():
        raise TargetFormatError(f"JSON cannot hold inf or -inf (column {series.name!r}); use NaN, {_TABLE_HINT}")
    return [None if v != v else v for v in values.tolist()]


def _frame_to_text(frame: pd.DataFrame) -> str:
    doc = json.loads(frame.to_json(orient="table", date_format="iso", date_unit="ns"))
    schema, rows = doc["schema"], doc["data"]
    fields = schema["fields"]
    # pandas leaves out the primary key when the index has duplicates, and would then load the index as a column.
    schema.setdefault("primaryKey", [field["name"] for field in fields[: frame.index.nlevels]])
    for field, series in zip(fields, _levels_and_columns(frame)):
        if series.dtype.kind == "f":  # pandas writes 15 significant digits; repr writes them all
            name = field["name"]
            for row, value in zip(rows, _exact_floats(series)):
                row[name] = value
    return json.dumps(doc, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def _text_to_frame(text: str, doc: dict[str, Any]) -> pd.DataFrame:
    frame = pd.read_json(io.StringIO(text), orient="table")
    keys = list(doc["schema"].get("primaryKey", []))
    for field in doc["schema"]["fields"]:
        if field.get("type") != "number":
            continue
        name = field["name"]
        exact = np.array([row.get(name) for row in doc["data"]], dtype="float64")
        if name in keys:
            level = keys.index(name)
            arrays = [frame.index.get_level_values(i) for i in range(frame.index.nlevels)]
            arrays[level] = pd.Index(exact, dtype=arrays[level].dtype, name=arrays[level].name)
            frame.index = arrays[0] if len(arrays) == 1 else pd.MultiIndex.from_arrays(arrays)
        elif frame[name].dtype.kind == "f":
            frame[name] = pd.array(exact, dtype=frame[name].dtype)
    if frame.shape[1] == 0:
        frame.columns = pd.RangeIndex(0)
    return frame


@register_target
class JSONTarget(FileTarget):
    """A DataFrame, dict or list stored as JSON (UTF-8)."""

    name = "json"
    suffix = ".json"

    def check(self, obj: Any) -> None:
        if isinstance(obj, pd.DataFrame):
            _check_frame(obj)
            return
        if not isinstance(obj, (dict, list)):
            raise TargetFormatError(
                f"JSON holds DataFrames, dicts and lists, got {type(obj).__name__}; use TaskPickle for other objects"
            )
        if _is_table(obj):
            raise TargetFormatError(
                "this dict has the layout of a JSON table and would load as a DataFrame; "
                "save the DataFrame itself, or use TaskPickle"
            )
        try:
            _check_plain(obj, "the value")
        except RecursionError:
            raise TargetFormatError("JSON cannot hold an object nested this deeply; use TaskPickle") from None

    streams = True

    def _write_stream(self, obj: Any, handle: IO[bytes]) -> None:
        try:
            if isinstance(obj, pd.DataFrame):
                text = _frame_to_text(obj)
            else:
                text = json.dumps(obj, ensure_ascii=False, allow_nan=False)
            data = text.encode("utf-8")
        except (TypeError, ValueError, NotImplementedError, OverflowError) as exc:
            raise TargetFormatError(f"JSON cannot hold this object: {exc}; use TaskParquet or TaskPickle") from exc
        handle.write(data)

    def _read(self, source: str | IO[bytes]) -> Any:
        if isinstance(source, str):
            with open(source, "rb") as handle:
                raw = handle.read()
        else:
            raw = source.read()
        text = raw.decode("utf-8")
        data = json.loads(text)
        if _is_table(data):
            return _text_to_frame(text, data)
        return data
