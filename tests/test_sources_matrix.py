"""One test matrix: the same flow and the same queries give the same results through FileFeed (CSV and
Parquet), FrameFeed, SQLite and a real PostgreSQL server."""

from __future__ import annotations

import datetime

import pandas as pd
import pytest
from flows.catalog import School, Student

import flowlib
from flowlib.sources import FileFeed, FrameFeed, SQLFeed, SQLSink, conform, use

D = datetime.date


def student_frame() -> pd.DataFrame:
    """Physical column names; NULLs in every nullable column, strings that sort differently by locale."""
    return pd.DataFrame(
        {
            "id": [1, 2, 3, 4, 5, 6, 7, 8],
            "name": pd.array(["ann", "Bob", "bob", "Émile", "zoe", None, "Al", "al"], dtype="str"),
            "avg_score": [3.5, 4.0, None, 2.5, 5.0, 1.0, 3.0, 4.5],
            "school": pd.array([10, 10, 20, 20, 30, None, 10, 40], dtype="Int64"),
            "born": [
                D(2001, 1, 2),
                D(2002, 3, 4),
                D(2001, 7, 8),
                None,
                D(2003, 1, 1),
                D(2000, 12, 31),
                D(2002, 2, 2),
                D(2001, 1, 2),
            ],
            "active": pd.array([True, False, True, None, True, False, True, True], dtype="boolean"),
        }
    )


def school_frame() -> pd.DataFrame:
    return pd.DataFrame({"id": [10, 20, 30], "city": ["Zürich", "athens", "Berlin"]})


QUERIES = {
    "all": Student.select().orderby(Student.id),
    "filter_sort_nulls_last": Student.select(Student.id, Student.score)
    .where(Student.id > 1)
    .orderby(Student.score.desc(), Student.id),
    "code_point_order": Student.select(Student.name).where(Student.name.notnull()).orderby(Student.name),
    "string_compare": Student.select(Student.id).where(Student.name >= "b").orderby(Student.id),
    "isin_isnull": Student.select(Student.id)
    .where(Student.name.isin(["ann", "al"]) | Student.score.isnull() | ~Student.active)
    .orderby(Student.id),
    "true_division_and_modulo": Student.select(
        Student.id,
        (Student.id / 4).alias("quarter"),
        (Student.id % 3).alias("rest"),
        (Student.score * 2 - 1).alias("x"),
    ).orderby(Student.id),
    "dates_and_bools": Student.select(Student.id, Student.born)
    .where((Student.born >= D(2001, 1, 2)) & Student.active)
    .orderby(Student.born, Student.id),
    "inner_join": Student.select(Student.name, School.city)
    .join(School, Student.school == School.id)
    .orderby(School.city, Student.id),
    "left_join": Student.select(Student.id, School.city)
    .join(School, Student.school == School.id, how="left")
    .orderby(Student.id),
    "groupby_having": Student.select(
        Student.school,
        Student.score.mean(),
        Student.score.sum(),
        Student.id.count(),
        Student.name.min(),
        Student.name.max(),
    )
    .where(Student.school.notnull())
    .groupby(Student.school)
    .having(Student.id.count() >= 1)
    .orderby(Student.school.desc())
    .limit(3),
    "group_by_join": Student.select(School.city, Student.score.max().alias("best"))
    .join(School, Student.school == School.id)
    .groupby(School.city)
    .orderby(School.city),
}

#: A few results written out by hand, so that the engines cannot all agree on something wrong.
EXPECTED = {
    "code_point_order": {"name": ["Al", "Bob", "al", "ann", "bob", "zoe", "Émile"]},
    "string_compare": {"id": [3, 4, 5]},
    "filter_sort_nulls_last": {"id": [5, 8, 2, 7, 4, 6, 3]},
    "isin_isnull": {"id": [1, 2, 3, 6, 8]},
    "inner_join": {"city": ["Berlin", "Zürich", "Zürich", "Zürich", "athens", "athens"]},
}


@pytest.fixture(params=["files", "frames", "sqlite", "postgres"])
def feed(request, tmp_path):
    """The same two tables behind each kind of feed."""
    students, schools = student_frame(), school_frame()
    if request.param == "files":
        students.to_csv(tmp_path / "students.csv", index=False)
        schools.to_parquet(tmp_path / "schools.parquet")
        return FileFeed({Student: tmp_path / "students.csv", School: tmp_path / "schools.parquet"})
    if request.param == "frames":
        return FrameFeed({Student: students, School: schools})
    url = (
        f"sqlite:///{tmp_path / 'school.db'}" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    )
    tables = {Student: "matrix_students", School: "matrix_schools"}
    sink = SQLSink(url, tables=tables)
    sink.write(Student, students)
    sink.write(School, schools)
    return SQLFeed(url, tables=tables)


@pytest.fixture(scope="module")
def reference():
    """Every query answered by FrameFeed (compared with each other feed)."""
    frames = FrameFeed({Student: student_frame(), School: school_frame()})
    return {name: conform(frames.read(q), q) for name, q in QUERIES.items()}


@pytest.mark.parametrize("name", list(QUERIES))
def test_same_query_same_result(feed, reference, name):
    query = QUERIES[name]
    got = conform(feed.read(query), query)
    pd.testing.assert_frame_equal(got, reference[name], check_exact=False, rtol=1e-12)
    for column, values in EXPECTED.get(name, {}).items():
        assert got[column].tolist() == values


def test_result_dtypes_follow_the_schema(feed):
    got = conform(feed.read(QUERIES["all"]), QUERIES["all"])
    dtypes = {c: str(t) for c, t in got.dtypes.items()}
    assert dtypes == {
        "id": "int64",
        "name": "str",
        "score": "float64",
        "school": "Int64",
        "born": "object",
        "active": "boolean",
    }
    assert got["born"].tolist()[:2] == [D(2001, 1, 2), D(2002, 3, 4)] and got["born"].isna().tolist()[3]
    left = conform(feed.read(QUERIES["left_join"]), QUERIES["left_join"])
    assert left["city"].isna().tolist() == [False, False, False, False, False, True, False, True]


class CityScores(flowlib.TaskParquet):
    """A flow over Source tasks that never says where its data lives."""

    def requires(self):
        return {"students": flowlib.Source(QUERIES["group_by_join"]), "all": flowlib.Source(QUERIES["all"])}

    def run(self):
        inputs = self.input_load()
        best = inputs["students"].set_index("city")["best"]
        self.save(pd.DataFrame({"city": best.index, "best": best.to_numpy(), "students": len(inputs["all"])}))


def test_same_flow_runs_unchanged_on_every_feed(feed):
    with use(feed):
        assert flowlib.run(CityScores())
        out = CityScores().output_load()
    assert out.to_dict("list") == {
        "city": ["Berlin", "Zürich", "athens"],
        "best": [5.0, 4.0, 2.5],
        "students": [8, 8, 8],
    }
