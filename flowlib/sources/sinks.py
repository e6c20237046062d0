"""Sinks: where results go by schema. ``FileSink`` (Parquet or CSV files) and ``SQLSink`` (SQLAlchemy).

``sink.write(Prediction, frame, mode="replace" | "append")`` checks the frame against the
schema (every field present, compatible types, no NULLs where ``nullable=False``) and writes
atomically: a file through a temporary file and a rename, a table in one transaction. A
failed write leaves the previous file or table as it was.

Example:
    >>> sink = FileSink({Prediction: "predictions.parquet"})  # doctest: +SKIP
    >>> sink.write(Prediction, frame, mode="append")  # doctest: +SKIP
    120
"""

from __future__ import annotations

import abc
import os
import tempfile
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from flowlib.sources.errors import FeedError, SchemaError
from flowlib.sources.feeds.base import arrow_type, check_schema_map

__all__ = ["Sink", "FileSink", "SQLSink", "prepare"]

_MODES = ("replace", "append")


def _holds(kind: str, typ: pa.DataType) -> bool:
    if pa.types.is_null(typ):
        return True
    if kind == "int":
        return pa.types.is_integer(typ)
    if kind == "float":
        return pa.types.is_floating(typ) or pa.types.is_integer(typ) or pa.types.is_decimal(typ)
    if kind == "str":
        return pa.types.is_string(typ) or pa.types.is_large_string(typ)
    if kind == "bool":
        return pa.types.is_boolean(typ)
    if kind == "date":
        return pa.types.is_date(typ)
    return pa.types.is_timestamp(typ) and typ.tz is None


def prepare(schema: Any, frame: pd.DataFrame, where: str) -> pa.Table:
    """``frame`` checked against ``schema`` as an Arrow table with the physical column names.

    The frame's columns are the fields' names (``Prediction.label`` -> ``label``) or their physical names.
    """
    if not isinstance(frame, pd.DataFrame):
        raise SchemaError(f"{where}: write() takes a DataFrame, got {type(frame).__name__}")
    fields = schema.fields()
    used, arrays = set(), []
    for field in fields:
        name = field.attr if field.attr in frame.columns else field.column if field.column in frame.columns else None
        if name is None:
            raise SchemaError(
                f"{where}: the frame has no column for {schema.__name__}.{field.attr} "
                f"(columns: {list(frame.columns)}); add a column {field.attr!r}"
            )
        used.add(name)
        try:
            column = pa.array(frame[name], from_pandas=True)
        except (pa.ArrowException, TypeError, ValueError) as exc:
            raise SchemaError(f"{where}: column {name!r} cannot be stored as {field.kind}: {exc}") from exc
        if not _holds(field.kind, column.type):
            raise SchemaError(
                f"{where}: column {name!r} for {schema.__name__}.{field.attr} holds {column.type} "
                f"(dtype {frame[name].dtype}), not {field.kind}; convert it first"
            )
        if not field.nullable and column.null_count:
            raise SchemaError(
                f"{where}: {schema.__name__}.{field.attr} is nullable=False, but column {name!r} has "
                f"{column.null_count} missing values; fill or drop them"
            )
        arrays.append(column.cast(arrow_type(field.kind)))
    extra = [c for c in frame.columns if c not in used]
    if extra:
        raise SchemaError(f"{where}: the frame has columns {extra} that {schema.__name__} does not declare; drop them")
    return pa.table(arrays, names=[f.column for f in fields])


class Sink(abc.ABC):
    """Where results of a schema are written. Subclasses implement ``_write`` for one table."""

    kind: ClassVar[str] = "sink"
    schemas: Collection[type]

    def write(self, schema: Any, frame: pd.DataFrame, *, mode: str = "replace") -> int:
        """Write ``frame`` as ``schema``'s data (``mode``: ``"replace"`` or ``"append"``); returns the rows written."""
        if mode not in _MODES:
            raise FeedError(f"{self.describe()}.write(mode={mode!r}): use 'replace' or 'append'")
        if schema not in self.schemas:
            names = ", ".join(s.__name__ for s in self.schemas)
            raise FeedError(
                f"{self.describe()} has no place for {getattr(schema, '__name__', schema)}; it takes {names}"
            )
        table = prepare(schema, frame, f"{self.describe()}.write({schema.__name__})")
        self._write(schema, table, mode)
        return table.num_rows

    @abc.abstractmethod
    def _write(self, schema: Any, table: pa.Table, mode: str) -> None:
        """Write a checked table atomically."""

    @abc.abstractmethod
    def describe(self) -> str:
        """A deterministic description (it names the sink in task parameters)."""

    def __repr__(self) -> str:
        return self.describe()


class FileSink(Sink):
    """Parquet or CSV files by schema: ``FileSink({Prediction: "predictions.parquet"})``."""

    kind = "files"

    def __init__(self, files: Mapping[type, str | os.PathLike[str]]) -> None:
        check_schema_map("FileSink", files)
        self.files = {schema: Path(path).absolute() for schema, path in files.items()}
        for schema, path in self.files.items():
            if path.suffix.lower() not in (".parquet", ".csv"):
                raise FeedError(f"FileSink: {schema.__name__} -> {path}: use a .parquet or .csv file")
        self.schemas = dict.fromkeys(self.files).keys()

    def describe(self) -> str:
        inner = ", ".join(f"{s.__name__}: {str(p)!r}" for s, p in self.files.items())
        return f"FileSink({{{inner}}})"

    def _write(self, schema: Any, table: pa.Table, mode: str) -> None:
        path = self.files[schema]
        csv = path.suffix.lower() == ".csv"
        if mode == "append" and path.exists():
            if csv:
                types = {f.column: arrow_type(f.kind) for f in schema.fields()}
                old = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(column_types=types))
            else:
                old = pq.read_table(path)
            table = pa.concat_tables([old.select(table.column_names).cast(table.schema), table])
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(handle)
        try:
            if csv:
                pacsv.write_csv(table, temporary)
            else:
                pq.write_table(table, temporary, compression="zstd")
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


class SQLSink(Sink):
    """Tables of a database by schema: ``SQLSink(url, tables={Prediction: "predictions"})``."""

    kind = "sql"

    def __init__(self, url: str, tables: Mapping[type, str], *, engine_options: Mapping[str, Any] | None = None):
        check_schema_map("SQLSink(tables=...)", tables)
        self.url = url
        self.tables = dict(tables)
        self.engine_options = dict(engine_options or {})
        self.schemas = dict.fromkeys(self.tables).keys()

    def describe(self) -> str:
        import sqlalchemy as sa

        url = sa.engine.make_url(self.url).render_as_string(hide_password=True)
        inner = ", ".join(f"{s.__name__}: {t!r}" for s, t in self.tables.items())
        return f"SQLSink({url!r}, tables={{{inner}}})"

    def _write(self, schema: Any, table: pa.Table, mode: str) -> None:
        import sqlalchemy as sa

        from flowlib.sources.feeds.sql import engine_for

        types = {
            "int": sa.BigInteger,
            "float": sa.Double,
            "str": sa.Text,
            "bool": sa.Boolean,
            "date": sa.Date,
            "datetime": sa.DateTime,
        }
        *owner, name = self.tables[schema].split(".")
        meta = sa.MetaData(schema=owner[0] if owner else None)
        target = sa.Table(
            name, meta, *(sa.Column(f.column, types[f.kind](), nullable=f.nullable) for f in schema.fields())
        )
        rows = table.to_pylist()
        engine = engine_for(self.url, self.engine_options)
        with engine.begin() as conn:  # one transaction: on any error nothing changes
            if mode == "replace":
                target.drop(conn, checkfirst=True)
                target.create(conn)
            else:
                target.create(conn, checkfirst=True)
            if rows:
                conn.execute(target.insert(), rows)
