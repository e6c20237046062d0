"""The class of schema classes: :class:`SchemaMeta` collects a schema's fields, and names schemas for queries.

Every ``flowlib.sources.Schema`` subclass is made by :class:`SchemaMeta`, so "is a schema" is
``isinstance(cls, SchemaMeta)``. Queries name a schema by ``module:QualName`` (:func:`schema_ref`)
and find it again by that name (:func:`find_schema`); this module lets them do so without importing
``flowlib.sources.schema``, whose ``Schema.select`` builds queries.

Example:
    >>> from flowlib.sources import Schema, Field
    >>> class Town(Schema):
    ...     name = Field(str)
    >>> isinstance(Town, SchemaMeta), schema_ref(Town).endswith(":Town")
    (True, True)
"""

from __future__ import annotations

import importlib
from typing import Any

from flowlib.sources.errors import QueryTypeError, SchemaError, UnknownFieldError
from flowlib.sources.expressions import Field

__all__ = ["SchemaMeta", "schema_ref", "find_schema"]


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


def schema_ref(schema: Any) -> str:
    """``module:QualName`` of a schema class: how queries refer to it in their canonical form."""
    if not isinstance(schema, SchemaMeta):
        raise QueryTypeError(f"expected a flowlib.sources.Schema subclass, got {schema!r}")
    return f"{schema.__module__}:{schema.__qualname__}"


def find_schema(ref: str) -> SchemaMeta:
    """The schema class named by ``module:QualName`` (imported if need be); typed: ``resolve_schema``."""
    module_name, _, qualname = ref.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as exc:
        raise SchemaError(f"cannot find the schema {ref!r} ({exc}); is its catalog package importable?") from exc
    if not isinstance(target, SchemaMeta):
        raise SchemaError(f"{ref!r} is not a flowlib.sources.Schema subclass")
    return target
