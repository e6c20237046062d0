"""FileFeed: local CSV and Parquet files (a folder of Parquet files is one table), queried by DuckDB.

DuckDB reads only the columns and row groups a query needs (projection and filter pushdown
into ``read_parquet`` / ``read_csv``). The data fingerprint is the size and modification
time of each file a query reads: one ``stat`` per file.

Example:
    >>> feed = FileFeed({Student: "students.csv", School: "schools.parquet"})  # doctest: +SKIP
    >>> feed.read(Student.select(Student.name))  # doctest: +SKIP
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from sqlglot import exp

from flowlib.sources.compile import to_sql
from flowlib.sources.errors import FeedError, SchemaError
from flowlib.sources.feeds.base import Feed, check_columns, check_schema_map, digest
from flowlib.sources.feeds.duck import DUCKDB_TYPES, holds, run_query
from flowlib.sources.query import Query
from flowlib.sources.schema import Field

__all__ = ["FileFeed"]

_PARQUET = (".parquet", ".pq", ".parq")
_CSV = (".csv", ".csv.gz", ".tsv")


class FileFeed(Feed):
    """CSV and Parquet files by schema: ``FileFeed({Student: "students.csv"}, priority=0)``.

    Relative paths are taken relative to the working directory when the feed is made; whether a
    path is a folder is decided then too.
    Files hold the physical column names (``Field(name=...)``).
    """

    kind = "files"

    def __init__(self, files: Mapping[type, str | os.PathLike[str]], *, priority: int = 0) -> None:
        super().__init__(priority=priority)
        check_schema_map("FileFeed", files)
        self.files = {schema: Path(path).absolute() for schema, path in files.items()}
        for schema, path in self.files.items():
            if not (path.name.lower().endswith(_PARQUET + _CSV) or path.is_dir()):
                raise FeedError(
                    f"FileFeed: {schema.__name__} -> {path}: use a .csv or .parquet file or a folder of .parquet files"
                )
        self.schemas = dict.fromkeys(self.files).keys()  # ordered, O(1) membership
        self._folders = {schema: path.is_dir() for schema, path in self.files.items()}
        self._columns: dict[tuple[Any, ...], dict[str, str]] = {}
        self._lock = threading.Lock()

    def describe(self) -> str:
        inner = ", ".join(f"{s.__name__}: {str(p)!r}" for s, p in self.files.items())
        return f"FileFeed({{{inner}}}, priority={self.priority})"

    # -- files ------------------------------------------------------------------------------
    def _is_csv(self, schema: type) -> bool:
        return not self._folders[schema] and self.files[schema].name.lower().endswith(_CSV)

    def _paths(self, schema: type) -> list[Path]:
        path = self.files[schema]
        if self._folders[schema]:
            found = sorted(p for p in path.rglob("*") if p.name.lower().endswith(_PARQUET))
            if not found:
                raise FeedError(f"FileFeed: the folder {path} for {schema.__name__} holds no .parquet files")
            return found
        return [path]

    def _stats(self, schema: type) -> list[tuple[str, int, int]]:
        stats = []
        for path in self._paths(schema):
            try:
                info = path.stat()
            except FileNotFoundError:
                raise FeedError(f"FileFeed: the file {path} for {schema.__name__} does not exist") from None
            stats.append((str(path), info.st_size, info.st_mtime_ns))
        return stats

    def _source(self, schema: type, types: Mapping[str, str] | None = None) -> exp.Expression:
        path = self.files[schema]
        if self._is_csv(schema):
            args: list[exp.Expression] = [exp.Literal.string(str(path)), _option("header", exp.true())]
            if types:
                struct = exp.Struct(
                    expressions=[
                        exp.PropertyEQ(this=exp.to_identifier(c, quoted=True), expression=exp.Literal.string(t))
                        for c, t in types.items()
                    ]
                )
                args.append(_option("types", struct))
            return exp.Anonymous(this="read_csv", expressions=args)
        pattern = str(path / "**" / "*.parquet") if self._folders[schema] else str(path)
        return exp.Anonymous(this="read_parquet", expressions=[exp.Literal.string(pattern)])

    def _described(self, con: duckdb.DuckDBPyConnection, schema: type, stats: list[Any]) -> dict[str, str]:
        """``{column: DuckDB type}`` of a file, cached while its size and mtime stay the same."""
        key = (schema, tuple(stats))
        with self._lock:
            known = self._columns.get(key)
        if known is None:
            source = exp.select(exp.Star()).from_(exp.Table(this=self._source(schema))).sql("duckdb")
            try:
                relation = con.sql(source)
                known = {c: str(t) for c, t in zip(relation.columns, relation.types, strict=True)}
            except duckdb.Error as exc:
                raise FeedError(f"FileFeed cannot read {self.files[schema]} for {schema.__name__}: {exc}") from exc
            with self._lock:
                self._columns[key] = known
        return known

    # -- the Feed interface ----------------------------------------------------------------
    def check(self, query: Query, con: duckdb.DuckDBPyConnection | None = None) -> None:
        con = con or duckdb.connect()
        for schema in query.schemas:
            columns = self._described(con, schema, self._stats(schema))
            holds_here = _holds_in_csv if self._is_csv(schema) else _holds
            check_columns(query, schema, columns, f"the file {self.files[schema]}", holds_here)

    def tables(self, query: Query) -> dict[type, exp.Expression]:
        """The DuckDB table function reading each schema of ``query`` (CSV columns typed by their fields)."""
        tables = {}
        for schema in query.schemas:
            types = None
            if self._is_csv(schema):
                types = {f.column: DUCKDB_TYPES[f.kind] for f in _fields_of(query, schema)}
            tables[schema] = self._source(schema, types)
        return tables

    def sql(self, query: Query) -> str:
        """The DuckDB SQL this feed runs for ``query``."""
        return to_sql(query, "duckdb", self.tables(query))

    def read(self, query: Query) -> pa.Table:
        con = duckdb.connect()
        self.check(query, con)
        try:
            return run_query(con, query, self.tables(query), self.describe())
        except FeedError as exc:
            raise SchemaError(str(exc)) from exc
        finally:
            con.close()

    def data_fingerprint(self, query: Query, ordinal: Field | None = None) -> str:
        return digest(self._stats(schema) for schema in query.schemas)


def _option(name: str, value: exp.Expression) -> exp.Expression:
    return exp.EQ(this=exp.column(name), expression=value)


def _holds(field: Field, found: str) -> bool:
    return holds(field.kind, found)


def _holds_in_csv(field: Field, found: str) -> bool:
    """CSV columns are parsed as the field's type: any sniffed type holds a str."""
    return field.kind == "str" or holds(field.kind, found)


def _fields_of(query: Query, schema: type) -> list[Field]:
    return [f for f in query.fields() if f.schema is schema]
