"""DataFrames as Parquet files (pyarrow; zstd by default, snappy on request).

Parquet keeps everything a DataFrame holds: dtypes, time zones, categories and their
order, nullable dtypes and the index. One pandas quirk: an ``object`` column of strings
comes back with pandas' ``str`` dtype, as with ``pandas.read_parquet``.
"""

from __future__ import annotations

from typing import IO, Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from flowlib.errors import FlowlibError, TargetFormatError
from flowlib.settings import settings
from flowlib.targets.base import FileTarget, register_target

__all__ = ["ParquetTarget", "require_dataframe"]

_CODECS = {"zstd", "snappy", "lz4", "none"}
_NAME_TYPES = {"string", "integer", "floating", "empty"}  # column names of these types come back as they were


#: Frames of at most this many cells are encoded in memory, then written and hashed in one go.
SMALL_CELLS = 100_000


def _table(obj: pd.DataFrame) -> pa.Table:
    # A frame without columns keeps its rows only if its index is stored as a column.
    return pa.Table.from_pandas(obj, preserve_index=True if obj.shape[1] == 0 else None)


def _schema_of(table: pa.Table, columns: int) -> dict[str, str] | None:
    """The frame's column dtypes as :func:`~flowlib.targets.base.describe` names them, read from the pandas
    metadata pyarrow just wrote (no pandas Series built per save); ``None`` when the two could differ."""
    meta = table.schema.pandas_metadata
    if not meta:
        return None
    index = meta.get("index_columns") or []
    schema: dict[str, str] = {}
    for column in meta.get("columns") or []:
        if column.get("field_name") in index or column.get("name") in index:
            continue
        kind, numpy_type, extra = column.get("pandas_type"), column.get("numpy_type"), column.get("metadata") or {}
        if kind == "categorical":
            numpy_type = "category"
        elif kind == "datetimetz":
            numpy_type = f"{str(numpy_type)[:-1]}, {extra.get('timezone')}]"
        schema[str(column.get("name"))] = str(numpy_type)
    return schema if len(schema) == columns else None


class _FormatErrors:
    """What pyarrow refuses becomes a :class:`TargetFormatError` saying what to do; disk errors stay OS errors.

    A class, not a generator (every save enters it); one stateless instance serves every ``with``.
    """

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, _tb: object) -> None:
        if isinstance(exc, (pa.ArrowException, TypeError, ValueError)) and not isinstance(exc, OSError):
            raise TargetFormatError(
                f"Parquet cannot hold this DataFrame: {exc}; convert the offending column "
                "(e.g. mixed-type object columns to str) or use TaskPickle"
            ) from exc


_format_errors = _FormatErrors()


def require_dataframe(obj: Any, fmt: str) -> None:
    """Raise :class:`TargetFormatError` unless ``obj`` is a DataFrame (``fmt`` names the format)."""
    if not isinstance(obj, pd.DataFrame):
        raise TargetFormatError(
            f"{fmt} holds pandas DataFrames, got {type(obj).__name__}; "
            "use TaskPickle (any object) or TaskJSON (dicts and lists) for this output"
        )


def _check_names(frame: pd.DataFrame) -> None:
    """Refuse names that pyarrow would turn into other names (it stores them as strings)."""
    columns = frame.columns
    levels = columns.levels if isinstance(columns, pd.MultiIndex) else [columns]
    if any(level.inferred_type not in _NAME_TYPES for level in levels):
        raise TargetFormatError(
            f"Parquet would turn the column names {list(columns)[:6]} into other names (they are of "
            f"{columns.inferred_type} type); make them all str, e.g. df.columns = df.columns.astype(str)"
        )
    odd = [name for name in frame.index.names if name is not None and not isinstance(name, str)]
    if odd:
        raise TargetFormatError(f"Parquet stores index names as strings, got {odd}; rename the index with a str")


@register_target
class ParquetTarget(FileTarget):
    """A DataFrame stored as Parquet with pyarrow. Codec: ``settings.parquet_compression``."""

    name = "parquet"
    suffix = ".parquet"
    #: Rows and schema of the frame this target last converted (read by ``_description`` right after the save).
    _written: tuple[int, dict[str, str] | None] | None = None

    def check(self, obj: Any) -> None:
        require_dataframe(obj, "Parquet")
        _check_names(obj)
        if settings.parquet_compression not in _CODECS:
            raise FlowlibError(
                f"Parquet codec {settings.parquet_compression!r} is not supported; "
                f"set flowlib.settings.parquet_compression to one of {sorted(_CODECS)}"
            )

    def _big(self, obj: Any) -> bool:
        if not isinstance(obj, pd.DataFrame):
            return False
        rows, columns = obj.shape  # not DataFrame.size: numpy's prod costs more than this whole check
        return rows * columns > SMALL_CELLS

    def _encode(self, obj: pd.DataFrame) -> memoryview | None:
        """Frames of at most :data:`SMALL_CELLS` cells are encoded in memory (then written and hashed at once)."""
        if self._big(obj):
            return None  # written by pyarrow to the file and hashed after: no second copy in memory
        with _format_errors:
            sink = pa.BufferOutputStream()
            pq.write_table(self._converted(obj), sink, compression=settings.parquet_compression)
            return memoryview(sink.getvalue())

    def _write(self, obj: pd.DataFrame, path: str) -> None:
        # An open native file: writing to a path would resolve a filesystem for it on every save.
        with _format_errors, pa.OSFile(path, "wb") as sink:
            pq.write_table(self._converted(obj), sink, compression=settings.parquet_compression)

    def _converted(self, obj: pd.DataFrame) -> pa.Table:
        table = _table(obj)
        self._written = (len(obj), _schema_of(table, obj.shape[1]))
        return table

    def _description(self, obj: Any) -> tuple[int | None, dict[str, str] | None]:
        written, self._written = self._written, None
        if written is None or written[1] is None or written[0] != len(obj):
            return super()._description(obj)
        return written

    def _read(self, source: str | IO[bytes]) -> pd.DataFrame:
        return pq.read_table(source).to_pandas()
