"""Queries to SQL through sqlglot: one expression tree per query, rendered for each dialect.

flowlib's semantics hold on every engine: ``/`` is true division (a zero divisor gives NULL),
NULLs sort last, and strings compare by code point (PostgreSQL gets ``COLLATE "C"``; DuckDB
and SQLite compare bytes of UTF-8, which is code-point order).

Example:
    >>> from flowlib.sources import Schema, Field
    >>> class Mark(Schema):
    ...     pupil = Field(str)
    ...     points = Field(int)
    >>> print(Mark.select((Mark.points / 2).alias("half")).sql("postgres"))
    SELECT CAST("t0"."points" AS DOUBLE PRECISION) / NULLIF(2, 0) AS "half" FROM "mark" AS "t0"
    >>> print(Mark.select(Mark.pupil).orderby(Mark.pupil.desc()).sql("postgres"))
    SELECT "t0"."pupil" AS "pupil" FROM "mark" AS "t0" ORDER BY "t0"."pupil" COLLATE "C" DESC NULLS LAST
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlglot
from sqlglot import exp

from flowlib.sources.errors import QueryError
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
)
from flowlib.sources.query import Query, hooks

__all__ = ["DIALECTS", "dialect_of", "to_expression", "to_sql", "table_expression", "stats_sql"]

#: Dialect names flowlib accepts, and sqlglot's name for each (SQLAlchemy's names included).
DIALECTS = {
    "duckdb": "duckdb",
    "sqlite": "sqlite",
    "postgres": "postgres",
    "postgresql": "postgres",
    "mysql": "mysql",
    "mariadb": "mysql",
    "mssql": "tsql",
    "oracle": "oracle",
    "snowflake": "snowflake",
    "bigquery": "bigquery",
}

TableRef = str | exp.Expression

_COMPARE = {"==": exp.EQ, "!=": exp.NEQ, "<": exp.LT, "<=": exp.LTE, ">": exp.GT, ">=": exp.GTE}
_ARITHMETIC = {"+": exp.Add, "-": exp.Sub, "*": exp.Mul, "%": exp.Mod}
_AGGREGATE = {"mean": exp.Avg, "sum": exp.Sum, "min": exp.Min, "max": exp.Max, "count": exp.Count}


def dialect_of(name: str) -> str:
    """sqlglot's name for a dialect (``"postgresql"`` -> ``"postgres"``); :class:`QueryError` if unknown."""
    dialect = DIALECTS.get(name.lower())
    if dialect is None:
        raise QueryError(f"unknown SQL dialect {name!r}; use one of {sorted(DIALECTS)}")
    return dialect


def table_expression(table: TableRef, alias: str | None = None) -> exp.Table:
    """A table (``"name"`` or ``"schema.name"``, quoted) or a table function, with an optional alias."""
    if isinstance(table, str):
        parts = [exp.to_identifier(p, quoted=True) for p in table.split(".")]
        node = exp.Table(this=parts[-1], db=parts[-2] if len(parts) > 1 else None)
    elif isinstance(table, exp.Table):
        node = table.copy()
    else:
        node = exp.Table(this=table.copy())
    if alias is not None:
        node.set("alias", exp.TableAlias(this=exp.to_identifier(alias, quoted=True)))
    return node


def _wrap(node: exp.Expression, expr: Expr) -> exp.Expression:
    return exp.Paren(this=node) if isinstance(expr, (Binary, Compare, Logical, Not, Negate)) else node


class _Compiler:
    def __init__(self, query: Query, dialect: str, tables: Mapping[type, TableRef] | None) -> None:
        self.query = query
        self.dialect = dialect
        self.tables = dict(tables or {})
        self.aliases = {schema: f"t{i}" for i, schema in enumerate(query.schemas)}

    def table(self, schema: type) -> exp.Table:
        ref = self.tables.get(schema)
        if ref is None:
            ref = schema.table_name()  # type: ignore[attr-defined]
        return table_expression(ref, self.aliases[schema])

    def collated(self, node: exp.Expression, expr: Expr) -> exp.Expression:
        """Strings compare by code point: PostgreSQL's database collation may say otherwise."""
        if expr.kind == "str" and self.dialect == "postgres":
            return exp.Collate(this=node, expression=exp.to_identifier("C", quoted=True))
        return node

    def literal(self, value: Literal) -> exp.Expression:
        kind, v = value.kind, value.value
        if kind is None:
            return exp.Null()
        if kind == "bool":
            return exp.Boolean(this=v)
        if kind == "int":
            return exp.Literal.number(v)
        if kind == "float":
            return exp.Literal.number(repr(v))
        if kind == "str":
            return exp.Literal.string(v)
        if kind == "date":
            return exp.cast(exp.Literal.string(v.isoformat()), exp.DataType.build("DATE"))
        return exp.cast(exp.Literal.string(v.isoformat(sep=" ")), exp.DataType.build("TIMESTAMP"))

    def expr(self, e: Expr) -> exp.Expression:  # noqa: C901 - one branch per node type
        node: Any
        if isinstance(e, Field):
            if e.schema not in self.aliases:
                self.query.check()  # raises a QueryError naming the missing join
            return exp.Column(
                this=exp.to_identifier(e.column, quoted=True),
                table=exp.to_identifier(self.aliases[e.schema], quoted=True),
            )
        if isinstance(e, Literal):
            return self.literal(e)
        if isinstance(e, Alias):
            return self.expr(e.expr)
        if isinstance(e, Binary):
            left, right = _wrap(self.expr(e.left), e.left), _wrap(self.expr(e.right), e.right)
            if e.op == "/":
                node = exp.Div(this=left, expression=right, typed=False, safe=True)
            else:
                node = _ARITHMETIC[e.op](this=left, expression=right)
            return node
        if isinstance(e, Compare):
            left = self.collated(_wrap(self.expr(e.left), e.left), e.left)
            right = self.collated(_wrap(self.expr(e.right), e.right), e.right)
            node = _COMPARE[e.op](this=left, expression=right)
            return node
        if isinstance(e, Logical):
            node = exp.And if e.op == "and" else exp.Or
            return node(this=_wrap(self.expr(e.left), e.left), expression=_wrap(self.expr(e.right), e.right))
        if isinstance(e, Not):
            return exp.Not(this=exp.Paren(this=self.expr(e.expr)))
        if isinstance(e, Negate):
            return exp.Neg(this=exp.Paren(this=self.expr(e.expr)))
        if isinstance(e, IsNull):
            test = exp.Is(this=_wrap(self.expr(e.expr), e.expr), expression=exp.Null())
            return exp.Not(this=test) if e.negated else test
        if isinstance(e, InList):
            if not e.values:
                return exp.false()
            return exp.In(this=_wrap(self.expr(e.expr), e.expr), expressions=[self.literal(v) for v in e.values])  # type: ignore[arg-type]
        if isinstance(e, Aggregate):
            arg = self.expr(e.arg)
            if e.func in ("min", "max"):
                arg = self.collated(arg, e.arg)
            node = _AGGREGATE[e.func](this=arg)
            return node
        raise QueryError(f"cannot compile {e!r} ({type(e).__name__}) to SQL")

    def select(self) -> exp.Select:
        query = self.query
        query.check()
        columns = [exp.alias_(self.expr(e), name, quoted=True) for name, e in query.outputs()]
        select = exp.select(*columns).from_(self.table(query.source))
        for join in query.joins:
            select = select.join(self.table(join.schema), on=self.expr(join.on), join_type=join.how.upper())
        if query.condition is not None:
            select = select.where(self.expr(query.condition))
        if query.groups:
            select = select.group_by(*(self.expr(g) for g in query.groups))
        if query.group_condition is not None:
            select = select.having(self.expr(query.group_condition))
        if query.orders:
            keys = [
                exp.Ordered(this=self.collated(self.expr(o.expr), o.expr), desc=o.descending, nulls_first=False)
                for o in query.orders
            ]
            select = select.order_by(*keys)
        if query.rows is not None:
            select = select.limit(query.rows)
        return select


def to_expression(query: Query, dialect: str = "duckdb", tables: Mapping[type, TableRef] | None = None) -> exp.Select:
    """The sqlglot tree of ``query`` (``tables``: schema -> table name or table function)."""
    return _Compiler(query, dialect_of(dialect), tables).select()


def to_sql(query: Query, dialect: str = "duckdb", tables: Mapping[type, TableRef] | None = None) -> str:
    """The complete SQL text of ``query`` for ``dialect``, literals inlined."""
    name = dialect_of(dialect)
    return to_expression(query, name, tables).sql(dialect=name)


def stats_sql(table: TableRef, dialect: str, ordinal: str | None = None, expression: str | None = None) -> str:
    """``SELECT COUNT(*)[, MAX(ordinal)] FROM table``, or ``SELECT expression FROM table``: a cheap fingerprint."""
    name = dialect_of(dialect)
    columns: list[Any] = [exp.Count(this=exp.Star())]
    if ordinal is not None:
        columns.append(exp.Max(this=exp.column(ordinal, quoted=True)))
    if expression is not None:
        try:
            columns = [sqlglot.parse_one(expression, read=name)]
        except sqlglot.errors.ParseError as exc:
            raise QueryError(f"the fingerprint expression {expression!r} is not valid {name} SQL: {exc}") from exc
    return exp.select(*columns).from_(table_expression(table)).sql(dialect=name)


hooks.sql = to_sql  # Query.sql() renders through this module (see flowlib.sources.query.QueryHooks)
