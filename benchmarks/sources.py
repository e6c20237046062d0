"""Data by name, measured: ``python -m benchmarks.sources [--smoke]``.

1. A filter + group-by over one Parquet file of 10,000,000 rows: ``flowlib.run(flowlib.Source(query))``
   (plan, feed selection, validation, DuckDB, conversion, Parquet output, record) against DuckDB
   running the same SQL on the same file directly (target: within 1.3x) and against pandas
   (``read_parquet``, filter, ``groupby``; target: flowlib at least 3x faster).
2. Planning a complete flow of 1,000 Source tasks over one folder of files (``flowlib.build_plan``,
   tasks constructed anew) against constructing as many tasks and ``stat``-ing their input file,
   output and record (target: under 1.5x).

Repeats are interleaved (flowlib, baseline, flowlib, ...) and medians reported, with how busy
the other processes kept the CPUs during the run. ``--smoke``: small sizes, seconds.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import luigi
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from sqlglot import exp

import flowlib
from flowlib.record import record_path
from flowlib.sources import Field, FileFeed, Schema, use

__all__ = ["main", "Reading", "query_case", "planning_case"]


class Reading(Schema):
    """The rows of the query benchmark."""

    id = Field(int, nullable=False)
    category = Field(int, nullable=False)
    score = Field(float)
    flag = Field(bool)


QUERY = (
    Reading.select(Reading.category, Reading.score.mean(), Reading.id.count())
    .where((Reading.score > 0.25) & Reading.flag)
    .groupby(Reading.category)
    .orderby(Reading.category)
)


def _busy_seconds() -> float | None:
    """CPU seconds the machine spent busy since boot (Linux), to tell how contended the CPUs were."""
    try:
        with open("/proc/stat") as handle:
            fields = [int(x) for x in handle.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


class Contention:
    """CPUs kept busy by other processes while measuring (machine busy time minus ours, per wall second)."""

    def __enter__(self) -> Contention:
        self.busy, self.ours, self.wall = _busy_seconds(), time.process_time(), time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        busy = _busy_seconds()
        wall = time.perf_counter() - self.wall
        if busy is None or self.busy is None or wall <= 0:
            self.others = float("nan")
        else:
            self.others = max(0.0, (busy - self.busy) - (time.process_time() - self.ours)) / wall


def interleaved(sides: dict[str, Callable[[], Any]], repeats: int) -> dict[str, float]:
    """Median seconds of each side, run in turn ``repeats`` times (after one warm-up each)."""
    for run in sides.values():
        run()
    times: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(repeats):
        for name, run in sides.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def write_readings(path: Path, rows: int) -> None:
    rng = np.random.default_rng(7)
    chunk = 1_000_000
    writer = None
    for start in range(0, rows, chunk):
        n = min(chunk, rows - start)
        table = pa.table(
            {
                "id": np.arange(start, start + n, dtype=np.int64),
                "category": rng.integers(0, 100, n, dtype=np.int64),
                "score": rng.random(n),
                "flag": rng.random(n) < 0.5,
            }
        )
        writer = writer or pq.ParquetWriter(path, table.schema, compression="zstd")
        writer.write_table(table)
    assert writer is not None
    writer.close()


def query_case(folder: Path, rows: int, repeats: int) -> list[tuple[str, float, float, str]]:
    """Seconds of flowlib.Source, DuckDB and pandas on the same filter + group-by."""
    path = folder / "readings.parquet"
    write_readings(path, rows)
    parquet = exp.Anonymous(this="read_parquet", expressions=[exp.Literal.string(str(path))])
    direct_sql = QUERY.sql("duckdb", tables={Reading: parquet})  # the very SQL the feed runs
    feed = FileFeed({Reading: path})
    roots = iter(range(10**6))

    def through_flowlib() -> pd.DataFrame:
        flowlib.set_dir(folder / f"root-{next(roots)}")  # a cold run every time: nothing is complete
        task = flowlib.Source(QUERY)
        with use(feed):
            assert flowlib.run(task)
        return task.output_load()

    def duckdb_direct() -> pd.DataFrame:
        con = duckdb.connect()
        try:
            return con.sql(direct_sql).df()
        finally:
            con.close()

    def with_pandas() -> pd.DataFrame:
        frame = pd.read_parquet(path)
        kept = frame[(frame["score"] > 0.25) & frame["flag"]]
        grouped = kept.groupby("category").agg(score_mean=("score", "mean"), id_count=("id", "count"))
        return grouped.reset_index().sort_values("category")

    ours, theirs, slow = through_flowlib(), duckdb_direct(), with_pandas()
    assert ours["id_count"].tolist() == theirs["id_count"].tolist() == slow["id_count"].tolist()
    with Contention() as busy:
        medians = interleaved({"flowlib": through_flowlib, "duckdb": duckdb_direct, "pandas": with_pandas}, repeats)
    flowlib.set_dir(None)
    note = f"others kept {busy.others:.2f} of {os.cpu_count()} CPUs busy"
    return [
        ("Source vs DuckDB (<= 1.3x)", medians["flowlib"], medians["duckdb"], note),
        ("pandas vs Source (>= 3x)", medians["pandas"], medians["flowlib"], note),
    ]


def planning_case(folder: Path, tasks: int, repeats: int) -> list[tuple[str, float, float, str]]:
    """Seconds to plan ``tasks`` complete Source tasks vs constructing them and stat-ing their files."""
    data = folder / "parts"
    data.mkdir()
    schemas = []
    for i in range(tasks):
        schema = type(f"Part{i}", (Schema,), {"__module__": __name__, "x": Field(int), "y": Field(float)})
        schemas.append(schema)
        pq.write_table(pa.table({"x": [i, i + 1], "y": [0.5, 1.5]}), data / f"part{i}.parquet")
    feed = FileFeed({schema: data / f"part{i}.parquet" for i, schema in enumerate(schemas)})
    queries = [schema.select() for schema in schemas]
    flowlib.set_dir(folder / "plan-root")

    def construct() -> list[flowlib.Source]:
        luigi.task_register.Register.clear_instance_cache()  # new task objects, as a new process would make
        return [flowlib.Source(q) for q in queries]

    with use(feed):
        assert flowlib.run(construct())

        def plan() -> None:
            result = flowlib.build_plan(construct())
            assert all(node.complete for node in result.nodes)

        def construct_and_stat() -> None:
            for task, path in zip(construct(), feed.files.values(), strict=True):
                os.stat(path)
                os.stat(task.output()["data"].path)
                os.stat(record_path(task))  # the family's record log

        with Contention() as busy:
            medians = interleaved({"plan": plan, "stat": construct_and_stat}, repeats)
    flowlib.set_dir(None)
    note = f"others kept {busy.others:.2f} of {os.cpu_count()} CPUs busy"
    return [(f"plan {tasks} complete Sources vs construct + stat (< 1.5x)", medians["plan"], medians["stat"], note)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sources", description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="small sizes: a few seconds")
    parser.add_argument("--rows", type=int, help="rows of the Parquet file (default 10,000,000; smoke 200,000)")
    parser.add_argument("--tasks", type=int, help="Source tasks to plan (default 1,000; smoke 50)")
    parser.add_argument("--repeats", type=int, help="measurements per side (default 5; smoke 2)")
    args = parser.parse_args(argv)
    rows = args.rows or (200_000 if args.smoke else 10_000_000)
    tasks = args.tasks or (50 if args.smoke else 1_000)
    repeats = args.repeats or (2 if args.smoke else 5)
    folder = Path(tempfile.mkdtemp(prefix="flowlib-bench-sources-"))
    try:
        results = query_case(folder, rows, repeats) + planning_case(folder, tasks, repeats)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(f"data by name ({rows:,} rows, {tasks:,} tasks, median of {repeats}; ratio = first / second):")
    print("| figure | first (s) | second (s) | ratio | contention |\n|---|---|---|---|---|")
    for name, first, second, note in results:
        print(f"| {name} | {first:.4f} | {second:.4f} | {first / second:.2f}x | {note} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
