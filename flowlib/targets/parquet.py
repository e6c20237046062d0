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

    def check(self, obj: Any) -> None:
        require_dataframe(obj, "Parquet")
        _check_names(obj)
        if settings.parquet_compression not in _CODECS:
            raise FlowlibError(
                f"Parquet codec {settings.parquet_compression!r} is not supported; "
                f"set flowlib.settings.parquet_compression to one of {sorted(_CODECS)}"
            )

    def _write(self, obj: pd.DataFrame, path: str) -> None:
        # A frame without columns keeps its rows only if its index is stored as a column.
        keep_index = True if obj.shape[1] == 0 else None
        try:
            table = pa.Table.from_pandas(obj, preserve_index=keep_index)
            # An open native file: writing to a path would resolve a filesystem for it on every save.
            with pa.OSFile(path, "wb") as sink:
                pq.write_table(table, sink, compression=settings.parquet_compression)
        except OSError:
            raise
        except (pa.ArrowException, TypeError, ValueError) as exc:
            raise TargetFormatError(
                f"Parquet cannot hold this DataFrame: {exc}; convert the offending column "
                "(e.g. mixed-type object columns to str) or use TaskPickle"
            ) from exc

    def _read(self, source: str | IO[bytes]) -> pd.DataFrame:
        return pq.read_table(source).to_pandas()
