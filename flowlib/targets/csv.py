"""DataFrames as CSV files, written and read by pyarrow's CSV engine.

CSV keeps values, not types: the reader infers each column's type from its text.
What changes on the way is listed in ``docs/targets.md`` and tested in
``tests/test_targets.py``: categoricals come back as strings, time zones as UTC,
datetimes with nanosecond unit, a non-default index as ordinary columns, integers
with missing values as float64, whole-number floats as int64, and text that looks
like a number, boolean or date as that type. Missing values stay missing and ``""``
stays ``""``.

Rows end with ``\\n``; when some value (or column name) holds a line break, rows end
with ``\\r\\n`` instead, which tells the reader to use pyarrow's slower parser that
allows line breaks inside quoted values. Both are standard CSV.
"""

from __future__ import annotations

import os
from typing import IO

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from flowlib.errors import TargetFormatError
from flowlib.targets.base import FileTarget, register_target
from flowlib.targets.parquet import require_dataframe

__all__ = ["CSVTarget"]

# The writer leaves missing values unquoted and empty and quotes every string, so reading
# only unquoted empty fields as missing keeps NA, "" and text like "NA" apart.
_CONVERT = pacsv.ConvertOptions(
    null_values=[""],
    strings_can_be_null=True,
    quoted_strings_can_be_null=False,
    true_values=["true"],
    false_values=["false"],
)
# A one-column row holding a missing value is an empty line: a row, not a gap.
_FAST = pacsv.ParseOptions(ignore_empty_lines=False)
_MULTILINE = pacsv.ParseOptions(ignore_empty_lines=False, newlines_in_values=True)
_WRITE = pacsv.WriteOptions(batch_size=8192)
try:
    _WRITE_MULTILINE = pacsv.WriteOptions(batch_size=8192, eol="\r\n")
    _MARKS_MULTILINE = True
except TypeError:  # pyarrow < 22 cannot choose the line end: read every file as if values span lines
    _WRITE_MULTILINE, _MARKS_MULTILINE = _WRITE, False
_MAX_BLOCK = (1 << 31) - 1
_TEXT_TYPES = (pa.types.is_string, pa.types.is_large_string, pa.types.is_binary, pa.types.is_large_binary)


def _default_index(df: pd.DataFrame) -> bool:
    index = df.index
    return isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1 and index.name is None


def _holds_line_break(array: pa.Array) -> bool:
    """Whether any value of ``array`` may contain ``\\n`` or ``\\r`` (``True`` when unsure)."""
    if pa.types.is_dictionary(array.type):
        array = array.dictionary
    kind = array.type
    if pa.types.is_primitive(kind) or pa.types.is_null(kind) or pa.types.is_decimal(kind):
        return False
    if any(test(kind) for test in _TEXT_TYPES):
        data = array.buffers()[2]  # the bytes of every value, back to back
        if data is None:
            return False
        raw = data.to_pybytes()
        return b"\n" in raw or b"\r" in raw
    return True


def _has_line_breaks(table: pa.Table) -> bool:
    if any("\n" in name or "\r" in name for name in table.column_names):
        return True
    return any(_holds_line_break(chunk) for column in table.columns for chunk in column.chunks)


def _in_utc(table: pa.Table) -> pa.Table:
    """Time zone columns in UTC: pyarrow writes other zones' offsets in whole minutes, which
    misplaces the instants of historic offsets such as Paris's +00:09:21 before 1911."""
    for i, field in enumerate(table.schema):
        if pa.types.is_timestamp(field.type) and field.type.tz not in (None, "UTC"):
            utc = pa.timestamp(field.type.unit, tz="UTC")
            table = table.set_column(i, field.with_type(utc), table.column(i).cast(utc))
    return table


def _size_and_tail(source: str | IO[bytes]) -> tuple[int, bytes]:
    """The file's size and its last two bytes."""
    if isinstance(source, str):
        with open(source, "rb") as handle:
            return _size_and_tail(handle)
    size = source.seek(0, os.SEEK_END)
    source.seek(max(size - 2, 0))
    tail = source.read(2)
    source.seek(0)
    return size, tail


@register_target
class CSVTarget(FileTarget):
    """A DataFrame stored as CSV (header row, comma separated, UTF-8)."""

    name = "csv"
    suffix = ".csv"

    def check(self, obj: object) -> None:
        require_dataframe(obj, "CSV")
        assert isinstance(obj, pd.DataFrame)
        if isinstance(obj.columns, pd.MultiIndex):
            raise TargetFormatError(
                "CSV has one header row, so it cannot hold MultiIndex columns; flatten them "
                "(e.g. df.columns = ['_'.join(map(str, c)) for c in df.columns]) or use TaskParquet"
            )
        names = [str(name) for name in obj.columns]
        if len(set(names)) != len(names):
            raise TargetFormatError(f"CSV needs column names that are unique as text, got {names}; rename them")
        if obj.shape[1] == 0:
            raise TargetFormatError("CSV cannot hold a DataFrame without columns; use TaskParquet or TaskPickle")
        durations = [str(name) for name, dtype in obj.dtypes.items() if dtype.kind == "m"]
        if durations:
            raise TargetFormatError(
                f"CSV would write the timedelta columns {durations} as bare integers; convert them "
                "(e.g. df[col].dt.total_seconds()) or use TaskParquet"
            )

    def _write(self, obj: pd.DataFrame, path: str) -> None:
        try:
            frame = obj if _default_index(obj) else obj.reset_index()
            table = _in_utc(pa.Table.from_pandas(frame, preserve_index=False))
            options = _WRITE_MULTILINE if _has_line_breaks(table) else _WRITE
            pacsv.write_csv(table, path, write_options=options)
        except OSError:
            raise
        except (pa.ArrowException, TypeError, ValueError) as exc:
            raise TargetFormatError(
                f"CSV cannot hold this DataFrame: {exc}; rename or convert the offending column, "
                "or use TaskParquet or TaskPickle"
            ) from exc

    def _read(self, source: str | IO[bytes]) -> pd.DataFrame:
        size, tail = _size_and_tail(source)
        if not tail.endswith(b"\n"):
            # The writer ends every row with a line break: anything else was cut off mid-row.
            raise ValueError(f"the file ends mid-row ({size} bytes, no final line break): it was truncated")
        parse = _MULTILINE if tail == b"\r\n" or not _MARKS_MULTILINE else _FAST
        try:
            table = pacsv.read_csv(source, parse_options=parse, convert_options=_CONVERT)
        except pa.ArrowInvalid:
            # pyarrow infers each column's type from the first block (1 MiB); when a later
            # block disagrees, read again with the whole file as one block.
            if not isinstance(source, str):
                source.seek(0)
            whole = pacsv.ReadOptions(block_size=min(max(size + 1, 1 << 20), _MAX_BLOCK))
            table = pacsv.read_csv(source, read_options=whole, parse_options=parse, convert_options=_CONVERT)
        return table.to_pandas()
