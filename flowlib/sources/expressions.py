"""Expression trees over schema fields: immutable nodes with a canonical JSON form.

Expressions are built from fields (``Student.score``) and Python values with ``+ - * / %``,
comparisons, ``& | ~``, ``.isin``, ``.isnull``, ``.notnull`` and the aggregations ``mean``,
``sum``, ``min``, ``max``, ``count``; each node checks the types it combines where it is written.

The leaves are :class:`Field` (a column of a schema: ``Student.score``) and :class:`Literal`. This
module knows schemas only as the classes fields are bound to; ``flowlib.sources.schema`` re-exports
``Field``, ``KINDS`` and ``kind_name``.

Example:
    >>> lit(2) + 3
    2 + 3
    >>> (lit(2) + 3).kind
    'int'
"""

from __future__ import annotations

import datetime
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from flowlib.sources.errors import QueryError, QueryTypeError, SchemaError

__all__ = [
    "Expr",
    "Field",
    "KINDS",
    "kind_name",
    "Literal",
    "Binary",
    "Compare",
    "Logical",
    "Not",
    "Negate",
    "IsNull",
    "InList",
    "Aggregate",
    "Alias",
    "Ordering",
    "lit",
    "need_bool",
    "dumps",
]

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


NUMERIC = {"int", "float"}
AGGREGATES = ("mean", "sum", "min", "max", "count")
_SYMBOLS = {"==": "==", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


class Expr:
    """A node of an expression tree. Operators build new nodes; nothing is ever mutated."""

    kind: str | None = None

    # -- structure ----------------------------------------------------------------------
    def tree(self) -> list[Any]:
        """The canonical JSON-able form of this expression."""
        raise NotImplementedError

    def children(self) -> Sequence[Expr]:
        return ()

    def fields(self) -> list[Field]:
        """Every field this expression reads."""
        found: list[Field] = []
        for child in self.children():
            found.extend(child.fields())
        return found

    @property
    def nullable(self) -> bool:
        return any(child.nullable for child in self.children())

    def has_aggregate(self) -> bool:
        return any(child.has_aggregate() for child in self.children())

    @property
    def key(self) -> str:
        """The canonical JSON text of this expression (its identity)."""
        cached = self.__dict__.get("_key")
        if cached is None:
            cached = self.__dict__["_key"] = dumps(self.tree())
        return cached

    def same(self, other: object) -> bool:
        """Structural equality (``==`` builds a comparison instead)."""
        return isinstance(other, Expr) and other.key == self.key

    def __hash__(self) -> int:
        return hash(self.key)

    def __bool__(self) -> bool:
        raise QueryTypeError(
            f"{self!r} is a query expression, not a truth value: combine conditions with & | ~ "
            "(not and / or / not) and compare with .isin([...]) rather than `in`"
        )

    # -- operators ------------------------------------------------------------------------
    def __add__(self, other: Any) -> Expr:
        return Binary.make("+", self, lit(other))

    def __radd__(self, other: Any) -> Expr:
        return Binary.make("+", lit(other), self)

    def __sub__(self, other: Any) -> Expr:
        return Binary.make("-", self, lit(other))

    def __rsub__(self, other: Any) -> Expr:
        return Binary.make("-", lit(other), self)

    def __mul__(self, other: Any) -> Expr:
        return Binary.make("*", self, lit(other))

    def __rmul__(self, other: Any) -> Expr:
        return Binary.make("*", lit(other), self)

    def __truediv__(self, other: Any) -> Expr:
        return Binary.make("/", self, lit(other))

    def __rtruediv__(self, other: Any) -> Expr:
        return Binary.make("/", lit(other), self)

    def __mod__(self, other: Any) -> Expr:
        return Binary.make("%", self, lit(other))

    def __rmod__(self, other: Any) -> Expr:
        return Binary.make("%", lit(other), self)

    def __neg__(self) -> Expr:
        return Negate.make(self)

    def __eq__(self, other: Any) -> Expr:  # type: ignore[override]
        return Compare.make("==", self, lit(other))

    def __ne__(self, other: Any) -> Expr:  # type: ignore[override]
        return Compare.make("!=", self, lit(other))

    def __lt__(self, other: Any) -> Expr:
        return Compare.make("<", self, lit(other))

    def __le__(self, other: Any) -> Expr:
        return Compare.make("<=", self, lit(other))

    def __gt__(self, other: Any) -> Expr:
        return Compare.make(">", self, lit(other))

    def __ge__(self, other: Any) -> Expr:
        return Compare.make(">=", self, lit(other))

    def __and__(self, other: Any) -> Expr:
        return Logical.make("and", self, lit(other))

    def __rand__(self, other: Any) -> Expr:
        return Logical.make("and", lit(other), self)

    def __or__(self, other: Any) -> Expr:
        return Logical.make("or", self, lit(other))

    def __ror__(self, other: Any) -> Expr:
        return Logical.make("or", lit(other), self)

    def __invert__(self) -> Expr:
        return Not.make(self)

    # -- methods ----------------------------------------------------------------------------
    def isin(self, values: Iterable[Any]) -> Expr:
        """``expr IN (values)``."""
        if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
            raise QueryTypeError(f"{self!r}.isin() takes a list of values, got {values!r}")
        return InList.make(self, [lit(v) for v in values])

    def isnull(self) -> Expr:
        """``expr IS NULL``."""
        return IsNull(self, False)

    def notnull(self) -> Expr:
        """``expr IS NOT NULL``."""
        return IsNull(self, True)

    def mean(self) -> Expr:
        """The mean of a numeric expression (a float)."""
        return Aggregate.make("mean", self)

    def sum(self) -> Expr:
        """The sum of a numeric expression."""
        return Aggregate.make("sum", self)

    def min(self) -> Expr:
        """The smallest value."""
        return Aggregate.make("min", self)

    def max(self) -> Expr:
        """The largest value."""
        return Aggregate.make("max", self)

    def count(self) -> Expr:
        """How many values are not null."""
        return Aggregate.make("count", self)

    def alias(self, name: str) -> Expr:
        """This expression under the result column name ``name``."""
        if not isinstance(name, str) or not name:
            raise QueryError(f"{self!r}.alias() takes a non-empty column name, got {name!r}")
        inner = self.expr if isinstance(self, Alias) else self
        return Alias(inner, name)

    def asc(self) -> Ordering:
        """Ascending order (NULLs last)."""
        return Ordering(self, False)

    def desc(self) -> Ordering:
        """Descending order (NULLs last)."""
        return Ordering(self, True)


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
        schema = self.schema
        if not isinstance(schema, type):
            raise QueryTypeError(f"expected a flowlib.sources.Schema subclass, got {schema!r}")
        return ["col", f"{schema.__module__}:{schema.__qualname__}", self.attr]  # as schema_ref(schema) writes it

    def fields(self) -> list[Field]:
        return [self]

    def __repr__(self) -> str:
        if self.schema is None:
            return f"Field({self.kind})"
        return f"{self.schema.__name__}.{self.attr}"

    def describe(self) -> list[Any]:
        """What defines this field: attribute, kind, physical column, nullable (for fingerprints)."""
        return [self.attr, self.kind, self.column, self.nullable]


def _kind_of_value(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        if not math.isfinite(value):
            raise QueryTypeError(f"{value!r} cannot be a query value; use .isnull() for missing values")
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, datetime.datetime):
        if value.tzinfo is not None:
            raise QueryTypeError(f"{value!r}: datetimes in queries are naive (no tzinfo)")
        return "datetime"
    if isinstance(value, datetime.date):
        return "date"
    raise QueryTypeError(
        f"{value!r} ({type(value).__name__}) cannot be a query value; use int, float, str, bool, date or datetime"
    )


class Literal(Expr):
    """A constant: int, float, str, bool, date, datetime or None."""

    def __init__(self, value: Any) -> None:
        self.kind = _kind_of_value(value)
        self.value = value

    def tree(self) -> list[Any]:
        value = self.value.isoformat() if self.kind in ("date", "datetime") else self.value
        return ["lit", self.kind, value]

    @property
    def nullable(self) -> bool:
        return self.value is None

    def __repr__(self) -> str:
        return repr(self.value)


def lit(value: Any) -> Expr:
    """``value`` as an expression (expressions pass through)."""
    if isinstance(value, Ordering):
        raise QueryTypeError(f"{value!r} is an ordering; use it in orderby(), not in an expression")
    if isinstance(value, Expr):
        return value
    return Literal(value)


def _describe(expr: Expr) -> str:
    return "NULL" if expr.kind is None else expr.kind


def _paren(expr: Expr) -> str:
    return f"({expr!r})" if isinstance(expr, (Binary, Compare, Logical)) else repr(expr)


class Binary(Expr):
    """Arithmetic: ``+ - * / %`` (``/`` is true division; ``%`` takes ints)."""

    def __init__(self, op: str, left: Expr, right: Expr, kind: str) -> None:
        self.op, self.left, self.right, self.kind = op, left, right, kind

    @classmethod
    def make(cls, op: str, left: Expr, right: Expr) -> Binary:
        kinds = (left.kind, right.kind)
        if op == "%":
            if kinds != ("int", "int"):
                raise QueryTypeError(
                    f"{left!r} % {right!r} takes int and int, got {_describe(left)} and {_describe(right)}"
                )
            return cls(op, left, right, "int")
        if left.kind not in NUMERIC or right.kind not in NUMERIC:
            raise QueryTypeError(
                f"{left!r} {op} {right!r}: {op} takes numbers (int or float), got {_describe(left)} "
                f"and {_describe(right)}"
            )
        kind = "float" if op == "/" or "float" in kinds else "int"
        return cls(op, left, right, kind)

    def children(self) -> Sequence[Expr]:
        return (self.left, self.right)

    @property
    def nullable(self) -> bool:
        return self.op in ("/", "%") or super().nullable  # a zero divisor gives NULL

    def tree(self) -> list[Any]:
        return ["bin", self.op, self.left.tree(), self.right.tree()]

    def __repr__(self) -> str:
        return f"{_paren(self.left)} {self.op} {_paren(self.right)}"


def _comparable(a: str | None, b: str | None) -> bool:
    return a == b or (a in NUMERIC and b in NUMERIC)


class Compare(Expr):
    """A comparison: ``== != < <= > >=``; strings compare by code point."""

    kind = "bool"

    def __init__(self, op: str, left: Expr, right: Expr) -> None:
        self.op, self.left, self.right = op, left, right

    @classmethod
    def make(cls, op: str, left: Expr, right: Expr) -> Compare:
        if left.kind is None or right.kind is None:
            raise QueryTypeError(f"{left!r} {op} {right!r} compares with None; use .isnull() or .notnull()")
        if not _comparable(left.kind, right.kind):
            raise QueryTypeError(
                f"{left!r} {op} {right!r} compares {left.kind} with {right.kind}; compare a {left.kind} "
                f"with a {left.kind} value (numbers compare with numbers)"
            )
        return cls(op, left, right)

    def children(self) -> Sequence[Expr]:
        return (self.left, self.right)

    def tree(self) -> list[Any]:
        return ["cmp", self.op, self.left.tree(), self.right.tree()]

    def __repr__(self) -> str:
        return f"{_paren(self.left)} {_SYMBOLS[self.op]} {_paren(self.right)}"


def need_bool(expr: Expr, where: str) -> None:
    if expr.kind != "bool":
        raise QueryTypeError(f"{where} takes conditions (bool), got {expr!r} of type {_describe(expr)}")


class Logical(Expr):
    """``&`` (and) and ``|`` (or) of conditions."""

    kind = "bool"

    def __init__(self, op: str, left: Expr, right: Expr) -> None:
        self.op, self.left, self.right = op, left, right

    @classmethod
    def make(cls, op: str, left: Expr, right: Expr) -> Logical:
        symbol = "&" if op == "and" else "|"
        need_bool(left, f"{symbol}")
        need_bool(right, f"{symbol}")
        return cls(op, left, right)

    def children(self) -> Sequence[Expr]:
        return (self.left, self.right)

    def tree(self) -> list[Any]:
        return [self.op, self.left.tree(), self.right.tree()]

    def __repr__(self) -> str:
        return f"{_paren(self.left)} {'&' if self.op == 'and' else '|'} {_paren(self.right)}"


class Not(Expr):
    """``~condition``."""

    kind = "bool"

    def __init__(self, expr: Expr) -> None:
        self.expr = expr

    @classmethod
    def make(cls, expr: Expr) -> Not:
        need_bool(expr, "~")
        return cls(expr)

    def children(self) -> Sequence[Expr]:
        return (self.expr,)

    def tree(self) -> list[Any]:
        return ["not", self.expr.tree()]

    def __repr__(self) -> str:
        return f"~{_paren(self.expr)}"


class Negate(Expr):
    """``-number``."""

    def __init__(self, expr: Expr) -> None:
        self.expr, self.kind = expr, expr.kind

    @classmethod
    def make(cls, expr: Expr) -> Negate:
        if expr.kind not in NUMERIC:
            raise QueryTypeError(f"-{expr!r} takes a number, got {_describe(expr)}")
        return cls(expr)

    def children(self) -> Sequence[Expr]:
        return (self.expr,)

    def tree(self) -> list[Any]:
        return ["neg", self.expr.tree()]

    def __repr__(self) -> str:
        return f"-{_paren(self.expr)}"


class IsNull(Expr):
    """``expr IS NULL`` (or ``IS NOT NULL`` when ``negated``)."""

    kind = "bool"

    def __init__(self, expr: Expr, negated: bool) -> None:
        self.expr, self.negated = expr, negated

    def children(self) -> Sequence[Expr]:
        return (self.expr,)

    @property
    def nullable(self) -> bool:
        return False

    def tree(self) -> list[Any]:
        return ["notnull" if self.negated else "isnull", self.expr.tree()]

    def __repr__(self) -> str:
        return f"{_paren(self.expr)}.{'notnull' if self.negated else 'isnull'}()"


class InList(Expr):
    """``expr IN (v1, v2, ...)``."""

    kind = "bool"

    def __init__(self, expr: Expr, values: Sequence[Expr]) -> None:
        self.expr, self.values = expr, tuple(values)

    @classmethod
    def make(cls, expr: Expr, values: Sequence[Expr]) -> InList:
        for value in values:
            if not isinstance(value, Literal) or value.kind is None:
                raise QueryTypeError(f"{expr!r}.isin() takes constant values (not None), got {value!r}")
            if not _comparable(expr.kind, value.kind):
                raise QueryTypeError(
                    f"{expr!r}.isin(...) compares {_describe(expr)} with {value.kind} ({value!r}); "
                    f"give {_describe(expr)} values"
                )
        return cls(expr, values)

    def children(self) -> Sequence[Expr]:
        return (self.expr,)

    def tree(self) -> list[Any]:
        return ["in", self.expr.tree(), [v.tree() for v in self.values]]

    def __repr__(self) -> str:
        return f"{_paren(self.expr)}.isin([{', '.join(map(repr, self.values))}])"


class Aggregate(Expr):
    """An aggregation of a group: mean, sum, min, max, count."""

    def __init__(self, func: str, arg: Expr, kind: str) -> None:
        self.func, self.arg, self.kind = func, arg, kind

    @classmethod
    def make(cls, func: str, arg: Expr) -> Aggregate:
        if arg.has_aggregate():
            raise QueryError(f"{arg!r}.{func}(): an aggregation cannot contain another aggregation")
        if func in ("mean", "sum") and arg.kind not in NUMERIC:
            raise QueryTypeError(f"{arg!r}.{func}() takes a number, got {_describe(arg)}")
        if func in ("min", "max") and arg.kind is None:
            raise QueryTypeError(f"{arg!r}.{func}() takes a typed value, got NULL")
        kind = {"mean": "float", "count": "int"}.get(func, arg.kind or "int")
        return cls(func, arg, kind)

    def children(self) -> Sequence[Expr]:
        return (self.arg,)

    def has_aggregate(self) -> bool:
        return True

    @property
    def nullable(self) -> bool:
        return self.func != "count" and self.arg.nullable

    def tree(self) -> list[Any]:
        return ["agg", self.func, self.arg.tree()]

    def __repr__(self) -> str:
        return f"{_paren(self.arg)}.{self.func}()"


class Alias(Expr):
    """An expression under a result column name."""

    def __init__(self, expr: Expr, name: str) -> None:
        self.expr, self.name, self.kind = expr, name, expr.kind

    def children(self) -> Sequence[Expr]:
        return (self.expr,)

    def tree(self) -> list[Any]:
        return ["alias", self.name, self.expr.tree()]

    def __repr__(self) -> str:
        return f"{_paren(self.expr)}.alias({self.name!r})"


@dataclass(frozen=True, eq=False)
class Ordering:
    """An order key: an expression, ascending or descending; NULLs always sort last."""

    expr: Expr
    descending: bool = False

    def tree(self) -> list[Any]:
        return [self.expr.tree(), self.descending]

    def __repr__(self) -> str:
        return f"{_paren(self.expr)}.{'desc' if self.descending else 'asc'}()"
