"""Queries compile to SQL through sqlglot, with flowlib's semantics on DuckDB, SQLite and PostgreSQL."""

from __future__ import annotations

import duckdb
import pytest
import sqlalchemy as sa

from flowlib.sources import Field, Schema

ROWS = [("a", 7, 2), ("B", 1, 3), ("b", None, 1), ("é", 4, 0), ("Z", 2, 2)]


class Pair(Schema):
    __table__ = "pairs"
    name = Field(str)
    x = Field(int)
    y = Field(int, name="y_col")


def run_duckdb(sql: str) -> list[tuple]:
    con = duckdb.connect()
    con.execute("CREATE TABLE pairs (name VARCHAR, x BIGINT, y_col BIGINT)")
    con.executemany("INSERT INTO pairs VALUES (?, ?, ?)", ROWS)
    return [tuple(r) for r in con.execute(sql).fetchall()]


def run_sqlalchemy(url: str, sql: str) -> list[tuple]:
    engine = sa.create_engine(url)
    meta = sa.MetaData()
    table = sa.Table(
        "pairs", meta, sa.Column("name", sa.Text), sa.Column("x", sa.BigInteger), sa.Column("y_col", sa.BigInteger)
    )
    with engine.begin() as conn:
        meta.drop_all(conn)
        meta.create_all(conn)
        conn.execute(table.insert(), [dict(zip(("name", "x", "y_col"), r)) for r in ROWS])
    with engine.connect() as conn:
        cursor = conn.connection.cursor()  # the driver's own cursor: no parameter parsing of '%'
        cursor.execute(sql)
        rows = [tuple(r) for r in cursor.fetchall()]
    engine.dispose()
    return rows


@pytest.fixture(params=["duckdb", "sqlite", "postgres"])
def engine(request, tmp_path):
    """``(dialect, run(sql) -> rows)`` for each engine; PostgreSQL is a real server."""
    if request.param == "duckdb":
        return "duckdb", run_duckdb
    url = (
        f"sqlite:///{tmp_path / 'db.sqlite'}" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    )
    return request.param, lambda sql: run_sqlalchemy(url, sql)


def test_sql_is_rendered_per_dialect():
    q = Pair.select(Pair.name, (Pair.x / Pair.y).alias("ratio")).where(Pair.name > "a").orderby(Pair.x.desc())
    duck, lite, pg = q.sql("duckdb"), q.sql("sqlite"), q.sql("postgres")
    assert 'FROM "pairs" AS "t0"' in duck and '"t0"."y_col"' in duck
    assert "CAST(" in lite and "REAL" in lite  # true division on an engine with integer division
    assert "DOUBLE PRECISION" in pg and 'COLLATE "C"' in pg and "NULLS LAST" in pg
    assert "COLLATE" not in duck and "COLLATE" not in lite
    assert q.sql("postgresql") == pg
    assert Pair.select().sql("duckdb", tables={Pair: "main.other"}).endswith('FROM "main"."other" AS "t0"')


def test_true_division(engine):
    dialect, run = engine
    q = Pair.select(Pair.name, (Pair.x / Pair.y).alias("ratio")).orderby(Pair.name)
    got = dict(run(q.sql(dialect)))
    assert got["a"] == pytest.approx(3.5) and got["B"] == pytest.approx(1 / 3)
    assert got["é"] is None  # a zero divisor gives NULL everywhere
    assert got["b"] is None


def test_nulls_sort_last_both_ways(engine):
    dialect, run = engine
    up = [r[0] for r in run(Pair.select(Pair.x).orderby(Pair.x).sql(dialect))]
    down = [r[0] for r in run(Pair.select(Pair.x).orderby(Pair.x.desc()).sql(dialect))]
    assert up == [1, 2, 4, 7, None] and down == [7, 4, 2, 1, None]


def test_strings_compare_by_code_point(engine):
    dialect, run = engine
    ordered = [r[0] for r in run(Pair.select(Pair.name).orderby(Pair.name).sql(dialect))]
    assert ordered == sorted(name for name, _, _ in ROWS) == ["B", "Z", "a", "b", "é"]
    above = sorted(r[0] for r in run(Pair.select(Pair.name).where(Pair.name > "Z").sql(dialect)))
    assert above == ["a", "b", "é"]
    smallest = run(Pair.select(Pair.name.min(), Pair.name.max()).sql(dialect))
    assert smallest == [("B", "é")]


def test_filters_groups_and_limits(engine):
    dialect, run = engine
    q = (
        Pair.select(Pair.y, Pair.x.sum(), Pair.x.count(), Pair.x.mean())
        .where(Pair.x.notnull() & ~Pair.name.isin(["Z"]))
        .groupby(Pair.y)
        .having(Pair.x.count() >= 1)
        .orderby(Pair.y)
        .limit(2)
    )
    rows = [(int(a), int(b), int(c), float(d)) for a, b, c, d in run(q.sql(dialect))]
    assert rows == [(0, 4, 1, 4.0), (2, 7, 1, 7.0)]
    mod = run(Pair.select((Pair.x % 3).alias("m")).where(Pair.x.isnull() | (Pair.x > 3)).orderby(Pair.x).sql(dialect))
    assert [r[0] for r in mod] == [1, 1, None]
    assert run(Pair.select(Pair.name).where(Pair.x.isin([])).sql(dialect)) == []


def test_the_guide_shows_the_sql_queries_compile_to():
    """docs/sources.md quotes compiled SQL: it must be what the compiler gives."""
    from pathlib import Path

    from examples.catalog import School, Student

    text = (Path(__file__).resolve().parent.parent / "docs" / "sources.md").read_text()
    tables = {Student: "students", School: "schools"}
    query = (
        Student.select(Student.name, Student.score)
        .where(Student.score > 3)
        .join(School, Student.school == School.id)
        .orderby(Student.score.desc(), Student.name)
        .limit(10)
    )
    assert f"| `duckdb` | `{query.sql('duckdb', tables=tables)}` |" in text
    for dialect in ("sqlite", "postgres"):
        sql = query.sql(dialect, tables=tables)
        assert f"| `{dialect}` | `... {sql[sql.index('ORDER BY') :]}` |" in text
    by_city = (
        Student.select(
            School.city, Student.score.mean(), Student.id.count(), (Student.score.max() / 5).alias("best_share")
        )
        .join(School, Student.school == School.id)
        .groupby(School.city)
        .having(Student.id.count() >= 2)
    )
    block = text[text.index("```sql\n") + 7 :]
    block = block[: block.index("```")]
    assert " ".join(block.split()) == by_city.sql("postgres", tables=tables)
