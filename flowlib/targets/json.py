"""JSON files: DataFrames (pandas' ``orient="table"``) and plain dicts and lists.

JSON keeps values and most dtypes of a DataFrame, not time zones or categories' order.
"""

from __future__ import annotations

import io
import json
from typing import IO, Any

import pandas as pd

from flowlib.errors import TargetFormatError
from flowlib.targets.base import FileTarget, register_target

__all__ = ["JSONTarget"]


def _is_table(data: Any) -> bool:
    return isinstance(data, dict) and set(data) == {"schema", "data"} and "pandas_version" in data["schema"]


@register_target
class JSONTarget(FileTarget):
    """A DataFrame, dict or list stored as JSON (UTF-8)."""

    name = "json"
    suffix = ".json"

    def check(self, obj: Any) -> None:
        if not isinstance(obj, (pd.DataFrame, dict, list)):
            raise TargetFormatError(
                f"JSON holds DataFrames, dicts and lists, got {type(obj).__name__}; use TaskPickle for other objects"
            )

    def _write(self, obj: Any, path: str) -> None:
        try:
            if isinstance(obj, pd.DataFrame):
                text = obj.to_json(orient="table", date_format="iso", date_unit="ns")
            else:
                text = json.dumps(obj, ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise TargetFormatError(f"JSON cannot hold this object: {exc}; use TaskPickle") from exc
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)

    def _read(self, source: str | IO[bytes]) -> Any:
        if isinstance(source, str):
            with open(source, encoding="utf-8") as handle:
                text = handle.read()
        else:
            text = source.read().decode("utf-8")
        data = json.loads(text)
        if _is_table(data):
            return pd.read_json(io.StringIO(text), orient="table")
        return data
