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

import datetime
import importlib
from typing import Any, ClassVar

from flowlib.sources.errors import SchemaError, UnknownFieldError
from flowlib.sources.expressions import Expr
from flowlib.sources.query import Query, schema_ref

__all__ = ["Field", "Schema", "KINDS", "kind_name", "schema_ref", "resolve_schema"]

#: The Python types a field can hold, and their names in queries and messages.
KINDS: dict[type, str] = {
    int: "int",
    float: "float",
    str: "str",
    bool: "bool",
    datetime.date: "date",
    datetime.datetime: "datetime",
}


def kind_name(kind: type) -> str:
    """The name of a field kind (``int`` -> ``"int"``); :class:`SchemaError` for other types."""
    try:
        return KINDS[kind]
    except (KeyError, TypeError):
        allowed = ", ".join(
            t.__module__ + "." + t.__qualname__ if t.__module__ != "builtins" else t.__name__ for t in KINDS
        )
        raise SchemaError(f"Field kind {kind!r} is not supported; use one of {allowed}") from None


class Field(Expr):
    """A typed field of a schema: ``Field(kind, name="physical_name", nullable=True)``.

    ``name`` is the column in files, tables and frames (default: the attribute name).
    Inside a schema class, ``Student.score`` is the field and can be used in expressions.
    """

    kind: str
    nullable: bool = True  # a plain attribute here (Expr.nullable is a computed property)

    def __init__(self, kind: type, *, name: str | None = None, nullable: bool = True) -> None:
        self.kind = kind_name(kind)
        self.python_type = kind
        if name is not None and (not isinstance(name, str) or not name):
            raise SchemaError(f"Field(name=...) is the physical column name, a non-empty str; got {name!r}")
        self.physical = name
        self.nullable = bool(nullable)
        self.attr = ""
        self.schema: Any = None

    def bind(self, schema: type, attr: str) -> Field:
        """A copy of this field belonging to ``schema`` under ``attr``."""
        field = Field(self.python_type, name=self.physical, nullable=self.nullable)
        field.attr, field.schema = attr, schema
        return field

    @property
    def column(self) -> str:
        """The physical column name."""
        return self.physical or self.attr

    def tree(self) -> list[Any]:
        return ["col", schema_ref(self.schema), self.attr]

    def fields(self) -> list[Field]:
        return [self]

    def __repr__(self) -> str:
        if self.schema is None:
            return f"Field({self.kind})"
        return f"{self.schema.__name__}.{self.attr}"

    def describe(self) -> list[Any]:
        """What defines this field: attribute, kind, physical column, nullable (for fingerprints)."""
        return [self.attr, self.kind, self.column, self.nullable]


class SchemaMeta(type):
    """Collects the fields of a schema class; unknown attributes are :class:`UnknownFieldError`."""

    __fields__: dict[str, Field]

    def __new__(mcs, name: str, bases: tuple[type, ...], namespace: dict[str, Any], **kwargs: Any) -> SchemaMeta:
        cls = super().__new__(mcs, name, bases, namespace, **kwargs)
        fields: dict[str, Field] = {}
        for base in reversed(cls.__mro__[1:]):
            for attr, field in base.__dict__.get("__fields__", {}).items():
                fields[attr] = field.bind(cls, attr)
        for attr, value in namespace.items():
            if isinstance(value, Field):
                if attr.startswith("_"):
                    raise SchemaError(f"{name}.{attr}: field names do not start with '_'")
                fields[attr] = value.bind(cls, attr)
        columns = [f.column for f in fields.values()]
        doubled = sorted({c for c in columns if columns.count(c) > 1})
        if doubled:
            raise SchemaError(f"{name} maps several fields to the column(s) {doubled}; give each field its own name=")
        cls.__fields__ = fields
        for attr, field in fields.items():
            setattr(cls, attr, field)
        return cls

    def __getattr__(cls, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        known = ", ".join(cls.__dict__.get("__fields__", {})) or "none"
        raise UnknownFieldError(f"{cls.__name__} has no field {name!r}; its fields are: {known}")

    def __repr__(cls) -> str:
        return cls.__name__


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
    """The schema class named by ``module:QualName`` (imported if need be)."""
    module_name, _, qualname = ref.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as exc:
        raise SchemaError(f"cannot find the schema {ref!r} ({exc}); is its catalog package importable?") from exc
    if not (isinstance(target, type) and issubclass(target, Schema)):
        raise SchemaError(f"{ref!r} is not a flowlib.sources.Schema subclass")
    return target
