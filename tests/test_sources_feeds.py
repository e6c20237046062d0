"""Feeds: validation against schemas (SchemaError), files and folders, CSV typing, SQL logging, plugins."""

from __future__ import annotations

import logging
import sqlite3
import sys

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from flows.catalog import Event, Student

from flowlib.sources import FeedError, FileFeed, FrameFeed, SchemaError, SQLFeed, conform, plugins


def students() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": [1, 2, 3],
            "name": ["ann", "bob", "cy"],
            "avg_score": [2.5, 4.0, 3.5],
            "school": [10, 10, 20],
            "born": pd.to_datetime(["2001-01-02", "2002-03-04", "2003-05-06"]).date,
            "active": [True, False, True],
        }
    )


def test_file_feed_reads_csv_with_physical_names_and_typed_columns(tmp_path):
    path = tmp_path / "students.csv"
    frame = students()
    frame["name"] = ["007", "010", "12"]  # digits only: DuckDB would sniff integers
    frame.to_csv(path, index=False)
    feed = FileFeed({Student: path})
    query = Student.select(Student.name, Student.score, Student.born).where(Student.active).orderby(Student.id)
    out = conform(feed.read(query), query)
    assert out["name"].tolist() == ["007", "12"] and out["score"].tolist() == [2.5, 3.5]
    assert out["born"].tolist() == list(frame["born"][[0, 2]])


def test_file_feed_folder_of_parquet_files_is_one_table(tmp_path):
    folder = tmp_path / "events"
    (folder / "part=1").mkdir(parents=True)
    pq.write_table(pa.table({"seq": [1, 2], "value": [1.0, 2.0]}), folder / "a.parquet")
    pq.write_table(pa.table({"seq": [3], "value": [3.0]}), folder / "part=1" / "b.parquet")
    feed = FileFeed({Event: folder})
    query = Event.select(Event.seq.count(), Event.value.sum())
    assert feed.read(query).to_pylist() == [{"seq_count": 3, "value_sum": 6.0}]
    before = feed.data_fingerprint(query)
    pq.write_table(pa.table({"seq": [4], "value": [4.0]}), folder / "c.parquet")
    assert feed.data_fingerprint(query) != before


def test_file_feed_reads_only_needed_columns(tmp_path):
    """DuckDB pushes the projection into read_parquet: a damaged unused column is never read."""
    path = tmp_path / "events.parquet"
    pq.write_table(pa.table({"seq": list(range(100)), "value": [float(i) for i in range(100)]}), path)
    query = Event.select(Event.seq).where(Event.seq >= 98)
    feed = FileFeed({Event: path})
    plan = duckdb.connect().sql(f"EXPLAIN {feed.sql(query)}").fetchall()[0][1]
    scan = plan[plan.index("READ_PARQUET") :]
    assert "Projections: seq" in scan and "value" not in scan and "Filters:seq>=98" in scan.replace(" ", "")
    assert feed.read(query).column("seq").to_pylist() == [98, 99]

    csv = tmp_path / "events.csv"
    pd.DataFrame({"seq": [1, 2], "value": [0.5, 1.5]}).to_csv(csv, index=False)
    csv_plan = duckdb.connect().sql(f"EXPLAIN {FileFeed({Event: csv}).sql(query)}").fetchall()[0][1]
    assert "value" not in csv_plan[csv_plan.index("READ_CSV") :]


def make_feed(kind: str, frame: pd.DataFrame, folder) -> tuple[object, str]:
    """A feed of ``kind`` over ``frame`` (for SQLite: a table whose column types follow the frame's)."""
    if kind == "csv":
        frame.to_csv(folder / "s.csv", index=False)
        return FileFeed({Student: folder / "s.csv"}), "s.csv"
    if kind == "parquet":
        frame.to_parquet(folder / "s.parquet")
        return FileFeed({Student: folder / "s.parquet"}), "s.parquet"
    if kind == "frame":
        return FrameFeed({Student: frame}), "FrameFeed frame for Student"
    types = {"int64": "BIGINT", "float64": "DOUBLE", "bool": "BOOLEAN"}
    columns = ", ".join(f"{c} {types.get(str(t), 'TEXT')}" for c, t in frame.dtypes.items())
    with sqlite3.connect(folder / "s.db") as conn:
        conn.execute("DROP TABLE IF EXISTS students")
        conn.execute(f"CREATE TABLE students ({columns})")
    return SQLFeed(f"sqlite:///{folder / 's.db'}", tables={Student: "students"}), "'students'"


@pytest.mark.parametrize("kind", ["csv", "parquet", "frame", "sqlite"])
def test_validation_names_schema_field_column_type_and_place(tmp_path, kind):
    wrong = students().assign(avg_score=["high", "low", "mid"])  # a str column where a float is declared
    feed, place = make_feed(kind, wrong, tmp_path)
    with pytest.raises(SchemaError) as info:
        feed.read(Student.select(Student.name, Student.score))
    message = str(info.value)
    assert "Student.score" in message and "'avg_score'" in message and place in message
    assert "VARCHAR" in message or "TEXT" in message

    (tmp_path / "second").mkdir()
    feed, place = make_feed(kind, students().drop(columns=["name"]), tmp_path / "second")
    with pytest.raises(SchemaError) as info:
        feed.read(Student.select(Student.id).where(Student.name == "x"))
    assert "Student.name" in str(info.value) and "does not have" in str(info.value) and place in str(info.value)


def test_sql_feed_logs_the_sql_it_sends(tmp_path, caplog):
    with sqlite3.connect(tmp_path / "e.db") as conn:
        conn.execute("CREATE TABLE events (seq BIGINT NOT NULL, value DOUBLE)")
        conn.execute("INSERT INTO events VALUES (1, 2.0)")
    feed = SQLFeed(f"sqlite:///{tmp_path / 'e.db'}", tables={Event: "events"})
    with caplog.at_level(logging.INFO, logger="flowlib.sources.feeds.sql"):
        assert feed.read(Event.select().where(Event.seq > 0)).to_pylist() == [{"seq": 1, "value": 2.0}]
    assert any('FROM "events" AS "t0" WHERE "t0"."seq" > 0' in r.getMessage() for r in caplog.records)
    with pytest.raises(FeedError, match="does not exist"):
        SQLFeed(f"sqlite:///{tmp_path / 'e.db'}", tables={Event: "nothing"}).read(Event.select())


def test_feed_constructor_errors(tmp_path):
    with pytest.raises(FeedError, match="dict"):
        FileFeed([])  # type: ignore[arg-type]
    with pytest.raises(FeedError, match="Schema classes"):
        FileFeed({"Student": "x.csv"})  # type: ignore[dict-item]
    with pytest.raises(FeedError, match=".csv or .parquet"):
        FileFeed({Student: tmp_path / "x.xlsx"})
    with pytest.raises(FeedError, match="does not exist"):
        FileFeed({Student: tmp_path / "missing.csv"}).data_fingerprint(Student.select())
    with pytest.raises(FeedError, match="priority"):
        FrameFeed({Student: students()}, priority="high")  # type: ignore[arg-type]


def test_plugins_are_listed_from_entry_points(tmp_path, monkeypatch):
    dist = tmp_path / "warehouse_feed-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: warehouse-feed\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[flowlib.feeds]\nwarehouse = warehouse_feed:WarehouseFeed\n[flowlib.sinks]\nlake = warehouse_feed:LakeSink\n"
    )
    (tmp_path / "warehouse_feed.py").write_text(
        "from flowlib.sources import FrameFeed, FileSink\n"
        "class WarehouseFeed(FrameFeed):\n    kind = 'warehouse'\n"
        "class LakeSink(FileSink):\n    kind = 'lake'\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    feeds, sinks = plugins("flowlib.feeds"), plugins("flowlib.sinks")
    assert feeds["warehouse"].kind == "warehouse" and sinks["lake"].kind == "lake"
    feed = feeds["warehouse"]({Event: pd.DataFrame({"seq": [1], "value": [0.5]})})
    assert feed.read(Event.select()).to_pylist() == [{"seq": 1, "value": 0.5}]
    with pytest.raises(FeedError, match="groups"):
        plugins("flowlib.other")
    sys.modules.pop("warehouse_feed", None)
