"""Schemas: typed descriptions of data sets, referenced by name in queries.

A schema is a class; its fields are :class:`Field` declarations. A catalog is an ordinary
package of schemas that a project and a deployment both import.

Example:
    >>> import datetime
    >>> class Student(Schema):
    ...     id = Field(int, nullable=False)
    ...     name = Field(str)
    ...     score = Field(float, name="avg_score")
    ...     born = Field(datetime.date)
    >>> Student.score
    Student.score
    >>> Student.score.column, Student.score.kind
    ('avg_score', 'float')
    >>> [f.attr for f in Student.fields()]
    ['id', 'name', 'score', 'born']
"""

from __future__ import annotations

from typing import ClassVar, cast

from flowlib.sources.errors import SchemaError, UnknownFieldError
from flowlib.sources.expressions import KINDS, Expr, Field, kind_name
from flowlib.sources.meta import SchemaMeta, find_schema, schema_ref
from flowlib.sources.query import Query

__all__ = ["Field", "Schema", "SchemaMeta", "KINDS", "kind_name", "schema_ref", "resolve_schema"]


class Schema(metaclass=SchemaMeta):
    """Base class of schemas: subclass it and declare :class:`Field` attributes.

    ``__table__`` (optional) names the table that ``query.sql()`` uses when no feed gives one
    (default: the class name in lower case).
    """

    __fields__: ClassVar[dict[str, Field]] = {}

    def __init__(self) -> None:
        raise SchemaError(
            f"{type(self).__name__} is a schema: use the class itself, e.g. {type(self).__name__}.select()"
        )

    @classmethod
    def fields(cls) -> list[Field]:
        """The fields in declaration order (inherited ones first)."""
        return list(cls.__fields__.values())

    @classmethod
    def field(cls, attr: str) -> Field:
        """The field named ``attr`` (:class:`UnknownFieldError` if there is none)."""
        field = cls.__fields__.get(attr)
        if field is None:
            raise UnknownFieldError(
                f"{cls.__name__} has no field {attr!r}; its fields are: {', '.join(cls.__fields__)}"
            )
        return field

    @classmethod
    def table_name(cls) -> str:
        """The default table name: ``__table__`` or the class name in lower case."""
        return str(cls.__dict__.get("__table__") or cls.__name__.lower())

    @classmethod
    def select(cls, *columns: Expr) -> Query:
        """A query over this schema: ``Student.select(Student.name)``; no arguments: every field."""
        if not cls.__fields__:
            raise SchemaError(f"{cls.__name__} declares no fields; add e.g. id = Field(int)")
        return Query(cls).select(*columns)

    @classmethod
    def where(cls, condition: Expr) -> Query:
        """``Student.select().where(condition)``."""
        return cls.select().where(condition)


def resolve_schema(ref: str) -> type[Schema]:
    """The schema class named by ``module:QualName`` (imported if need be).

    Example:
        >>> resolve_schema("flowlib.sources:Schema").__name__
        'Schema'
    """
    return cast("type[Schema]", find_schema(ref))
