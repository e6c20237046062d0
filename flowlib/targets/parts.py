"""The part files of a dataset: the streaming writer, and the manifest that lists and commits them.

:class:`DatasetWriter` appends DataFrames, Arrow tables or record batches to Parquet part files
(``ParquetWriter``, one row group of about a million rows buffered at a time, a new file every
``part_rows`` rows, hive folders ``col=value/`` per ``partition_on``), and fingerprints each file
when it is closed. The manifest (JSON) lists every part with its size, rows and fingerprint; its
fingerprint combines theirs. :mod:`flowlib.targets.dataset` publishes both.

Example:
    >>> import tempfile
    >>> writer = DatasetWriter(tempfile.mkdtemp(), partition_on=[])
    >>> writer.write(pa.table({"x": [1, 2]}))
    >>> [part.rows for part in writer.close()]
    [2]
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import tempfile
import urllib.parse
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from flowlib.errors import CorruptOutputError, TargetFormatError
from flowlib.hashing import hash_bytes, hash_file, unhashed
from flowlib.settings import settings
from flowlib.storage import FsspecStorage, Storage

__all__ = [
    "MANIFEST",
    "PART_ROWS",
    "ROW_GROUP_ROWS",
    "Part",
    "DatasetWriter",
    "Manifest",
    "manifest_bytes",
    "read_manifest",
    "combined_fingerprint",
    "as_table",
]

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


def as_table(obj: Any, schema: pa.Schema | None) -> pa.Table:
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

    def __init__(self, local: str, relative: str, schema: pa.Schema) -> None:
        self.local = local
        self.relative = relative
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
        table = as_table(obj, self.schema)
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
        if self.partition_on and self.file_schema is not None:
            table = table.select(self.file_schema.names)
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
        assert self.file_schema is not None  # set by the first write
        writer = _PartWriter(local, relative, self.file_schema)
        self._open[directory] = writer
        return writer

    def _finish(self, directory: str) -> None:
        writer = self._open.pop(directory)
        writer.close()
        relative = writer.relative
        fingerprint = hash_file(writer.local) if settings.fingerprint_outputs else unhashed()
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
