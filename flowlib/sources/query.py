"""The query DSL: immutable expression trees over schema fields, with a stable fingerprint.

Expressions are built from fields (``Student.score``) and Python values with ``+ - * / %``,
comparisons, ``& | ~``, ``.isin``, ``.isnull``, ``.notnull`` and the aggregations ``mean``,
``sum``, ``min``, ``max``, ``count``. A :class:`Query` is a value: readable ``repr``,
structural ``==`` and ``hash``, and ``fingerprint``, a hash of its canonical JSON form
that is the same in every process and Python version.

Example:
    >>> from flowlib.sources import Schema, Field
    >>> class Pupil(Schema):
    ...     name = Field(str)
    ...     score = Field(float)
    >>> q = Pupil.select(Pupil.name).where(Pupil.score > 3).orderby(Pupil.score.desc()).limit(2)
    >>> q
    Pupil.select(Pupil.name).where(Pupil.score > 3).orderby(Pupil.score.desc()).limit(2)
    >>> q == Pupil.select(Pupil.name).where(Pupil.score > 3).orderby(Pupil.score.desc()).limit(2)
    True
    >>> len(q.fingerprint)
    32
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from flowlib.sources.errors import QueryError, QueryTypeError
from flowlib.sources.expressions import (
    Aggregate,
    Alias,
    Binary,
    Compare,
    Expr,
    Field,
    InList,
    IsNull,
    Literal,
    Logical,
    Negate,
    Not,
    Ordering,
    dumps,
    lit,
    need_bool,
)
from flowlib.sources.meta import find_schema, schema_ref

__all__ = [
    "Query",
    "Join",
    "Expr",
    "Ordering",
    "lit",
    "schema_ref",
    "from_canonical",
    "expr_from_tree",
    "QueryHooks",
    "hooks",
]


@dataclass(frozen=True, eq=False)
class Join:
    """``JOIN schema ON condition`` (``how``: ``"inner"`` or ``"left"``)."""

    schema: type
    on: Expr
    how: str = "inner"


def _output_name(expr: Expr) -> str:
    if isinstance(expr, Alias):
        return expr.name
    if isinstance(expr, Field):
        return expr.attr
    if isinstance(expr, Aggregate) and isinstance(expr.arg, Field):
        return f"{expr.arg.attr}_{expr.func}"
    raise QueryError(f"the computed column {expr!r} needs a name: add .alias('name')")


@dataclass(frozen=True, eq=False)
class Query:
    """A query over schemas. Build it from ``Schema.select(...)``; each method returns a new query."""

    source: type
    columns: tuple[Expr, ...] = ()
    joins: tuple[Join, ...] = ()
    condition: Expr | None = None
    groups: tuple[Expr, ...] = ()
    group_condition: Expr | None = None
    orders: tuple[Ordering, ...] = ()
    rows: int | None = None

    # -- building -------------------------------------------------------------------------
    def select(self, *columns: Expr) -> Query:
        """The result columns (replacing earlier ones); none: every field of the first schema."""
        checked = []
        for column in columns:
            if not isinstance(column, Expr):
                raise QueryTypeError(f"select() takes fields or expressions, e.g. Student.name; got {column!r}")
            checked.append(column)
        names = [_output_name(c) for c in checked]
        doubled = sorted({n for n in names if names.count(n) > 1})
        if doubled:
            raise QueryError(f"select() names the result column(s) {doubled} twice; give one of them .alias('other')")
        return replace(self, columns=tuple(checked))

    def where(self, condition: Expr) -> Query:
        """Keep rows where ``condition`` holds; several ``where`` calls combine with AND."""
        need_bool(lit(condition), "where()")
        if condition.has_aggregate():
            raise QueryError(f"where({condition!r}) holds an aggregation; filter groups with having()")
        combined = condition if self.condition is None else Logical("and", self.condition, condition)
        return replace(self, condition=combined)

    def join(self, schema: type, on: Expr, how: str = "inner") -> Query:
        """Join another schema: ``.join(School, Student.school == School.id, how="left")``."""
        schema_ref(schema)
        if how not in ("inner", "left"):
            raise QueryError(f"join(how={how!r}) is not supported; use 'inner' or 'left'")
        need_bool(lit(on), "join(on=...)")
        if schema in self.schemas:
            raise QueryError(f"{schema.__name__} is already part of this query; a schema can appear once")
        return replace(self, joins=(*self.joins, Join(schema, on, how)))

    def groupby(self, *exprs: Expr) -> Query:
        """Group rows by these expressions (select them and aggregations of the rest)."""
        for expr in exprs:
            if not isinstance(expr, Expr) or expr.has_aggregate():
                raise QueryError(f"groupby() takes fields or expressions without aggregations, got {expr!r}")
        return replace(self, groups=tuple(exprs))

    def having(self, condition: Expr) -> Query:
        """Keep groups where ``condition`` (usually over aggregations) holds; combines with AND."""
        need_bool(lit(condition), "having()")
        old = self.group_condition
        return replace(self, group_condition=condition if old is None else Logical("and", old, condition))

    def orderby(self, *orders: Expr | Ordering) -> Query:
        """Sort by these keys (``Student.score.desc()``, ``Student.name``); NULLs sort last."""
        keys = []
        for order in orders:
            if isinstance(order, Ordering):
                keys.append(order)
            elif isinstance(order, Expr):
                keys.append(Ordering(order, False))
            else:
                raise QueryTypeError(f"orderby() takes fields, expressions or .desc() orderings, got {order!r}")
        return replace(self, orders=tuple(keys))

    def limit(self, rows: int) -> Query:
        """At most ``rows`` rows."""
        if isinstance(rows, bool) or not isinstance(rows, int) or rows < 0:
            raise QueryError(f"limit() takes a non-negative int, got {rows!r}")
        return replace(self, rows=rows)

    # -- reading ----------------------------------------------------------------------------
    @property
    def schemas(self) -> tuple[type, ...]:
        """The schemas this query reads: the first one, then the joined ones."""
        return (self.source, *(j.schema for j in self.joins))

    def outputs(self) -> list[tuple[str, Expr]]:
        """``[(result column name, expression)]`` in result order."""
        columns = self.columns or tuple(self.source.fields())  # type: ignore[attr-defined]
        return [(_output_name(c), c) for c in columns]

    def fields(self) -> list[Field]:
        """Every field the query reads (each once, in first-use order)."""
        exprs: list[Expr] = [e for _, e in self.outputs()]
        exprs += [j.on for j in self.joins] + list(self.groups) + [o.expr for o in self.orders]
        exprs += [e for e in (self.condition, self.group_condition) if e is not None]
        seen: dict[str, Field] = {}
        for expr in exprs:
            for field in expr.fields():
                seen.setdefault(field.key, field)
        return list(seen.values())

    def nullable(self, expr: Expr) -> bool:
        """Whether ``expr`` can be NULL in the result (a left join makes the joined fields nullable)."""
        left = {j.schema for j in self.joins if j.how == "left"}
        return expr.nullable or any(f.schema in left for f in expr.fields())

    def check(self) -> None:
        """Raise :class:`QueryError` if the query reads schemas it does not name or groups wrongly."""
        known = set(self.schemas)
        for field in self.fields():
            if field.schema not in known:
                raise QueryError(
                    f"{self!r} reads {field!r}, but {field.schema.__name__} is not part of the query; "
                    f"join it: .join({field.schema.__name__}, on=...)"
                )
        outputs = self.outputs()
        grouped = bool(self.groups) or any(e.has_aggregate() for _, e in outputs) or self.group_condition is not None
        if grouped:
            keys = {g.key for g in self.groups}
            for name, expr in outputs:
                inner = expr.expr if isinstance(expr, Alias) else expr
                if not inner.has_aggregate() and inner.key not in keys and inner.fields():
                    raise QueryError(
                        f"{self!r}: the result column {name!r} is neither grouped nor aggregated; "
                        f"add it to groupby() or aggregate it (e.g. .max())"
                    )

    # -- identity ----------------------------------------------------------------------------
    def tree(self) -> dict[str, Any]:
        """The canonical JSON-able form of the query."""
        return {
            "from": schema_ref(self.source),
            "select": [c.tree() for c in self.columns],
            "join": [[schema_ref(j.schema), j.how, j.on.tree()] for j in self.joins],
            "where": None if self.condition is None else self.condition.tree(),
            "groupby": [g.tree() for g in self.groups],
            "having": None if self.group_condition is None else self.group_condition.tree(),
            "orderby": [o.tree() for o in self.orders],
            "limit": self.rows,
        }

    @functools.cached_property
    def canonical(self) -> str:
        """Canonical JSON of the query and of the schemas it reads (sorted keys, ASCII)."""
        schemas = {schema_ref(s): [f.describe() for f in s.fields()] for s in self.schemas}  # type: ignore[attr-defined]
        return dumps({"flowlib.query": 1, "query": self.tree(), "schemas": schemas})

    @functools.cached_property
    def fingerprint(self) -> str:
        """A hash of :attr:`canonical`: the same in every process and Python version."""
        return hashlib.sha256(self.canonical.encode("ascii")).hexdigest()[:32]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Query) and other.canonical == self.canonical

    def __hash__(self) -> int:
        return hash(self.canonical)

    def __repr__(self) -> str:
        text = f"{self.source.__name__}.select({', '.join(map(repr, self.columns))})"
        for join in self.joins:
            how = ", how='left'" if join.how == "left" else ""
            text += f".join({join.schema.__name__}, {join.on!r}{how})"
        if self.condition is not None:
            text += f".where({self.condition!r})"
        if self.groups:
            text += f".groupby({', '.join(map(repr, self.groups))})"
        if self.group_condition is not None:
            text += f".having({self.group_condition!r})"
        if self.orders:
            text += f".orderby({', '.join(map(repr, self.orders))})"
        if self.rows is not None:
            text += f".limit({self.rows})"
        return text

    def sql(self, dialect: str = "duckdb", tables: dict[type, str] | None = None) -> str:
        """The complete SQL of this query for ``dialect`` (``"duckdb"``, ``"sqlite"``, ``"postgres"``).

        ``tables`` maps schemas to table names (default: each schema's ``table_name()``).
        """
        return hooks.require_sql()(self, dialect, tables)


@dataclass
class QueryHooks:
    """What a query is lent by the module above it, installed when that module is imported.

    ``Query.sql()`` renders through ``sql``, which ``flowlib.sources.compile`` sets to its ``to_sql``;
    ``flowlib.sources`` imports the compiler, so it is there whenever a query is, and this module
    never imports it.
    """

    sql: Callable[[Query, str, Mapping[type, Any] | None], str] | None = None

    def require_sql(self) -> Callable[[Query, str, Mapping[type, Any] | None], str]:
        """The SQL renderer (:class:`QueryError` if ``flowlib.sources.compile`` was never imported)."""
        if self.sql is None:  # pragma: no cover - importing flowlib.sources installs it
            raise QueryError("no SQL compiler is installed: `import flowlib.sources` first")
        return self.sql


#: The hooks of this process (see :class:`QueryHooks`).
hooks = QueryHooks()


# -- parsing the canonical form back --------------------------------------------------------------
def _literal_value(kind: str | None, value: Any) -> Any:
    if kind == "date":
        return datetime.date.fromisoformat(value)
    if kind == "datetime":
        return datetime.datetime.fromisoformat(value)
    return value


def expr_from_tree(tree: list[Any]) -> Expr:
    """Rebuild an expression from its :meth:`Expr.tree` form."""
    tag = tree[0]
    if tag == "col":
        return find_schema(tree[1]).field(tree[2])
    if tag == "lit":
        return Literal(_literal_value(tree[1], tree[2]))
    if tag == "bin":
        return Binary.make(tree[1], expr_from_tree(tree[2]), expr_from_tree(tree[3]))
    if tag == "cmp":
        return Compare.make(tree[1], expr_from_tree(tree[2]), expr_from_tree(tree[3]))
    if tag in ("and", "or"):
        return Logical.make(tag, expr_from_tree(tree[1]), expr_from_tree(tree[2]))
    if tag == "not":
        return Not.make(expr_from_tree(tree[1]))
    if tag == "neg":
        return Negate.make(expr_from_tree(tree[1]))
    if tag in ("isnull", "notnull"):
        return IsNull(expr_from_tree(tree[1]), tag == "notnull")
    if tag == "in":
        return InList.make(expr_from_tree(tree[1]), [expr_from_tree(v) for v in tree[2]])
    if tag == "agg":
        return Aggregate.make(tree[1], expr_from_tree(tree[2]))
    if tag == "alias":
        return Alias(expr_from_tree(tree[2]), tree[1])
    raise QueryError(f"unknown expression node {tag!r} in a serialized query")


def from_canonical(text: str) -> Query:
    """Rebuild a query from :attr:`Query.canonical` (schemas are imported by name)."""
    try:
        data = json.loads(text)["query"]
    except (ValueError, KeyError, TypeError) as exc:
        raise QueryError(f"not a serialized flowlib query: {text[:80]!r}") from exc
    query = Query(find_schema(data["from"]))
    for ref, how, on in data["join"]:
        query = query.join(find_schema(ref), expr_from_tree(on), how)
    query = query.select(*(expr_from_tree(c) for c in data["select"]))
    if data["where"] is not None:
        query = replace(query, condition=expr_from_tree(data["where"]))
    query = query.groupby(*(expr_from_tree(g) for g in data["groupby"]))
    if data["having"] is not None:
        query = replace(query, group_condition=expr_from_tree(data["having"]))
    query = query.orderby(*(Ordering(expr_from_tree(e), bool(d)) for e, d in data["orderby"]))
    return query if data["limit"] is None else query.limit(data["limit"])
