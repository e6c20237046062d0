"""Schemas, the query DSL, fingerprints and the errors of queries (flowlib.sources)."""

from __future__ import annotations

import datetime
import subprocess
import sys
from pathlib import Path

import pytest
from flows.catalog import School, Student

import flowlib
from flowlib.sources import Field, QueryError, Schema, SchemaError, from_canonical
from flowlib.sources.errors import QueryTypeError, UnknownFieldError

HERE = Path(__file__).parent


def example() -> flowlib.sources.Query:
    return (
        Student.select(Student.name, Student.score)
        .where(Student.score > 3)
        .join(School, Student.school == School.id)
        .orderby(Student.score.desc(), Student.name)
        .limit(10)
    )


def test_fields_are_typed_and_named():
    assert Student.score.kind == "float" and Student.score.column == "avg_score" and Student.score.attr == "score"
    assert Student.id.nullable is False and Student.name.nullable is True
    assert Student.born.kind == "date" and Student.active.kind == "bool"
    assert [f.attr for f in Student.fields()] == ["id", "name", "score", "school", "born", "active"]

    class Stamp(Schema):
        at = Field(datetime.datetime)

    assert Stamp.at.kind == "datetime"
    with pytest.raises(SchemaError, match="kind .*list.* not supported"):
        Field(list)
    with pytest.raises(SchemaError, match="column"):

        class Twice(Schema):
            a = Field(int, name="x")
            b = Field(int, name="x")


def test_unknown_field_fails_where_written():
    with pytest.raises(UnknownFieldError) as info:
        Student.nmae  # noqa: B018
    err = info.value
    assert isinstance(err, AttributeError) and isinstance(err, QueryError) and isinstance(err, flowlib.FlowlibError)
    assert "Student" in str(err) and "'nmae'" in str(err) and "name, score" in str(err)
    assert not hasattr(Student, "nmae")


def test_type_mismatch_fails_where_written():
    with pytest.raises(QueryTypeError) as info:
        Student.name > 3  # noqa: B015
    assert isinstance(info.value, TypeError) and isinstance(info.value, QueryError)
    assert "str" in str(info.value) and "int" in str(info.value) and "Student.name" in str(info.value)
    with pytest.raises(QueryTypeError, match=r"\+ takes numbers"):
        Student.name + 1  # noqa: B018
    with pytest.raises(QueryTypeError, match="isnull"):
        Student.name == None  # noqa: B015, E711
    with pytest.raises(QueryTypeError, match="conditions"):
        Student.score & Student.active  # noqa: B018
    with pytest.raises(QueryTypeError, match="truth value"):
        bool(Student.score > 1)
    with pytest.raises(QueryTypeError, match="isin"):
        Student.score.isin(["a"])
    with pytest.raises(QueryTypeError, match="int and int"):
        Student.score % 2  # noqa: B018
    with pytest.raises(QueryTypeError, match="number"):
        Student.name.mean()


def test_queries_are_values():
    a, b = example(), example()
    assert a == b and hash(a) == hash(b) and a.fingerprint == b.fingerprint
    assert a != example().limit(11) and a.fingerprint != example().limit(11).fingerprint
    assert a.where(Student.active) != a
    assert repr(a) == (
        "Student.select(Student.name, Student.score).join(School, Student.school == School.id)"
        ".where(Student.score > 3).orderby(Student.score.desc(), Student.name.asc()).limit(10)"
    )
    # immutable: building on a query leaves it as it was
    before = repr(a)
    a.where(Student.active).limit(1)
    assert repr(a) == before
    with pytest.raises(AttributeError):
        a.rows = 3  # type: ignore[misc]


def test_where_calls_combine_with_and():
    q = Student.select().where(Student.score > 3).where(Student.active)
    assert q == Student.select().where((Student.score > 3) & Student.active)
    assert "AND" in q.sql("duckdb")


def test_select_without_arguments_selects_every_field():
    assert [name for name, _ in Student.select().outputs()] == ["id", "name", "score", "school", "born", "active"]


def test_canonical_form_round_trips():
    q = (
        Student.select(Student.school, Student.score.mean(), (Student.score.max() - 1).alias("top"), Student.id.count())
        .where(Student.name.isin(["a", "b"]) | Student.born.isnull() | ~(Student.born > datetime.date(2000, 1, 2)))
        .groupby(Student.school)
        .having(Student.id.count() >= 2)
        .orderby(Student.school.desc())
    )
    again = from_canonical(q.canonical)
    assert again == q and again.fingerprint == q.fingerprint and repr(again) == repr(q)


def test_fingerprint_is_the_same_in_another_process():
    q = example()
    code = (
        "from flows.catalog import Student, School\n"
        "q = (Student.select(Student.name, Student.score).where(Student.score > 3)"
        ".join(School, Student.school == School.id).orderby(Student.score.desc(), Student.name).limit(10))\n"
        "print(q.fingerprint)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=HERE,
        env={"PYTHONPATH": f"{HERE}:{HERE.parent}", "PYTHONHASHSEED": "123"},
    )
    assert out.stdout.strip() == q.fingerprint


def test_fingerprint_changes_when_a_schema_changes():
    class A(Schema):
        x = Field(int)

    first = A.select().fingerprint

    class A(Schema):  # type: ignore[no-redef]  # same name, another physical column
        x = Field(int, name="y")

    assert A.select().fingerprint != first


def test_query_errors():
    with pytest.raises(QueryError, match="alias"):
        Student.select(Student.score * 2)
    with pytest.raises(QueryError, match="twice"):
        Student.select(Student.name, Student.score.alias("name"))
    with pytest.raises(QueryError, match="having"):
        Student.select().where(Student.score.mean() > 1)
    with pytest.raises(QueryError, match="how"):
        Student.select().join(School, Student.school == School.id, how="outer")
    with pytest.raises(QueryError, match="join it"):
        Student.select(Student.name, School.city).sql("duckdb")
    with pytest.raises(QueryError, match="neither grouped nor aggregated"):
        Student.select(Student.name, Student.score.mean()).groupby(Student.school).sql("duckdb")
    with pytest.raises(QueryError, match="limit"):
        Student.select().limit(-1)
    with pytest.raises(QueryError, match="dialect"):
        Student.select().sql("nosuchdb")
