"""Sinks (FileSink, SQLSink), Publish, and DFFML records."""

from __future__ import annotations

import datetime

import pandas as pd
import pyarrow.csv
import pyarrow.parquet
import pytest
import sqlalchemy as sa
from flows.catalog import Event, Prediction, Student

import flowlib
from flowlib.sources import FeedError, FileSink, FrameFeed, Record, SchemaError, SQLSink, records, to_frame, use
from flowlib.sources.feeds.sql import engine_for


def predictions(n: int = 3, start: int = 0) -> pd.DataFrame:
    ids = list(range(start, start + n))
    return pd.DataFrame({"id": ids, "label": [f"l{i}" for i in ids], "probability": [i / 10 for i in ids]})


@pytest.fixture(params=["parquet", "csv", "sqlite", "postgres"])
def sink_and_reader(request, tmp_path):
    """``(sink, read() -> DataFrame of the written rows)`` for each sink kind."""
    if request.param in ("parquet", "csv"):
        path = tmp_path / f"predictions.{request.param}"
        reader = pd.read_parquet if request.param == "parquet" else pd.read_csv
        yield FileSink({Prediction: path}), lambda: reader(path)
        return
    url = f"sqlite:///{tmp_path / 'out.db'}" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    sink = SQLSink(url, tables={Prediction: "predictions"})
    engine = sa.create_engine(url)
    yield sink, lambda: pd.read_sql("SELECT * FROM predictions ORDER BY id", engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS predictions")
    engine.dispose()


def test_replace_and_append(sink_and_reader):
    sink, read = sink_and_reader
    assert sink.write(Prediction, predictions(3)) == 3
    assert read()["id"].tolist() == [0, 1, 2]
    sink.write(Prediction, predictions(2, start=3), mode="append")
    got = read()
    assert got["id"].tolist() == [0, 1, 2, 3, 4] and got["label"].tolist()[-1] == "l4"
    assert got["probability"].tolist() == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])
    sink.write(Prediction, predictions(1, start=9), mode="replace")
    assert read()["id"].tolist() == [9]


def test_a_failed_write_leaves_the_previous_data(sink_and_reader, monkeypatch):
    """A write that fails half-way (disk full, a database error after DROP and CREATE) changes nothing."""
    sink, read = sink_and_reader
    sink.write(Prediction, predictions(3))

    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device")

    if isinstance(sink, FileSink):

        def half_written(table, where, *args, **kwargs):
            with open(where, "wb") as handle:
                handle.write(b"PAR1 half a file")
            fail()

        monkeypatch.setattr(pyarrow.parquet, "write_table", half_written)
        monkeypatch.setattr(pyarrow.csv, "write_csv", half_written)
    else:
        engine = engine_for(sink.url)

        def on_insert(conn, cursor, statement, *args):
            if statement.lstrip().upper().startswith("INSERT"):
                fail()

        sa.event.listen(engine, "before_cursor_execute", on_insert)
    try:
        for mode in ("replace", "append"):
            with pytest.raises(Exception, match="No space left"):
                sink.write(Prediction, predictions(2, start=5), mode=mode)
            assert read()["id"].tolist() == [0, 1, 2]
    finally:
        if not isinstance(sink, FileSink):
            sa.event.remove(engine, "before_cursor_execute", on_insert)
    if isinstance(sink, FileSink):
        folder = next(iter(sink.files.values())).parent
        assert sorted(p.name for p in folder.iterdir()) == [next(iter(sink.files.values())).name]


def test_frames_are_checked_against_the_schema(tmp_path):
    sink = FileSink({Prediction: tmp_path / "p.parquet"})
    with pytest.raises(SchemaError, match="no column for Prediction.label"):
        sink.write(Prediction, predictions().drop(columns=["label"]))
    with pytest.raises(SchemaError, match="not float"):
        sink.write(Prediction, predictions().assign(probability=["x", "y", "z"]))
    with pytest.raises(SchemaError, match="nullable=False"):
        sink.write(Prediction, predictions().assign(id=pd.array([1, None, 3], dtype="Int64")))
    with pytest.raises(SchemaError, match="does not declare"):
        sink.write(Prediction, predictions().assign(extra=1))
    with pytest.raises(FeedError, match="no place for Student"):
        sink.write(Student, predictions())
    with pytest.raises(FeedError, match="mode"):
        sink.write(Prediction, predictions(), mode="merge")
    assert not (tmp_path / "p.parquet").exists()


def test_publish_writes_a_task_output_and_is_complete_once_written(tmp_path):
    use(FrameFeed({Event: pd.DataFrame({"seq": [1, 2, 3], "value": [0.1, 0.6, 0.9]})}))
    try:

        class Predict(flowlib.TaskParquet):
            def requires(self):
                return flowlib.Source(Event.select().orderby(Event.seq))

            def run(self):
                data = self.input_load()
                self.save(
                    pd.DataFrame(
                        {
                            "id": data["seq"],
                            "label": (data["value"] > 0.5).map({True: "yes", False: "no"}).astype(str),
                            "probability": data["value"],
                        }
                    )
                )

        sink = FileSink({Prediction: tmp_path / "predictions.parquet"})
        publish = flowlib.Publish(Predict(), schema=Prediction, sink=sink, mode="replace")
        assert flowlib.run(publish)
        written = pd.read_parquet(tmp_path / "predictions.parquet")
        assert written["label"].tolist() == ["no", "yes", "yes"]
        assert publish.output_load()["rows"] == 3
        assert flowlib.build_plan(publish).roots[0].status is flowlib.Status.COMPLETE
        result = flowlib.run(publish)
        assert result.ran == []
    finally:
        use()


def test_records_round_trip_without_loss():
    frame = pd.DataFrame(
        {
            "id": [1, 2, 3],
            "x": [0.5, None, 2.0],
            "name": ["a", "b", "ü"],
            "day": [datetime.date(2020, 1, 1), datetime.date(2020, 1, 2), None],
            "flag": [True, False, True],
        }
    )
    rows = records(frame, key="id")
    assert rows[0] == Record(1, features={"x": 0.5, "name": "a", "day": datetime.date(2020, 1, 1), "flag": True})
    assert rows[1].features(["x", "name"]) == {"x": None, "name": "b"}
    assert type(rows[0].key) is int and type(rows[0].features()["flag"]) is bool
    back = to_frame(rows, key="id")
    pd.testing.assert_frame_equal(back, frame, check_dtype=False)
    assert back["id"].tolist() == [1, 2, 3] and back["day"].tolist()[:2] == frame["day"].tolist()[:2]
    with_pred = records(frame.assign(p=[0.1, 0.2, 0.3]), key="id", prediction="p")
    assert with_pred[2].prediction == 0.3 and "p" not in with_pred[2].features()
    assert to_frame(with_pred, key="id")["prediction"].tolist() == [0.1, 0.2, 0.3]
    with pytest.raises(SchemaError, match="no feature"):
        rows[0].features(["nope"])
    with pytest.raises(SchemaError, match="key='nope'"):
        records(frame, key="nope")
