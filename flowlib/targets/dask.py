"""dask DataFrames stored as partitioned Parquet datasets (the files of :class:`DatasetTarget`).

Saving writes each dask partition as part files on whatever runs the computation (the
threads of this process, or the workers of a ``dask.distributed`` cluster), then the
manifest; loading gives a lazy dask DataFrame with one partition per part file. The
folder is the same as a :class:`DatasetTarget`'s, so pandas, pyarrow and dask read it
alike. dask is imported only when a dask output is saved or loaded (extra ``dask``).

Example:
    >>> import dask.dataframe as dd, pandas as pd  # doctest: +SKIP
    >>> target.save(dd.from_pandas(pd.DataFrame({"x": range(10)}), npartitions=2))  # doctest: +SKIP
    >>> target.load().x.sum().compute()  # doctest: +SKIP
    45
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds

from flowlib.errors import FlowlibError, TargetFormatError
from flowlib.storage import Storage
from flowlib.targets.base import OutputInfo, register_target
from flowlib.targets.dataset import DatasetTarget, as_expression
from flowlib.targets.parts import DatasetWriter, Part

__all__ = ["DaskTarget", "import_dask"]


def import_dask() -> Any:
    """``dask.dataframe``, or a :class:`FlowlibError` saying to install the ``dask`` extra."""
    try:
        import dask.dataframe as dd
    except ImportError as exc:
        raise FlowlibError(f"dask outputs need dask: pip install 'flowlib[dask]' ({exc})") from exc
    return dd


def write_partition(
    frame: pd.DataFrame,
    folder: str,
    storage: Storage | None,
    prefix: str,
    partition_on: list[str],
    schema: pa.Schema,
    part_rows: int,
) -> list[Part]:
    """Write one dask partition as part files (runs on a dask worker); the parts written."""
    writer = DatasetWriter(folder, partition_on=partition_on, storage=storage, prefix=prefix, part_rows=part_rows)
    try:
        writer.write(pa.Table.from_pandas(frame, schema=schema, preserve_index=False))
        return writer.close()
    except BaseException:
        writer.abort()
        raise


def read_part(path: str, dataset_args: dict[str, Any], selected: list[str] | None, filters: Any) -> pd.DataFrame:
    """One part file as a DataFrame, ``selected`` columns of the rows ``filters`` keeps (runs on a dask worker)."""
    dataset = ds.dataset([path], **dataset_args)
    return dataset.to_table(columns=selected, filter=as_expression(filters)).to_pandas()


@register_target
class DaskTarget(DatasetTarget):
    """A dask DataFrame stored as a partitioned Parquet dataset (one or more part files per partition)."""

    name = "dask"
    suffix = ".dataset"

    def save(self, obj: Any) -> OutputInfo:
        dd = import_dask()
        if isinstance(obj, (pd.DataFrame, pa.Table)):
            return super().save(obj)
        if not isinstance(obj, dd.DataFrame):
            raise TargetFormatError(
                f"a dask output holds dask or pandas DataFrames, got {type(obj).__name__}; "
                "e.g. dask.dataframe.from_pandas(frame, npartitions=4)"
            )
        import dask

        meta = dd.utils.make_meta(obj)
        try:
            schema = pa.Schema.from_pandas(meta, preserve_index=False)
        except (pa.ArrowException, TypeError, ValueError) as exc:
            raise TargetFormatError(f"a dataset cannot hold these columns {list(meta.columns)}: {exc}") from exc
        partition_on = list(self.partition_on)
        missing = [name for name in partition_on if name not in schema.names]
        if missing:
            raise TargetFormatError(f"partition_on names {missing}, which the data lacks; it has {schema.names}")

        def produce(folder: str, storage: Storage | None, prefix: str) -> tuple[pa.Schema, list[Part]]:
            pieces = obj.to_delayed()
            writes = [
                dask.delayed(write_partition)(
                    piece, folder, storage, f"{prefix}-{number:05d}", partition_on, schema, self.part_rows
                )
                for number, piece in enumerate(pieces)
            ]
            written = dask.compute(*writes)
            return schema, sorted((part for parts in written for part in parts), key=lambda part: part.path)

        return self.save_with(produce)

    def load(self, *, columns: list[str] | None = None, filters: Any = None) -> Any:
        """A lazy dask DataFrame, one partition per part file (``columns`` / ``filters`` as for datasets)."""
        dd = import_dask()
        files, args = self.sources()
        schema = args["schema"]
        wanted = schema if columns is None else pa.schema([schema.field(name) for name in columns])
        meta = wanted.empty_table().to_pandas()
        if not files:
            return dd.from_pandas(meta, npartitions=1)
        return dd.from_map(read_part, files, args=(args, columns, filters), meta=meta, enforce_metadata=False)
