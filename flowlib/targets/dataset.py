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

import base64
import contextlib
import json
import os
import shutil
import tempfile
import urllib.parse
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from flowlib.errors import CorruptOutputError, StorageError, TargetFormatError
from flowlib.hashing import hash_bytes, hash_file
from flowlib.layout import temp_name
from flowlib.settings import settings
from flowlib.storage import FileStat, FsspecStorage, Storage
from flowlib.targets.base import OutputInfo, Target, register_target

__all__ = ["DatasetTarget", "DatasetWriter", "MANIFEST", "Part", "as_expression", "read_manifest"]

MANIFEST = "_flowlib_manifest.json"
#: Rows per part file, and per row group inside it.
PART_ROWS = 4 * 1024 * 1024
ROW_GROUP_ROWS = 1024 * 1024
#: Hive partitions with an open writer at once (the least recently written is closed beyond it).
OPEN_WRITERS = 64
_NULL = "__HIVE_DEFAULT_PARTITION__"


@dataclass(frozen=True)
class Part:
    """One Parquet file of a dataset: its path relative to the folder, size, rows and fingerprint."""

    path: str
    bytes: int
    rows: int
    fingerprint: str

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "bytes": self.bytes, "rows": self.rows, "fingerprint": self.fingerprint}


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


def _as_table(obj: Any, schema: pa.Schema | None) -> pa.Table:
    """A DataFrame, Table or RecordBatch as a Table (cast to ``schema`` when one is set)."""
    if isinstance(obj, pd.DataFrame):
        try:
            table = pa.Table.from_pandas(obj)
        except (pa.ArrowException, TypeError, ValueError) as exc:
            raise TargetFormatError(
                f"a dataset cannot hold this DataFrame: {exc}; give every batch the same columns and types "
                "(e.g. convert mixed object columns to str)"
            ) from exc
    elif isinstance(obj, pa.RecordBatch):
        table = pa.Table.from_batches([obj])
    elif isinstance(obj, pa.Table):
        table = obj
    else:
        raise TargetFormatError(
            f"a dataset holds DataFrames, Arrow tables or record batches, got {type(obj).__name__}; "
            "save_batches() takes an iterable of them"
        )
    if schema is not None and not table.schema.equals(schema):
        try:
            table = table.select(schema.names).cast(schema)
        except (pa.ArrowException, KeyError, ValueError, TypeError) as exc:
            raise TargetFormatError(
                f"a batch has columns {table.schema.names} of types {[str(t) for t in table.schema.types]}, "
                f"the first had {schema.names} of {[str(t) for t in schema.types]}: {exc}; "
                "give every batch the same columns and types"
            ) from exc
    return table


class _PartWriter:
    """One open Parquet part: rows are buffered up to a row group, then written."""

    def __init__(self, local: str, schema: pa.Schema) -> None:
        self.local = local
        self.writer = pq.ParquetWriter(local, schema, compression=settings.parquet_compression)
        self.rows = 0
        self.pending: list[pa.Table] = []
        self.pending_rows = 0

    def write(self, table: pa.Table) -> None:
        self.pending.append(table)
        self.pending_rows += table.num_rows
        self.rows += table.num_rows
        if self.pending_rows >= ROW_GROUP_ROWS:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self.writer.write_table(pa.concat_tables(self.pending), row_group_size=ROW_GROUP_ROWS)
            self.pending, self.pending_rows = [], 0

    def close(self) -> None:
        self.flush()
        self.writer.close()


class DatasetWriter:
    """Streams tables into part files under ``folder`` (hive folders per ``partition_on``); see :meth:`parts`.

    ``folder`` is a local folder, or a prefix on ``storage`` (an fsspec storage): each part is then
    written to a local temporary file and uploaded when it is closed.

    Example:
        >>> writer = DatasetWriter(tempfile.mkdtemp(), partition_on=[])
        >>> writer.write(pa.table({"x": [1, 2]}))
        >>> [part.rows for part in writer.close()]
        [2]
    """

    def __init__(
        self,
        folder: str,
        *,
        partition_on: Iterable[str] = (),
        storage: Storage | None = None,
        part_rows: int = PART_ROWS,
        prefix: str = "part",
    ) -> None:
        self.folder = folder
        self.partition_on = list(partition_on)
        self.remote = storage if isinstance(storage, FsspecStorage) else None
        self.part_rows = part_rows
        self.prefix = prefix
        self.schema: pa.Schema | None = None
        self.file_schema: pa.Schema | None = None
        self.rows = 0
        self._open: OrderedDict[str, _PartWriter] = OrderedDict()
        self._numbers: dict[str, int] = {}
        self._parts: list[Part] = []

    def write(self, obj: Any) -> None:
        """Append a DataFrame, Arrow table or record batch (every one with the columns of the first)."""
        table = _as_table(obj, self.schema)
        if self.schema is None:
            self._start(table.schema)
        if table.num_rows == 0:
            return
        self.rows += table.num_rows
        if not self.partition_on:
            self._append("", table)
            return
        for directory, piece in self._split(table):
            self._append(directory, piece)

    def _start(self, schema: pa.Schema) -> None:
        missing = [name for name in self.partition_on if name not in schema.names]
        if missing:
            raise TargetFormatError(f"partition_on names {missing}, which the data lacks; it has {schema.names}")
        if self.partition_on and len(self.partition_on) == len(schema.names):
            raise TargetFormatError("partition_on names every column; leave at least one column in the files")
        self.schema = schema
        keep = [name for name in schema.names if name not in self.partition_on]
        self.file_schema = pa.schema([schema.field(name) for name in keep], metadata=schema.metadata)

    def _split(self, table: pa.Table) -> Iterator[tuple[str, pa.Table]]:
        """``(hive folder, rows)`` per distinct combination of partition values in ``table``."""
        keys = table.select(self.partition_on)
        groups = keys.group_by(self.partition_on, use_threads=False).aggregate([])
        for values in groups.to_pylist():
            mask = None
            for name, value in values.items():
                term = pc.is_null(table[name]) if value is None else pc.equal(table[name], pa.scalar(value))
                mask = term if mask is None else pc.and_(mask, term)
            segments = [f"{name}={_segment(values[name])}" for name in self.partition_on]
            yield "/".join(segments), table.filter(mask)

    def _append(self, directory: str, table: pa.Table) -> None:
        table = table.select(self.file_schema.names) if self.partition_on else table  # type: ignore[union-attr]
        offset = 0
        while offset < table.num_rows:
            writer = self._writer(directory)
            room = self.part_rows - writer.rows
            piece = table.slice(offset, room)
            writer.write(piece)
            offset += piece.num_rows
            if writer.rows >= self.part_rows:
                self._finish(directory)

    def _writer(self, directory: str) -> _PartWriter:
        writer = self._open.get(directory)
        if writer is not None:
            self._open.move_to_end(directory)
            return writer
        if len(self._open) >= OPEN_WRITERS:
            self._finish(next(iter(self._open)))
        number = self._numbers.get(directory, 0)
        self._numbers[directory] = number + 1
        name = f"{self.prefix}-{number:05d}.parquet"
        relative = f"{directory}/{name}" if directory else name
        if self.remote is None:
            local = f"{self.folder}/{relative}"
            os.makedirs(os.path.dirname(local), exist_ok=True)
        else:
            fd, local = tempfile.mkstemp(prefix=".flowlib-part-", suffix=".parquet")
            os.close(fd)
        writer = _PartWriter(local, self.file_schema)  # type: ignore[arg-type]
        writer.relative = relative  # type: ignore[attr-defined]
        self._open[directory] = writer
        return writer

    def _finish(self, directory: str) -> None:
        writer = self._open.pop(directory)
        writer.close()
        relative: str = writer.relative  # type: ignore[attr-defined]
        fingerprint = hash_file(writer.local) if settings.fingerprint_outputs else "unhashed-" + uuid.uuid4().hex
        size = os.stat(writer.local).st_size
        if self.remote is not None:
            try:
                self.remote.fs.put_file(writer.local, f"{self.folder}/{relative}")
            finally:
                os.remove(writer.local)
        self._parts.append(Part(relative, size, writer.rows, fingerprint))

    def close(self) -> list[Part]:
        """Close every open part; the parts written, in order."""
        for directory in list(self._open):
            self._finish(directory)
        return sorted(self._parts, key=lambda part: part.path)

    def abort(self) -> None:
        """Close open parts without publishing them (their files are removed with the folder)."""
        for writer in self._open.values():
            with contextlib.suppress(Exception):
                writer.writer.close()
            if self.remote is not None:
                with contextlib.suppress(OSError):
                    os.remove(writer.local)
        self._open.clear()


def _segment(value: Any) -> str:
    """A partition value as a hive folder name segment (URI-encoded, as pyarrow decodes it)."""
    if value is None:
        return _NULL
    return urllib.parse.quote(str(value), safe="")


def manifest_bytes(schema: pa.Schema, parts: list[Part], partition_on: list[str]) -> bytes:
    """The manifest of a dataset: its schema, partitioning and parts (JSON)."""
    data = {
        "format": "flowlib-dataset",
        "version": 1,
        "schema": base64.b64encode(schema.serialize().to_pybytes()).decode("ascii"),
        "partition_on": partition_on,
        "rows": sum(part.rows for part in parts),
        "bytes": sum(part.bytes for part in parts),
        "files": len(parts),
        "fingerprint": combined_fingerprint(parts),
        "parts": [part.to_dict() for part in parts],
    }
    return json.dumps(data, indent=1).encode("utf-8")


def combined_fingerprint(parts: list[Part]) -> str:
    """The fingerprint of a dataset: a hash of its parts' fingerprints and hive folders, in order.

    File names are left out: on object stores they carry a random prefix per save, and the same
    data saved twice must have the same fingerprint (early cutoff).
    """
    lines = (f"{part.path.rpartition('/')[0]}:{part.fingerprint}" for part in parts)
    return hash_bytes("\n".join(lines).encode("utf-8"))


@dataclass(frozen=True)
class Manifest:
    """A dataset's manifest, read."""

    schema: pa.Schema
    partition_on: list[str]
    parts: list[Part]
    fingerprint: str

    @property
    def rows(self) -> int:
        return sum(part.rows for part in self.parts)


def read_manifest(data: bytes, where: str) -> Manifest:
    """Parse a manifest (:class:`CorruptOutputError` naming ``where`` when it cannot be)."""
    try:
        found = json.loads(data)
        schema = pa.ipc.read_schema(pa.py_buffer(base64.b64decode(found["schema"])))
        parts = [Part(p["path"], int(p["bytes"]), int(p["rows"]), str(p["fingerprint"])) for p in found["parts"]]
        return Manifest(schema, list(found["partition_on"]), parts, str(found["fingerprint"]))
    except (ValueError, KeyError, TypeError, pa.ArrowException) as exc:
        raise CorruptOutputError(
            f"the manifest of dataset {where!r} is damaged ({type(exc).__name__}: {exc}); "
            "invalidate the task and run it again"
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
            table = _as_table(obj, None)
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
            {field.name: str(field.type) for field in schema},
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

    def content_fingerprint(self) -> str:
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
