"""What DuckDB-backed feeds share: which DuckDB column types hold which field kinds, and running a query.

Example:
    >>> holds("float", "BIGINT"), holds("int", "DOUBLE"), holds("datetime", "TIMESTAMP_NS")
    (True, False, True)
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import duckdb
import pyarrow as pa

from flowlib.sources.compile import TableRef, to_sql
from flowlib.sources.errors import FeedError, QueryError
from flowlib.sources.query import Query

__all__ = ["holds", "run_query", "DUCKDB_TYPES"]

logger = logging.getLogger(__name__)

_INTEGERS = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT"}
_FLOATS = {"FLOAT", "DOUBLE", "REAL"}

#: The DuckDB type each field kind is read as (CSV columns are parsed with it).
DUCKDB_TYPES = {
    "int": "BIGINT",
    "float": "DOUBLE",
    "str": "VARCHAR",
    "bool": "BOOLEAN",
    "date": "DATE",
    "datetime": "TIMESTAMP",
}


def holds(kind: str, duck_type: str) -> bool:
    """Whether a DuckDB column of ``duck_type`` can be read as a field of ``kind``."""
    name = duck_type.upper()
    if kind == "int":
        return name in _INTEGERS
    if kind == "float":
        return name in _INTEGERS or name in _FLOATS or name.startswith("DECIMAL")
    if kind == "str":
        return name == "VARCHAR"
    if kind == "bool":
        return name == "BOOLEAN"
    if kind == "date":
        return name == "DATE"
    return name.startswith("TIMESTAMP") and "TIME ZONE" not in name


def run_query(con: duckdb.DuckDBPyConnection, query: Query, tables: Mapping[type, TableRef], where: str) -> pa.Table:
    """Run ``query`` on ``con`` over ``tables`` and return its result as Arrow."""
    sql = to_sql(query, "duckdb", tables)
    logger.debug("DuckDB query for %s: %s", where, sql)
    try:
        return con.sql(sql).to_arrow_table()
    except duckdb.ConversionException as exc:
        raise FeedError(f"{where}: a value does not match its schema while answering {query!r}: {exc}") from exc
    except duckdb.Error as exc:
        raise QueryError(f"{where} could not answer {query!r}: {exc}\nSQL: {sql}") from exc
