"""SQLFeed: any SQLAlchemy database; the query runs inside the database and the SQL sent is logged.

The data fingerprint of a table is ``COUNT(*)`` and, when the Source task has an ordinal
field on it, ``MAX(ordinal)``: one small query per table. ``fingerprints={Schema: "SQL
expression"}`` overrides it for a table, e.g. ``"MAX(updated_at)"``.

Example:
    >>> feed = SQLFeed("sqlite:///school.db", tables={Student: "students"})  # doctest: +SKIP
    >>> feed.read(Student.select(Student.name).where(Student.score > 3))  # doctest: +SKIP
"""

from __future__ import annotations

import datetime
import decimal
import logging
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
import sqlalchemy as sa

from flowlib.sources.compile import dialect_of, stats_sql, to_sql
from flowlib.sources.errors import FeedError, QueryError
from flowlib.sources.feeds.base import Feed, check_columns, check_schema_map, digest
from flowlib.sources.query import Query
from flowlib.sources.schema import Field

__all__ = ["SQLFeed", "holds_sql", "engine_for"]

logger = logging.getLogger(__name__)

_PYTHON_KINDS: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "float": (float, decimal.Decimal, int),
    "str": (str,),
    "bool": (bool,),
    "date": (datetime.date,),
    "datetime": (datetime.datetime,),
}
_engines: dict[str, sa.engine.Engine] = {}
_engines_lock = threading.Lock()


def engine_for(url: str | sa.engine.URL, options: Mapping[str, Any] | None = None) -> sa.engine.Engine:
    """One SQLAlchemy engine per URL and options in this process (engines pool their connections)."""
    key = f"{url!s}|{sorted((options or {}).items())!r}"
    with _engines_lock:
        engine = _engines.get(key)
        if engine is None:
            try:
                engine = sa.create_engine(url, **dict(options or {}))
            except (sa.exc.ArgumentError, ImportError) as exc:
                raise FeedError(f"cannot use the database URL {url!s}: {exc}") from exc
            if engine.dialect.name == "sqlite":
                _transactional_ddl(engine)
            _engines[key] = engine
    return engine


def _transactional_ddl(engine: sa.engine.Engine) -> None:
    """pysqlite commits before DDL; let SQLAlchemy's BEGIN cover DROP / CREATE too (SQLAlchemy's recipe)."""

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.isolation_level = None

    @sa.event.listens_for(engine, "begin")
    def _begin(conn: sa.engine.Connection) -> None:
        conn.exec_driver_sql("BEGIN")


def holds_sql(kind: str, column_type: Any) -> bool:
    """Whether a column of SQLAlchemy type ``column_type`` can be read as a field of ``kind``."""
    if isinstance(column_type, sa.Boolean):
        return kind == "bool"
    try:
        python = column_type.python_type
    except NotImplementedError:
        return False
    if kind == "date" and python is datetime.datetime:
        return False
    if kind in ("int", "float") and python is bool:
        return False
    return issubclass(python, _PYTHON_KINDS[kind])


class SQLFeed(Feed):
    """Tables of a database by schema: ``SQLFeed(url, tables={Student: "students"}, priority=0)``.

    ``tables`` values may be ``"schema.table"``; tables hold the physical column names.
    """

    kind = "sql"

    def __init__(
        self,
        url: str | sa.engine.URL,
        tables: Mapping[type, str],
        *,
        fingerprints: Mapping[type, str] | None = None,
        priority: int = 0,
        engine_options: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(priority=priority)
        check_schema_map("SQLFeed(tables=...)", tables)
        for schema, table in tables.items():
            if not isinstance(table, str) or not table:
                raise FeedError(f"SQLFeed: {schema.__name__} maps to {table!r}; give a table name")
        self.url = url
        self.tables = dict(tables)
        self.fingerprints = dict(fingerprints or {})
        unknown = [s.__name__ for s in self.fingerprints if s not in self.tables]
        if unknown:
            raise FeedError(f"SQLFeed(fingerprints=...) names {unknown}, which tables=... does not map")
        self.engine_options = dict(engine_options or {})
        self.schemas = dict.fromkeys(self.tables).keys()
        self._columns: dict[type, dict[str, Any]] = {}

    @property
    def engine(self) -> sa.engine.Engine:
        return engine_for(self.url, self.engine_options)

    @property
    def dialect(self) -> str:
        return dialect_of(self.engine.dialect.name)

    def describe(self) -> str:
        url = self.url.render_as_string(hide_password=True) if isinstance(self.url, sa.engine.URL) else self.url
        if not isinstance(self.url, sa.engine.URL):
            url = sa.engine.make_url(self.url).render_as_string(hide_password=True)
        inner = ", ".join(f"{s.__name__}: {t!r}" for s, t in self.tables.items())
        return f"SQLFeed({url!r}, tables={{{inner}}}, priority={self.priority})"

    def _reflect(self, schema: type) -> dict[str, Any]:
        known = self._columns.get(schema)
        if known is None:
            *owner, name = self.tables[schema].split(".")
            try:
                columns = sa.inspect(self.engine).get_columns(name, schema=owner[0] if owner else None)
            except sa.exc.NoSuchTableError:
                raise FeedError(
                    f"{self.describe()}: the table {self.tables[schema]!r} for {schema.__name__} does not exist"
                ) from None
            except sa.exc.SQLAlchemyError as exc:
                raise FeedError(f"{self.describe()}: cannot inspect {self.tables[schema]!r}: {exc}") from exc
            known = self._columns[schema] = {c["name"]: c["type"] for c in columns}
        return known

    def _execute(self, sql: str) -> tuple[list[str], Sequence[Any]]:
        logger.info("SQL sent to %s: %s", self.engine.url.render_as_string(hide_password=True), sql)
        try:
            with self.engine.connect() as conn:
                cursor = conn.connection.cursor()  # the driver's cursor: the SQL is complete, no parameters
                try:
                    cursor.execute(sql)
                    names = [d[0] for d in cursor.description]
                    rows = cursor.fetchall()
                finally:
                    cursor.close()
        except sa.exc.SQLAlchemyError as exc:
            raise FeedError(f"{self.describe()}: cannot connect: {exc}") from exc
        except Exception as exc:  # the driver's own errors (sqlite3, psycopg, ...)
            raise QueryError(f"{self.describe()} could not run: {sql}\n{type(exc).__name__}: {exc}") from exc
        return names, rows

    # -- the Feed interface ----------------------------------------------------------------
    def check(self, query: Query) -> None:
        for schema in query.schemas:
            columns = self._reflect(schema)
            where = f"the table {self.tables[schema]!r} ({self.describe()})"
            check_columns(query, schema, columns, where, lambda field, found: holds_sql(field.kind, found))

    def sql(self, query: Query) -> str:
        """The SQL this feed sends for ``query``."""
        return to_sql(query, self.dialect, self.tables)

    def read(self, query: Query) -> pa.Table:
        self.check(query)
        sql = self.sql(query)
        names, rows = self._execute(sql)
        columns = list(zip(*rows, strict=True)) if rows else [() for _ in names]
        arrays = []
        for (name, expr), values in zip(query.outputs(), columns, strict=True):
            arrays.append(_array(list(values), expr.kind, name))
        return pa.table(arrays, names=[name for name, _ in query.outputs()])

    def data_fingerprint(self, query: Query, ordinal: Field | None = None) -> str:
        parts = []
        for schema in query.schemas:
            custom = self.fingerprints.get(schema)
            column = ordinal.column if ordinal is not None and ordinal.schema is schema and custom is None else None
            sql = stats_sql(self.tables[schema], self.dialect, column, custom)
            parts.append([self.tables[schema], [list(r) for r in self._execute(sql)[1]]])
        return digest(parts)


def _array(values: list[Any], kind: str | None, name: str) -> pa.Array:
    if kind == "float":
        values = [float(v) if isinstance(v, decimal.Decimal) else v for v in values]
    elif kind == "int":
        values = [int(v) if isinstance(v, decimal.Decimal) else v for v in values]
    elif kind == "bool":
        values = [None if v is None else bool(v) for v in values]
    try:
        return pa.array(values)
    except (pa.ArrowException, TypeError, ValueError) as exc:
        raise FeedError(f"the database returned values for {name!r} that Arrow cannot hold: {exc}") from exc
