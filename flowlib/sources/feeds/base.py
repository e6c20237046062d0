"""The Feed interface: which schemas a feed serves, how it answers a query, what its data looks like now.

A feed answers a query as a :class:`pyarrow.Table` whose columns are the query's result columns
(:func:`conform` turns it into the DataFrame a Source task saves), checks the files or tables
against the schemas before reading (:class:`SchemaError`), and reports a cheap fingerprint of
the data a query would read, so that flowlib can tell when source data changed.

Example:
    >>> class Nothing(Feed):
    ...     schemas = ()
    ...     def check(self, query): pass
    ...     def read(self, query): raise NotImplementedError
    ...     def data_fingerprint(self, query, ordinal=None): return ""
    >>> Nothing(priority=2).priority
    2
"""

from __future__ import annotations

import abc
import hashlib
import json
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import pandas as pd
import pyarrow as pa

from flowlib.sources.errors import FeedError, SchemaError

if TYPE_CHECKING:
    from flowlib.sources.query import Query
    from flowlib.sources.schema import Field

__all__ = [
    "Feed",
    "conform",
    "arrow_type",
    "digest",
    "mismatch",
    "missing_column",
    "check_columns",
    "check_schema_map",
]

_ARROW = {
    "int": pa.int64(),
    "float": pa.float64(),
    "str": pa.string(),
    "bool": pa.bool_(),
    "date": pa.date32(),
    "datetime": pa.timestamp("us"),
}


class Feed(abc.ABC):
    """A provider of data by schema. Subclasses set :attr:`schemas` and implement three methods.

    ``priority``: among the feeds that serve a query, the highest wins (ties: the one configured first).
    """

    #: The name a feed is known by in messages and as a plugin.
    kind: ClassVar[str] = "feed"

    schemas: Collection[type]

    def __init__(self, *, priority: int = 0) -> None:
        if isinstance(priority, bool) or not isinstance(priority, int):
            raise FeedError(f"{type(self).__name__}(priority=...) takes an int, got {priority!r}")
        self.priority = priority

    def serves(self, query: Query) -> bool:
        """Whether this feed serves every schema ``query`` names."""
        return all(schema in self.schemas for schema in query.schemas)

    def missing(self, query: Query) -> list[type]:
        """The schemas of ``query`` this feed does not serve."""
        return [schema for schema in query.schemas if schema not in self.schemas]

    @abc.abstractmethod
    def check(self, query: Query) -> None:
        """Raise :class:`SchemaError` unless every field ``query`` reads exists with a compatible type."""

    @abc.abstractmethod
    def read(self, query: Query) -> pa.Table:
        """Answer ``query`` (checked first): one column per result column, named as the query names them."""

    @abc.abstractmethod
    def data_fingerprint(self, query: Query, ordinal: Field | None = None) -> str:
        """A cheap fingerprint of the data ``query`` reads (a stat per file, a small query per table)."""

    def describe(self) -> str:
        """A short description for messages: the class and the schemas it serves."""
        names = ", ".join(sorted(s.__name__ for s in self.schemas))
        return f"{type(self).__name__}({names}; priority={self.priority})"

    def __repr__(self) -> str:
        return self.describe()


def check_schema_map(owner: str, mapping: Any) -> None:
    """Raise :class:`FeedError` unless ``mapping`` maps schema classes to something."""
    from flowlib.sources.schema import Schema

    if not isinstance(mapping, dict) or not mapping:
        raise FeedError(f"{owner} takes a dict {{Schema: location}}, e.g. {{Student: 'students.csv'}}; got {mapping!r}")
    for schema in mapping:
        if not (isinstance(schema, type) and issubclass(schema, Schema)):
            raise FeedError(f"{owner}: the keys are flowlib.sources.Schema classes, got {schema!r}")


def digest(parts: Iterable[Any]) -> str:
    """A short hash of JSON-able parts (fingerprints of data)."""
    text = json.dumps(list(parts), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def mismatch(field: Field, found: str, where: str) -> SchemaError:
    """The error for a column whose type does not hold the field's kind."""
    schema = field.schema.__name__
    return SchemaError(
        f"{schema}.{field.attr} ({field.kind}) is column {field.column!r} of type {found} in {where}, "
        f"which does not hold {field.kind} values; fix the data or declare {schema}.{field.attr} with the kind it holds"
    )


def missing_column(field: Field, where: str, columns: Iterable[str]) -> SchemaError:
    """The error for a field whose column is not there."""
    schema = field.schema.__name__
    return SchemaError(
        f"{schema}.{field.attr} is column {field.column!r}, which {where} does not have "
        f"(its columns: {', '.join(columns)}); add the column or set Field(name=...) to the column that holds it"
    )


def check_columns(
    query: Query, schema: type, columns: Mapping[str, Any], where: str, holds: Callable[[Field, Any], bool]
) -> None:
    """Raise :class:`SchemaError` for the first field of ``schema`` in ``query`` that ``columns`` (name -> type,
    as the feed sees them in ``where``) lacks, or whose column type does not ``holds(field, type)``."""
    for field in query.fields():
        if field.schema is not schema:
            continue
        found = columns.get(field.column)
        if found is None:
            raise missing_column(field, where, columns)
        if not holds(field, found):
            raise mismatch(field, str(found), where)


def arrow_type(kind: str) -> pa.DataType:
    """The Arrow type that holds a field kind."""
    return _ARROW[kind]


def conform(table: pa.Table, query: Query) -> pd.DataFrame:
    """A feed's answer as the DataFrame of the query: columns and dtypes from the schema.

    ``int`` and ``bool`` columns that can hold NULLs are ``Int64`` / ``boolean``, others ``int64`` /
    ``bool``; ``float`` is ``float64``, ``str`` pandas' string dtype, ``date`` holds ``datetime.date``
    objects and ``datetime`` is ``datetime64[us]``.
    """
    outputs = query.outputs()
    names = [name for name, _ in outputs]
    if table.column_names != names:
        raise FeedError(f"a feed answered {query!r} with the columns {table.column_names}, expected {names}")
    arrays = []
    for (name, expr), column in zip(outputs, table.columns, strict=True):
        target = _ARROW[expr.kind or "int"] if expr.kind is not None else column.type
        if column.type != target:
            try:
                column = column.cast(target)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise SchemaError(f"result column {name!r} of {query!r} cannot be read as {expr.kind}: {exc}") from exc
        arrays.append(column)
    cast = pa.table(arrays, names=names)
    nullable = {name: query.nullable(expr) for name, expr in outputs}
    frame = cast.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype(), pa.bool_(): pd.BooleanDtype()}.get)
    for name, expr in outputs:
        if expr.kind in ("int", "bool") and not nullable[name]:
            if frame[name].isna().any():
                raise SchemaError(f"result column {name!r} of {query!r} holds NULLs, but its field is nullable=False")
            frame[name] = frame[name].astype("int64" if expr.kind == "int" else "bool")
    return frame
