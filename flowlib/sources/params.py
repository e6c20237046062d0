"""luigi parameters for source tasks: each serializes its value deterministically (task ids derive from it).

Example:
    >>> from flowlib.sources import Schema, Field
    >>> import datetime
    >>> BoundParameter().serialize(datetime.date(2024, 1, 31))
    '{"date":"2024-01-31"}'
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass
from typing import Any

import luigi

from flowlib.errors import ParameterError
from flowlib.sources.errors import QueryError, SchemaError
from flowlib.sources.query import Query, from_canonical, schema_ref
from flowlib.sources.schema import Field, Schema, resolve_schema

__all__ = [
    "QueryParameter",
    "FieldParameter",
    "FieldRef",
    "resolve_field",
    "LabelsParameter",
    "BoundParameter",
    "SchemaParameter",
    "field_ref",
]


class QueryParameter(luigi.Parameter):  # type: ignore[misc]
    """A :class:`Query` (or a schema: all its fields); serialized as the query's canonical JSON."""

    def normalize(self, x: Any) -> Any:
        if isinstance(x, type) and issubclass(x, Schema):
            return x.select()
        if isinstance(x, str):
            return from_canonical(x)
        if not isinstance(x, Query):
            raise ParameterError(f"a query parameter takes a query, e.g. Student.select(Student.name); got {x!r}")
        return x

    def serialize(self, x: Any) -> str:
        return str(x.canonical)

    def parse(self, x: str) -> Query:
        return from_canonical(x)


def field_ref(field: Field) -> str:
    """``module:Schema.attr``: a field by name."""
    return f"{schema_ref(field.schema)}.{field.attr}"


@dataclass(frozen=True, eq=False)
class FieldRef:
    """A field as a plain parameter value: equal and hashed by ``module:Schema.attr`` (a Field's ``==`` builds a
    comparison)."""

    field: Field

    @property
    def ref(self) -> str:
        return field_ref(self.field)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FieldRef) and other.ref == self.ref

    def __hash__(self) -> int:
        return hash(self.ref)

    def __repr__(self) -> str:
        return repr(self.field)


class FieldParameter(luigi.Parameter):  # type: ignore[misc]
    """A schema field (or None), held as a :class:`FieldRef`; serialized as ``module:Schema.attr``."""

    def normalize(self, x: Any) -> Any:
        if x is None or isinstance(x, FieldRef):
            return x
        if isinstance(x, str):
            return FieldRef(resolve_field(x))
        if isinstance(x, Field) and x.schema is not None:
            return FieldRef(x)
        raise ParameterError(f"expected a schema field such as Student.id, got {x!r}")

    def serialize(self, x: Any) -> str:
        return "" if x is None else x.ref

    def parse(self, x: str) -> FieldRef | None:
        return FieldRef(resolve_field(x)) if x else None


def resolve_field(ref: str) -> Field:
    """The field named by :func:`field_ref`."""
    schema, _, attr = ref.rpartition(".")
    return resolve_schema(schema).field(attr)


class LabelsParameter(luigi.Parameter):  # type: ignore[misc]
    """Result columns used as labels: fields (``Student.score``) or result column names; a tuple of names."""

    def normalize(self, x: Any) -> tuple[str, ...]:
        if x is None:
            return ()
        items = [x] if isinstance(x, (str, Field)) else list(x)
        names = []
        for item in items:
            if isinstance(item, Field):
                names.append(item.attr)
            elif isinstance(item, str) and item:
                names.append(item)
            else:
                raise QueryError(f"labels= takes fields or result column names, got {item!r}")
        return tuple(names)

    def serialize(self, x: Any) -> str:
        return json.dumps(list(x))

    def parse(self, x: str) -> tuple[str, ...]:
        return tuple(json.loads(x)) if x else ()


class BoundParameter(luigi.Parameter):  # type: ignore[misc]
    """A bound of an ordinal range: None, int, float, str, date or datetime (tagged JSON when serialized)."""

    def normalize(self, x: Any) -> Any:
        if x is None or isinstance(x, (int, float, str, datetime.date)) and not isinstance(x, bool):
            return x
        raise QueryError(f"a bound (lower= / upper=) is an int, float, str, date or datetime; got {x!r}")

    def serialize(self, x: Any) -> str:
        if isinstance(x, datetime.datetime):
            return json.dumps({"datetime": x.isoformat()}, separators=(",", ":"))
        if isinstance(x, datetime.date):
            return json.dumps({"date": x.isoformat()}, separators=(",", ":"))
        return json.dumps(x)

    def parse(self, x: str) -> Any:
        value = json.loads(x) if x else None
        if isinstance(value, dict):
            if "datetime" in value:
                return datetime.datetime.fromisoformat(value["datetime"])
            return datetime.date.fromisoformat(value["date"])
        return value


class SchemaParameter(luigi.Parameter):  # type: ignore[misc]
    """A schema class, serialized as ``module:QualName``."""

    def normalize(self, x: Any) -> Any:
        if isinstance(x, str):
            return resolve_schema(x)
        if not (isinstance(x, type) and issubclass(x, Schema)):
            raise SchemaError(f"expected a flowlib.sources.Schema subclass, got {x!r}")
        return x

    def serialize(self, x: Any) -> str:
        return schema_ref(x)

    def parse(self, x: str) -> type[Schema]:
        return resolve_schema(x)
