"""DataFrames as CSV files, written and read by pyarrow's CSV engine.

CSV keeps values, not types: categoricals come back as strings, time zones
as UTC, and the index is written as ordinary columns unless it is the default.
"""

from __future__ import annotations

from typing import IO

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from flowlib.errors import TargetFormatError
from flowlib.targets.base import FileTarget, register_target
from flowlib.targets.parquet import require_dataframe

__all__ = ["CSVTarget"]


def _default_index(df: pd.DataFrame) -> bool:
    index = df.index
    return isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1 and index.name is None


@register_target
class CSVTarget(FileTarget):
    """A DataFrame stored as CSV (header row, comma separated, UTF-8)."""

    name = "csv"
    suffix = ".csv"

    def check(self, obj: object) -> None:
        require_dataframe(obj, "CSV")

    def _write(self, obj: pd.DataFrame, path: str) -> None:
        frame = obj if _default_index(obj) else obj.reset_index()
        try:
            table = pa.Table.from_pandas(frame, preserve_index=False)
            pacsv.write_csv(table, path)
        except (pa.ArrowException, TypeError, ValueError) as exc:
            raise TargetFormatError(f"CSV cannot hold this DataFrame: {exc}; use TaskParquet or TaskPickle") from exc

    def _read(self, source: str | IO[bytes]) -> pd.DataFrame:
        return pacsv.read_csv(source).to_pandas()
