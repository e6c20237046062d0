"""flowlib.Source: results, incremental loading, feed selection and source-data change detection."""

from __future__ import annotations

import os
import sqlite3

import pandas as pd
import pytest
from flows.catalog import Event, School, Student

import flowlib
from flowlib.sources import FeedError, FileFeed, FrameFeed, QueryError, SQLFeed, use


@pytest.fixture(autouse=True)
def no_feeds():
    with use():
        yield


def events(n: int = 6) -> pd.DataFrame:
    return pd.DataFrame({"seq": list(range(1, n + 1)), "value": [float(i) * 1.5 for i in range(1, n + 1)]})


class Total(flowlib.TaskParquet):
    """Downstream of a source: counts how often it ran."""

    runs = []

    def requires(self):
        return flowlib.Source(Event.select().orderby(Event.seq))

    def run(self):
        Total.runs.append(1)
        data = self.input_load()
        self.save(pd.DataFrame({"total": [data["value"].sum()]}))


def statuses(task):
    plan = flowlib.build_plan(task)
    return {node.family: (node.status.value, node.reason) for node in plan.nodes}


def test_source_result_has_the_selected_columns_and_schema_dtypes():
    frame = pd.DataFrame({"id": [1, 2, 3], "name": ["a", "b", None], "avg_score": [1.0, 4.5, 3.5], "school": [1, 1, 2]})
    use(FrameFeed({Student: frame}))
    task = flowlib.Source(Student.select(Student.id, Student.name, Student.score.alias("s")).where(Student.score > 2))
    assert flowlib.run(task)
    out = task.output_load()
    assert list(out.columns) == ["id", "name", "s"]
    assert str(out["id"].dtype) == "int64" and out["s"].dtype == "float64"
    assert out["id"].tolist() == [2, 3] and out["name"].isna().tolist() == [False, True]
    assert task.metadata().data.startswith("FrameFeed:")
    assert (
        repr(task)
        == "Source(Student.select(Student.id, Student.name, Student.score.alias('s')).where(Student.score > 2))"
    )


def test_labels_split_features_and_labels():
    use(FrameFeed({Event: events()}))
    task = flowlib.Source(Event.select().orderby(Event.seq), labels=[Event.value])
    assert list(task.persist) == ["features", "labels"]
    flowlib.run(task)
    features, labels = task.output_load()
    assert list(features.columns) == ["seq"] and list(labels.columns) == ["value"] and len(labels) == 6


@pytest.mark.parametrize(
    ("once", "expected"), [(None, [3, 4]), ("exactly", [3, 4]), ("atleast", [3, 4, 5]), ("atmost", [4, 5])]
)
def test_incremental_loading_once_semantics(once, expected):
    use(FrameFeed({Event: events()}))
    task = flowlib.Source(Event.select().orderby(Event.seq), ordinal=Event.seq, once=once, lower=3, upper=5)
    flowlib.run(task)
    assert task.output_load()["seq"].tolist() == expected


def test_open_bounds_and_task_identity():
    use(FrameFeed({Event: events()}))
    query = Event.select().orderby(Event.seq)
    upper_only = flowlib.Source(query, ordinal=Event.seq, upper=3)
    lower_only = flowlib.Source(query, ordinal=Event.seq, lower=5)
    flowlib.run([upper_only, lower_only])
    assert upper_only.output_load()["seq"].tolist() == [1, 2]
    assert lower_only.output_load()["seq"].tolist() == [5, 6]
    assert upper_only.task_id != lower_only.task_id
    assert flowlib.Source(query, ordinal=Event.seq, upper=3).task_id == upper_only.task_id
    assert flowlib.Source(Event.select().orderby(Event.seq)).task_id == flowlib.Source(query).task_id


def test_argument_errors_name_the_argument():
    with pytest.raises(QueryError, match="once"):
        flowlib.Source(Event.select(), once="exactly")
    with pytest.raises(QueryError, match="lower"):
        flowlib.Source(Event.select(), lower=3)
    with pytest.raises(QueryError, match="upper"):
        flowlib.Source(Event.select(), upper=3)
    with pytest.raises(QueryError, match="once='sometimes'"):
        flowlib.Source(Event.select(), ordinal=Event.seq, once="sometimes")
    with pytest.raises(QueryError, match="labels"):
        flowlib.Source(Event.select(), labels=["nope"])
    with pytest.raises(QueryError, match="ordinal"):
        flowlib.Source(Event.select(), ordinal=Student.id)
    with pytest.raises(QueryError, match="lower"):
        flowlib.Source(Event.select(), ordinal=Event.seq, lower="x")


def test_no_feed_is_a_feed_error_before_reading():
    task = flowlib.Source(Student.select().join(School, Student.school == School.id))
    with pytest.raises(FeedError, match="no feed is configured"):
        task.data_fingerprint()
    with pytest.raises(flowlib.TaskFailedError, match="FeedError: no feed is configured"):
        flowlib.run(task)  # the run stops before any data is read
    assert not task.output()["data"].exists()
    use(FrameFeed({Student: pd.DataFrame({"id": [1]})}, priority=5))
    with pytest.raises(FeedError) as info:
        task.data_fingerprint()
    assert "lacks School" in str(info.value) and "FrameFeed(Student; priority=5)" in str(info.value)


def test_feed_selection_by_priority_then_order():
    one = FrameFeed({Event: events(1)})
    two = FrameFeed({Event: events(2)})
    high = FrameFeed({Event: events(3)}, priority=1)
    query = Event.select()
    assert flowlib.sources.select_feed(query, [one, two]) is one
    assert flowlib.sources.select_feed(query, [two, one]) is two
    assert flowlib.sources.select_feed(query, [one, high, two]) is high
    with use(two, one):
        assert flowlib.sources.select_feed(query) is two
    assert flowlib.sources.configured_feeds() == []


def test_feeds_from_luigi_config(tmp_path, monkeypatch):
    import luigi.configuration

    module = tmp_path / "deployment_feeds.py"
    module.write_text(
        "import pandas as pd\nfrom flowlib.sources import FrameFeed\nfrom flows.catalog import Event\n"
        "FEEDS = [FrameFeed({Event: pd.DataFrame({'seq': [7], 'value': [1.0]})})]\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    config = luigi.configuration.get_config()
    config.set("flowlib", "feeds", "deployment_feeds:FEEDS") if config.has_section("flowlib") else (
        config.add_section("flowlib"),
        config.set("flowlib", "feeds", "deployment_feeds:FEEDS"),
    )
    try:
        task = flowlib.Source(Event.select())
        flowlib.run(task)
        assert task.output_load()["seq"].tolist() == [7]
    finally:
        config.remove_option("flowlib", "feeds")


def test_file_change_makes_source_stale_and_cutoff_spares_downstream(tmp_path):
    path = tmp_path / "events.csv"
    events().to_csv(path, index=False)
    use(FileFeed({Event: path}))
    Total.runs.clear()
    assert flowlib.run(Total()) and Total.runs == [1]
    assert statuses(Total()) == {"Source": ("COMPLETE", ""), "Total": ("COMPLETE", "")}

    # rewritten with the same rows: the source is re-read, the result is identical, Total is spared
    events().to_csv(path, index=False)
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000_000))
    assert statuses(Total())["Source"] == ("STALE", "source data changed")
    result = flowlib.run(Total())
    assert [type(t).__name__ for t in result.ran] == ["Source"] and Total.runs == [1]
    assert statuses(Total()) == {"Source": ("COMPLETE", ""), "Total": ("COMPLETE", "")}

    # new rows: both rerun
    events(7).to_csv(path, index=False)
    assert statuses(Total())["Source"] == ("STALE", "source data changed")
    flowlib.run(Total())
    assert Total.runs == [1, 1] and Total().output_load()["total"].tolist() == [sum(i * 1.5 for i in range(1, 8))]


def test_sql_row_insert_makes_source_stale(tmp_path):
    db = tmp_path / "events.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE events (seq BIGINT NOT NULL, value DOUBLE)")
        conn.executemany("INSERT INTO events VALUES (?, ?)", events().itertuples(index=False))
    use(SQLFeed(f"sqlite:///{db}", tables={Event: "events"}))
    Total.runs.clear()
    flowlib.run(Total())
    assert statuses(Total())["Source"] == ("COMPLETE", "")
    with sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO events VALUES (7, 10.5)")
    assert statuses(Total())["Source"] == ("STALE", "source data changed")
    flowlib.run(Total())
    assert Total.runs == [1, 1] and Total().output_load()["total"].tolist() == [events().value.sum() + 10.5]
    assert statuses(Total()) == {"Source": ("COMPLETE", ""), "Total": ("COMPLETE", "")}


def test_sql_fingerprint_uses_the_ordinal_and_custom_expressions(tmp_path):
    db = tmp_path / "events.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE events (seq BIGINT NOT NULL, value DOUBLE)")
        conn.executemany("INSERT INTO events VALUES (?, ?)", events().itertuples(index=False))
    feed = SQLFeed(f"sqlite:///{db}", tables={Event: "events"})
    custom = SQLFeed(f"sqlite:///{db}", tables={Event: "events"}, fingerprints={Event: "SUM(value)"})
    query = Event.select()
    before = (feed.data_fingerprint(query), feed.data_fingerprint(query, Event.seq), custom.data_fingerprint(query))
    with sqlite3.connect(db) as conn:  # same count, higher ordinal, other values
        conn.execute("UPDATE events SET seq = 60, value = 99 WHERE seq = 6")
    after = (feed.data_fingerprint(query), feed.data_fingerprint(query, Event.seq), custom.data_fingerprint(query))
    assert before[0] == after[0]  # COUNT(*) alone does not see an update
    assert before[1] != after[1] and before[2] != after[2]


def test_sources_run_in_worker_processes(tmp_path):
    for name in ("a", "b"):
        events().to_parquet(tmp_path / f"{name}.parquet")
    feeds = [FileFeed({Event: tmp_path / "a.parquet"}), FileFeed({Event: tmp_path / "b.parquet"}, priority=1)]
    use(*feeds)
    tasks = [flowlib.Source(Event.select().orderby(Event.seq), ordinal=Event.seq, upper=n) for n in (3, 5)]
    assert flowlib.run(tasks, workers=2)
    assert [len(t.output_load()) for t in tasks] == [2, 4]


def test_source_parameters_round_trip_through_strings():
    """luigi's command line and workers rebuild a Source from its string parameters: same task, same query."""
    import datetime

    tasks = [
        flowlib.Source(
            Event.select().orderby(Event.seq), labels=[Event.value], ordinal=Event.seq, once="atleast", lower=2
        ),
        flowlib.Source(Student.select(Student.id, Student.born), ordinal=Student.born, upper=datetime.date(2002, 1, 1)),
    ]
    for task in tasks:
        params = task.to_str_params()
        assert params["query"] == task.query.canonical
        again = flowlib.Source.from_str_params(params)
        assert again.task_id == task.task_id and again.query == task.query and again.upper == task.upper
        assert again.ordinal == task.ordinal and list(again.persist) == list(task.persist)
