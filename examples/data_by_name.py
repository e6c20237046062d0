"""Data by name: one flow that runs unchanged against CSV files, SQLite or PostgreSQL.

The flow names the data it needs (schemas of ``examples.catalog`` and a query over them); the
deployment picks the feeds and the sink. Run from the repository root::

    python examples/data_by_name.py --feeds csv
    python examples/data_by_name.py --feeds sqlite
    python examples/data_by_name.py --feeds postgres --url postgresql+psycopg://user@127.0.0.1:5432/school

Each run writes sample data to the chosen place first (``--folder``, default ``./school-data``).
"""

from __future__ import annotations

import argparse
import datetime
import sys
from pathlib import Path

import pandas as pd

if __package__ in (None, ""):  # run as a script: make the catalog package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import flowlib  # noqa: E402 - after the path is set
from examples.catalog import Prediction, School, Student  # noqa: E402
from flowlib.sources import Feed, FileFeed, FileSink, Sink, SQLFeed, SQLSink  # noqa: E402

__all__ = ["StudentsByCity", "Predict", "QUERY", "deployment", "write_sample_data", "main"]

#: What the flow reads: students with their school's city, enrolled from 2020 on, best first.
QUERY = (
    Student.select(Student.id, Student.name, Student.score, School.city)
    .join(School, Student.school == School.id)
    .where(Student.enrolled >= datetime.date(2020, 1, 1))
    .orderby(Student.score.desc(), Student.id)
)


class StudentsByCity(flowlib.TaskParquet):
    """Mean score per city, from the source query."""

    def requires(self):
        return flowlib.Source(QUERY)

    def run(self):
        students = self.input_load()
        means = students.groupby("city", sort=True)["score"].mean()
        self.save(pd.DataFrame({"city": means.index, "mean_score": means.to_numpy()}))


class Predict(flowlib.TaskParquet):
    """A student passes when their score beats their city's mean (a stand-in for a trained model)."""

    def requires(self):
        return {"students": flowlib.Source(QUERY), "cities": StudentsByCity()}

    def run(self):
        inputs = self.input_load()
        students = inputs["students"].merge(inputs["cities"], on="city")
        probability = (students["score"] / 5.0).clip(0, 1)
        verdict = (students["score"] >= students["mean_score"]).map({True: "pass", False: "fail"})
        frame = pd.DataFrame({"id": students["id"], "verdict": verdict.astype(str), "probability": probability})
        self.save(frame.sort_values("id").reset_index(drop=True))


def sample_frames() -> dict[type, pd.DataFrame]:
    """Sample students and schools, with physical column names (``avg_score``)."""
    students = pd.DataFrame(
        {
            "id": [1, 2, 3, 4, 5, 6],
            "name": ["Ann", "Bob", "Cyd", "Dee", "Eve", "Fay"],
            "avg_score": [4.5, 3.0, 3.5, 2.0, 5.0, 4.0],
            "school": [1, 1, 2, 2, 3, 3],
            "enrolled": [datetime.date(2019 + i % 3, 9, 1) for i in range(6)],
        }
    )
    schools = pd.DataFrame({"id": [1, 2, 3], "city": ["Brno", "Cork", "Oslo"]})
    return {Student: students, School: schools}


def deployment(kind: str, folder: Path, url: str | None = None) -> tuple[list[Feed], Sink]:
    """The feeds and the sink of one deployment: ``csv`` files, a ``sqlite`` file or a ``postgres`` database."""
    if kind == "csv":
        feeds: list[Feed] = [FileFeed({Student: folder / "students.csv", School: folder / "schools.csv"})]
        return feeds, FileSink({Prediction: folder / "predictions.csv"})
    url = url or f"sqlite:///{folder / 'school.db'}"
    if kind not in ("sqlite", "postgres"):
        raise SystemExit(f"--feeds {kind!r}: use csv, sqlite or postgres")
    tables = {Student: "students", School: "schools"}
    return [SQLFeed(url, tables=tables)], SQLSink(url, tables={Prediction: "predictions"})


def write_sample_data(kind: str, folder: Path, url: str | None = None) -> None:
    """Put the sample data where the deployment's feeds look for it."""
    folder.mkdir(parents=True, exist_ok=True)
    frames = sample_frames()
    if kind == "csv":
        frames[Student].to_csv(folder / "students.csv", index=False)
        frames[School].to_csv(folder / "schools.csv", index=False)
        return
    sink = SQLSink(url or f"sqlite:///{folder / 'school.db'}", tables={Student: "students", School: "schools"})
    for schema, frame in frames.items():
        sink.write(schema, frame)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", choices=["csv", "sqlite", "postgres"], default="csv")
    parser.add_argument("--url", help="the database URL for --feeds postgres (or another SQLite file)")
    parser.add_argument("--folder", type=Path, default=Path("school-data"))
    args = parser.parse_args(argv)
    if args.feeds == "postgres" and not args.url:
        parser.error("--feeds postgres needs --url postgresql+psycopg://...")
    write_sample_data(args.feeds, args.folder, args.url)
    feeds, sink = deployment(args.feeds, args.folder, args.url)
    flowlib.sources.use(*feeds)
    publish = flowlib.Publish(Predict(), schema=Prediction, sink=sink)
    flowlib.preview(publish)
    result = flowlib.run(publish)
    print(result)
    print(Predict().output_load().to_string(index=False))
    return 0 if result else 1


if __name__ == "__main__":
    sys.exit(main())
