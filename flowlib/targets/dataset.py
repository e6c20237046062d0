"""Partitioned Parquet datasets: a folder of Parquet parts and a manifest that commits them.

An output is the folder ``<root>/<Family>/<task_id>-<key>.dataset``. Its parts are written
with pyarrow's ``ParquetWriter`` a bounded number of rows at a time (optionally in hive
folders ``col=value/`` per ``partition_on``); the manifest ``_flowlib_manifest.json``,
written last, lists every part with its size, rows and fingerprint. The manifest is the
commit marker: a folder without one is not complete, and readers read only the parts it
lists. Locally the folder is written under a temporary name beside the final one and
renamed into place; on object stores the parts get unique names under the final prefix
and the manifest is uploaded last.

Example:
    >>> import pandas as pd
    >>> from flowlib.storage import get_storage
    >>> storage = get_storage("/tmp/flowlib-doc")
    >>> target = DatasetTarget(storage.output_path("Doc", "Doc_x", "data", ".dataset"), storage)
    >>> target.save(pd.DataFrame({"x": [1, 2, 3]})).rows
    3
    >>> target.load(columns=["x"], filters=[("x", ">", 1)])["x"].tolist()
    [2, 3]
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterable, Iterator
from typing import Any, ClassVar

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from flowlib.errors import CorruptOutputError, StorageError, TargetFormatError
from flowlib.hashing import hash_file
from flowlib.layout import temp_name
from flowlib.settings import settings
from flowlib.storage import FileStat, FsspecStorage, Storage
from flowlib.targets.base import OutputInfo, Target, register_target
from flowlib.targets.parts import (
    MANIFEST,
    PART_ROWS,
    ROW_GROUP_ROWS,
    DatasetWriter,
    Manifest,
    Part,
    as_table,
    combined_fingerprint,
    manifest_bytes,
    read_manifest,
)

__all__ = ["DatasetTarget", "as_expression", "MANIFEST", "PART_ROWS"]


def pandas_dtypes(schema: pa.Schema) -> dict[str, str]:
    """The columns and pandas dtypes a dataset of ``schema`` loads with (what records say of every table)."""
    try:
        empty = schema.empty_table().to_pandas()
    except (pa.ArrowException, TypeError, ValueError):
        return {field.name: str(field.type) for field in schema}
    return {str(name): str(dtype) for name, dtype in empty.dtypes.items()}


def as_expression(filters: Any) -> ds.Expression | None:
    """A pyarrow expression from ``filters``: an expression, or pyarrow's list-of-tuples form.

    Example:
        >>> str(as_expression([("x", ">", 1)]))
        '(x > 1)'
    """
    if filters is None or isinstance(filters, ds.Expression):
        return filters
    try:
        return pq.filters_to_expression(filters)
    except (TypeError, ValueError) as exc:
        raise TargetFormatError(
            f"cannot read filters {filters!r}: {exc}; give a pyarrow expression (pyarrow.dataset.field('x') > 1) "
            "or tuples [('x', '>', 1)]"
        ) from exc


@register_target
class DatasetTarget(Target):
    """A table stored as a folder of Parquet parts with a manifest (optionally hive-partitioned).

    ``save`` takes a DataFrame or Arrow table, :meth:`save_batches` an iterable of them (or of
    record batches), streamed to disk; ``load`` gives a DataFrame (``columns`` and ``filters``
    read only what they select), :meth:`dataset` the ``pyarrow.dataset.Dataset``, :meth:`batches`
    record batches with bounded memory.
    """

    name = "dataset"
    suffix = ".dataset"
    #: Columns the data is hive-partitioned by (set by the task from its ``partition_on``).
    partition_on: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self, path: str, storage: Storage, *, partition_on: Iterable[str] | None = None, part_rows: int = PART_ROWS
    ) -> None:
        super().__init__(path, storage)
        if not isinstance(part_rows, int) or part_rows < 1:
            raise TargetFormatError(f"part_rows must be a positive int, got {part_rows!r}")
        self.part_rows = part_rows
        self.partition_on = tuple(partition_on) if partition_on is not None else type(self).partition_on  # type: ignore[misc]

    @property
    def manifest_path(self) -> str:
        """Where the manifest (the commit marker) lives."""
        return f"{self.path}/{MANIFEST}"

    def exists(self) -> bool:
        return self.storage.exists(self.manifest_path)

    def stat(self) -> FileStat | None:
        return self.storage.stat(self.manifest_path)

    # -- writing ----------------------------------------------------------------------
    def save(self, obj: Any) -> OutputInfo:
        if isinstance(obj, (pd.DataFrame, pa.Table)):
            table = as_table(obj, None)
            step = min(self.part_rows, ROW_GROUP_ROWS)
            batches: Iterable[Any] = [table.slice(start, step) for start in range(0, table.num_rows, step)]
            if not table.num_rows:
                batches = [table]
            return self.save_batches(batches)
        raise TargetFormatError(
            f"a dataset holds DataFrames or Arrow tables, got {type(obj).__name__}; stream an iterable of "
            "DataFrames or record batches with self.save_batches(...)"
        )

    def save_batches(self, batches: Iterable[Any]) -> OutputInfo:
        """Stream DataFrames, Arrow tables or record batches into a new dataset; what was written."""

        def produce(folder: str, storage: Storage | None, prefix: str) -> tuple[pa.Schema, list[Part]]:
            writer = DatasetWriter(
                folder, partition_on=self.partition_on, storage=storage, prefix=prefix, part_rows=self.part_rows
            )
            try:
                for batch in batches:
                    writer.write(batch)
                if writer.schema is None:
                    raise TargetFormatError("save_batches() got no batch; give at least one (it may have no rows)")
                return writer.schema, writer.close()
            except BaseException:
                writer.abort()
                raise

        return self.save_with(produce)

    def save_with(self, produce: Any) -> OutputInfo:
        """Publish a dataset whose parts ``produce(folder, storage, prefix)`` writes; it returns (schema, parts).

        ``folder`` is a local temporary folder (``storage`` ``None``), or the final prefix on an fsspec
        ``storage``; part names start with ``prefix``. The manifest is written last, then published.
        """
        if self.storage.is_local:
            return self._save_local(produce)
        return self._save_remote(produce)

    def _save_local(self, produce: Any) -> OutputInfo:
        parent = os.path.dirname(self.path)
        self.storage.makedirs(parent)
        tmp = temp_name(self.path)
        try:
            os.mkdir(tmp)
            schema, parts = produce(tmp, None, "part")
            manifest = manifest_bytes(schema, parts, list(self.partition_on))
            with open(f"{tmp}/{MANIFEST}", "wb") as handle:
                handle.write(manifest)
                if settings.fsync:
                    handle.flush()
                    os.fsync(handle.fileno())
            self._publish(tmp)
        except BaseException as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            if isinstance(exc, OSError):
                raise StorageError(f"could not write {self.path!r}: {exc}; earlier outputs are intact") from exc
            raise
        return self._info(schema, parts, manifest)

    def _publish(self, tmp: str) -> None:
        """Rename ``tmp`` to the final folder; an old dataset is renamed aside first, then removed."""
        try:
            os.rename(tmp, self.path)
            return
        except OSError:
            if not os.path.exists(self.path):
                raise
        aside = temp_name(self.path)
        os.rename(self.path, aside)
        os.rename(tmp, self.path)
        shutil.rmtree(aside, ignore_errors=True)

    def _save_remote(self, produce: Any) -> OutputInfo:
        assert isinstance(self.storage, FsspecStorage)
        old = self._manifest_or_none()
        prefix = f"part-{uuid.uuid4().hex[:12]}"
        try:
            schema, parts = produce(self.path, self.storage, prefix)
        except BaseException:
            for path in self.storage.list_files(self.path):
                if path.rpartition("/")[2].startswith(prefix):
                    with contextlib.suppress(OSError):
                        self.storage.remove(path)
            raise
        manifest = manifest_bytes(schema, parts, list(self.partition_on))
        self.storage.write_bytes(self.manifest_path, manifest)  # the commit: readers now see the new parts
        if old is not None:
            kept = {part.path for part in parts}
            for part in old.parts:
                if part.path not in kept:
                    with contextlib.suppress(OSError):
                        self.storage.remove(f"{self.path}/{part.path}")
        return self._info(schema, parts, manifest)

    def _info(self, schema: pa.Schema, parts: list[Part], manifest: bytes) -> OutputInfo:
        found = self.stat()
        size = found.size if found is not None else len(manifest)
        mtime = found.mtime_ns if found is not None and self.storage.is_local else None
        return OutputInfo(
            self.path,
            combined_fingerprint(parts),
            size,
            sum(part.rows for part in parts),
            pandas_dtypes(schema),
            extra={"files": len(parts), "data_bytes": sum(part.bytes for part in parts)},
            mtime_ns=mtime,
        )

    # -- reading ----------------------------------------------------------------------
    def _manifest_or_none(self) -> Manifest | None:
        try:
            return read_manifest(self.storage.read_bytes(self.manifest_path), self.path)
        except FileNotFoundError:
            return None

    def manifest(self) -> Manifest:
        """The dataset's manifest (``FileNotFoundError`` when it was never saved)."""
        return read_manifest(self.storage.read_bytes(self.manifest_path), self.path)

    def sources(self, *, check: bool = True) -> tuple[list[str], dict[str, Any]]:
        """The part paths the manifest lists and the ``pyarrow.dataset.dataset`` arguments that read them."""
        manifest = self.manifest()
        paths = [f"{self.path}/{part.path}" for part in manifest.parts]
        if check:
            self._check_parts(manifest, paths)
        args: dict[str, Any] = {"schema": manifest.schema, "format": "parquet"}
        base = self.path
        if isinstance(self.storage, FsspecStorage):
            import fsspec.core  # remote roots have fsspec

            args["filesystem"] = self.storage.fs
            paths = [fsspec.core.strip_protocol(path) for path in paths]
            base = fsspec.core.strip_protocol(base)
        if manifest.partition_on:
            fields = [manifest.schema.field(name) for name in manifest.partition_on]
            args["partitioning"] = ds.partitioning(pa.schema(fields), flavor="hive")
            args["partition_base_dir"] = base
        return paths, args

    def dataset(self, *, check: bool = True) -> ds.Dataset:
        """The ``pyarrow.dataset.Dataset`` of the parts the manifest lists (their sizes checked with ``check``)."""
        paths, args = self.sources(check=check)
        try:
            return ds.dataset(paths, **args)
        except (pa.ArrowException, OSError) as exc:
            raise CorruptOutputError(
                f"cannot open dataset {self.path!r}: {type(exc).__name__}: {exc}; invalidate the task and run it again"
            ) from exc

    def _check_parts(self, manifest: Manifest, paths: list[str]) -> None:
        for part, path in zip(manifest.parts, paths):
            found = self.storage.stat(path)
            if found is None or found.size != part.bytes:
                what = "is missing" if found is None else f"has {found.size} bytes, the manifest says {part.bytes}"
                raise CorruptOutputError(
                    f"dataset {self.path!r}: part {part.path} {what}; invalidate the task and run it again"
                )

    def load(self, *, columns: list[str] | None = None, filters: Any = None) -> pd.DataFrame:
        """The dataset as a DataFrame; ``columns`` and ``filters`` (expression or tuples) read only what they select."""
        dataset = self.dataset()
        try:
            return dataset.to_table(columns=columns, filter=as_expression(filters)).to_pandas()
        except (pa.ArrowInvalid, pa.ArrowTypeError, KeyError) as exc:
            raise TargetFormatError(
                f"cannot select columns={columns!r} filters={filters!r} from {self.path!r}: {exc}; "
                f"its columns are {dataset.schema.names}"
            ) from exc
        except (pa.ArrowException, OSError) as exc:
            raise CorruptOutputError(
                f"cannot read dataset {self.path!r}: {type(exc).__name__}: {exc}; invalidate the task and run it again"
            ) from exc

    def batches(
        self, *, columns: list[str] | None = None, filters: Any = None, batch_size: int = 256 * 1024
    ) -> Iterator[pa.RecordBatch]:
        """Record batches of the dataset, read ahead little so memory stays bounded."""
        scanner = self.dataset().scanner(
            columns=columns,
            filter=as_expression(filters),
            batch_size=batch_size,
            batch_readahead=1,
            fragment_readahead=1,
        )
        yield from scanner.to_batches()

    def content_fingerprint(self, like: str | None = None) -> str:
        """Hash every part again and combine them as ``save`` did (what ``verify`` and a touched manifest use)."""
        manifest = self.manifest()
        parts = []
        for part in manifest.parts:
            with self.storage.reading(f"{self.path}/{part.path}") as source:
                parts.append(Part(part.path, part.bytes, part.rows, hash_file(source)))
        return combined_fingerprint(parts)

    def remove(self) -> None:
        if self.storage.is_local:
            if not os.path.exists(self.path):
                return
            aside = temp_name(self.path)
            try:
                os.rename(self.path, aside)  # gone at once, then deleted at leisure
            except FileNotFoundError:
                return
            shutil.rmtree(aside, ignore_errors=True)
            return
        assert isinstance(self.storage, FsspecStorage)
        self.storage.remove(self.manifest_path)  # no longer complete, then the parts
        with contextlib.suppress(FileNotFoundError):
            self.storage.fs.rm(self.path, recursive=True)
        self.storage.fs.invalidate_cache(self.path)
