"""DataFrames as Parquet files (pyarrow; zstd by default, snappy on request)."""

from __future__ import annotations

from typing import IO, Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from flowlib.errors import TargetFormatError
from flowlib.settings import settings
from flowlib.targets.base import FileTarget, register_target

__all__ = ["ParquetTarget"]

_CODECS = {"zstd", "snappy", "lz4", "none"}


def require_dataframe(obj: Any, fmt: str) -> None:
    if not isinstance(obj, pd.DataFrame):
        raise TargetFormatError(
            f"{fmt} holds pandas DataFrames, got {type(obj).__name__}; "
            "use TaskPickle (any object) or TaskJSON (dicts and lists) for this output"
        )


@register_target
class ParquetTarget(FileTarget):
    """A DataFrame stored as Parquet with pyarrow. Codec: ``settings.parquet_compression``."""

    name = "parquet"
    suffix = ".parquet"

    def check(self, obj: Any) -> None:
        require_dataframe(obj, "Parquet")

    def _write(self, obj: pd.DataFrame, path: str) -> None:
        codec = settings.parquet_compression
        if codec not in _CODECS:
            raise TargetFormatError(f"Parquet codec {codec!r} is not supported; use one of {sorted(_CODECS)}")
        try:
            table = pa.Table.from_pandas(obj)
        except (pa.ArrowException, TypeError, ValueError) as exc:
            raise TargetFormatError(
                f"Parquet cannot hold this DataFrame: {exc}; convert the offending column "
                "(e.g. mixed-type object columns to str) or use TaskPickle"
            ) from exc
        pq.write_table(table, path, compression=codec)

    def _read(self, source: str | IO[bytes]) -> pd.DataFrame:
        return pq.read_table(source).to_pandas()
