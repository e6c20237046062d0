"""Big data, measured: stream rows into a dataset, aggregate them in batches; peak memory and throughput.

``python -m benchmarks.bigdata [--smoke] [--rows N] [--out FOLDER]``

A flowlib task streams ``rows`` x 6 columns (int64 / float64, generated in batches) into a
``TaskDataset`` with ``save_batches``; a downstream task aggregates it through
``input_batches()``. The same work is done directly with pyarrow in the same run: a chunked
``ParquetWriter`` (part files of the same size) and ``pyarrow.dataset.write_dataset`` for the
write, a dataset scanner with low readahead for the read. Every side runs in a fresh child
process (``benchmarks.child``), which reports its own peak RSS (``ru_maxrss``).

Targets: peak RSS below 1 GiB on every flowlib side; flowlib within 1.2x of pyarrow's time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

__all__ = ["main", "generate", "aggregate", "BdEvents", "BdSummary"]

FULL_ROWS = 50_000_000
SMOKE_ROWS = 1_000_000
BATCH_ROWS = 1_000_000
PART_ROWS = 4 * 1024 * 1024
GIB = 1024**3
RSS_TARGET = 1 * GIB
TIME_TARGET = 1.2
COLUMNS = ("id", "group", "a", "b", "c", "d")


def generate(rows: int, batch_rows: int = BATCH_ROWS) -> Iterator[pa.RecordBatch]:
    """``rows`` rows of 6 eight-byte columns, ``batch_rows`` at a time (seeded, the same every run)."""
    rng = np.random.default_rng(15)
    for start in range(0, rows, batch_rows):
        n = min(batch_rows, rows - start)
        ids = np.arange(start, start + n, dtype=np.int64)
        yield pa.record_batch(
            [
                pa.array(ids),
                pa.array(ids % 1000),
                pa.array(rng.random(n)),
                pa.array(rng.standard_normal(n)),
                pa.array(rng.integers(0, 1 << 20, n)),
                pa.array(rng.random(n) * 100.0),
            ],
            names=list(COLUMNS),
        )


def aggregate(batches: Iterator[pa.RecordBatch]) -> dict[str, float]:
    """Row count, sums of the float columns and the largest ``c``: the same work on both sides."""
    rows, sums, largest = 0, {"a": 0.0, "b": 0.0, "d": 0.0}, 0
    for batch in batches:
        rows += batch.num_rows
        for name in sums:
            sums[name] += pc.sum(batch[name]).as_py() or 0.0
        largest = max(largest, pc.max(batch["c"]).as_py() or 0)
    return {"rows": rows, **sums, "max_c": largest}


def _flowlib_tasks() -> tuple[type, type]:
    import flowlib

    class BdEvents(flowlib.TaskDataset):
        """The stream, saved as a dataset."""

        rows = flowlib.IntParameter()
        batch_rows = flowlib.IntParameter(default=BATCH_ROWS, significant=False)
        part_size = flowlib.IntParameter(default=PART_ROWS, significant=False)

        def target_options(self) -> dict[str, Any]:
            return {**super().target_options(), "part_rows": self.part_size}

        def run(self) -> None:
            self.save_batches(generate(self.rows, self.batch_rows))

    @flowlib.requires(BdEvents)
    class BdSummary(flowlib.TaskJSON):
        """The aggregate, read through input_batches()."""

        def run(self) -> None:
            self.save(aggregate(self.input_batches(columns=["a", "b", "c", "d"])))

    return BdEvents, BdSummary


# The classes are made on first use, so importing this module for pyarrow's sides does not import flowlib.
BdEvents: Any = None
BdSummary: Any = None


def _tasks() -> tuple[Any, Any]:
    global BdEvents, BdSummary
    if BdEvents is None:
        BdEvents, BdSummary = _flowlib_tasks()
    return BdEvents, BdSummary


# -- the four sides, each run in a child process -------------------------------------------------------
def flowlib_write(root: str, rows: int, batch_rows: int, part_rows: int) -> dict[str, Any]:
    import flowlib

    events, _summary = _tasks()
    flowlib.set_dir(root)
    task = events(rows=rows, batch_rows=batch_rows, part_size=part_rows)
    started = time.perf_counter()
    flowlib.run(task, execution_summary=False)
    seconds = time.perf_counter() - started
    manifest = task.output()["data"].manifest()
    return {"seconds": seconds, "rows": manifest.rows, "bytes": sum(p.bytes for p in manifest.parts)}


def flowlib_read(root: str, rows: int, batch_rows: int, part_rows: int) -> dict[str, Any]:
    import flowlib

    events, summary = _tasks()
    flowlib.set_dir(root)
    task = summary(rows=rows, batch_rows=batch_rows, part_size=part_rows)
    started = time.perf_counter()
    result = flowlib.run(task, execution_summary=False)
    seconds = time.perf_counter() - started
    assert result.ran == [task], f"only the aggregate should run, ran {result.ran}"
    return {"seconds": seconds, "result": task.output_load()}


def pyarrow_write(folder: str, rows: int, batch_rows: int, part_rows: int) -> dict[str, Any]:
    """A chunked ParquetWriter: part files of ``part_rows``, row groups of a million rows, zstd."""
    os.makedirs(folder, exist_ok=True)
    started = time.perf_counter()
    writer, in_part, number, pending, pending_rows = None, 0, 0, [], 0
    schema = None
    for batch in generate(rows, batch_rows):
        schema = batch.schema
        offset = 0
        while offset < batch.num_rows:
            if writer is None:
                writer = pq.ParquetWriter(f"{folder}/part-{number:05d}.parquet", schema, compression="zstd")
                number += 1
            piece = batch.slice(offset, part_rows - in_part)
            pending.append(piece)
            pending_rows += piece.num_rows
            in_part += piece.num_rows
            offset += piece.num_rows
            if pending_rows >= 1024 * 1024 or in_part >= part_rows:
                writer.write_table(pa.Table.from_batches(pending), row_group_size=1024 * 1024)
                pending, pending_rows = [], 0
            if in_part >= part_rows:
                writer.close()
                writer, in_part = None, 0
    if writer is not None:
        if pending:
            writer.write_table(pa.Table.from_batches(pending), row_group_size=1024 * 1024)
        writer.close()
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "bytes": sum(p.stat().st_size for p in Path(folder).iterdir()), "schema": str(schema)}


def pyarrow_write_dataset(folder: str, rows: int, batch_rows: int, part_rows: int) -> dict[str, Any]:
    """``pyarrow.dataset.write_dataset`` fed from the generator (its own file and row-group sizes as set)."""
    started = time.perf_counter()
    batches = generate(rows, batch_rows)
    first = next(batches)
    stream = pa.RecordBatchReader.from_batches(first.schema, _chain(first, batches))
    ds.write_dataset(
        stream,
        folder,
        format="parquet",
        file_options=ds.ParquetFileFormat().make_write_options(compression="zstd"),
        max_rows_per_file=part_rows,
        max_rows_per_group=min(part_rows, 1024 * 1024),
        existing_data_behavior="overwrite_or_ignore",
    )
    return {"seconds": time.perf_counter() - started}


def _chain(first: pa.RecordBatch, rest: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    yield first
    yield from rest


def pyarrow_read(folder: str) -> dict[str, Any]:
    """A dataset scanner with low readahead over the ParquetWriter's files."""
    started = time.perf_counter()
    dataset = ds.dataset(folder, format="parquet")
    scanner = dataset.scanner(
        columns=["a", "b", "c", "d"], batch_size=256 * 1024, batch_readahead=1, fragment_readahead=1
    )
    result = aggregate(scanner.to_batches())
    return {"seconds": time.perf_counter() - started, "result": result}


# -- the parent --------------------------------------------------------------------------------------
def _measure(name: str, kwargs: dict[str, Any], repeat: int) -> dict[str, Any]:
    from benchmarks.harness import run_child

    samples = []
    for _ in range(repeat):
        result = run_child(f"benchmarks.bigdata:{name}", kwargs, timeout=1800)
        if "error" in result:
            raise RuntimeError(f"{name}: {result['error']} {result.get('cause', '')}\n{result.get('traceback', '')}")
        samples.append(result)
    seconds = statistics.median(s["seconds"] for s in samples)
    peak = max(s["maxrss_bytes"] for s in samples)
    others = [s["others_cpus"] for s in samples if "others_cpus" in s]
    return {
        "seconds": seconds,
        "maxrss_bytes": peak,
        "load": samples[-1].get("load"),
        "others_cpus": statistics.median(others) if others else None,
        "last": samples[-1],
    }


def run(rows: int, *, repeat: int, batch_rows: int, part_rows: int, work: str) -> dict[str, Any]:
    """Every side once per repeat (fresh folders each time); the measured figures."""
    sizes = {"rows": rows, "batch_rows": batch_rows, "part_rows": part_rows}
    figures: dict[str, Any] = {}
    root, direct, dataset_folder = f"{work}/flowlib", f"{work}/pyarrow", f"{work}/write_dataset"

    def fresh(*folders: str) -> None:
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)

    write: list[dict[str, Any]] = []
    read: list[dict[str, Any]] = []
    for _ in range(repeat):
        fresh(root, direct, dataset_folder)
        write.append(
            {
                "flowlib": _measure("flowlib_write", {"root": root, **sizes}, 1),
                "pyarrow": _measure("pyarrow_write", {"folder": direct, **sizes}, 1),
                "write_dataset": _measure("pyarrow_write_dataset", {"folder": dataset_folder, **sizes}, 1),
            }
        )
        fresh(dataset_folder)
        read.append(
            {
                "flowlib": _measure("flowlib_read", {"root": root, **sizes}, 1),
                "pyarrow": _measure("pyarrow_read", {"folder": direct}, 1),
            }
        )
        mine, theirs = read[-1]["flowlib"]["last"]["result"], read[-1]["pyarrow"]["last"]["result"]
        assert mine["rows"] == theirs["rows"] == rows, (mine, theirs)
        assert all(abs(mine[k] - theirs[k]) <= 1e-6 * max(1.0, abs(theirs[k])) for k in theirs), (mine, theirs)
    for phase, runs in (("write", write), ("read", read)):
        figures[phase] = {
            side: {
                "seconds": statistics.median(r[side]["seconds"] for r in runs),
                "maxrss_bytes": max(r[side]["maxrss_bytes"] for r in runs),
                "others_cpus": runs[-1][side]["others_cpus"],
                "load": runs[-1][side]["load"],
            }
            for side in runs[0]
        }
    figures["data"] = {
        "rows": rows,
        "in_memory_bytes": rows * len(COLUMNS) * 8,
        "on_disk_bytes": write[-1]["flowlib"]["last"]["bytes"],
    }
    return figures


def report(figures: dict[str, Any]) -> tuple[str, bool]:
    """A table of the figures and whether every target is met."""
    data = figures["data"]
    lines = [
        f"{data['rows']:,} rows x {len(COLUMNS)} columns: {data['in_memory_bytes'] / GIB:.2f} GiB in memory, "
        f"{data['on_disk_bytes'] / GIB:.2f} GiB on disk (zstd)",
        "",
        f"{'side':38} {'seconds':>8} {'Mrows/s':>8} {'peak RSS':>10} {'ratio':>6}  busy CPUs of others",
    ]
    ok = True
    names = {
        "write": {
            "flowlib": "flowlib save_batches (TaskDataset)",
            "pyarrow": "pyarrow ParquetWriter, chunked",
            "write_dataset": "pyarrow.dataset.write_dataset",
        },
        "read": {"flowlib": "flowlib input_batches", "pyarrow": "pyarrow scanner, readahead 1"},
    }
    for phase in ("write", "read"):
        sides = figures[phase]
        base = sides["pyarrow"]["seconds"]
        for side, found in sides.items():
            ratio = found["seconds"] / base if base else float("nan")
            others = found["others_cpus"]
            lines.append(
                f"{names[phase][side]:38} {found['seconds']:8.2f} {data['rows'] / found['seconds'] / 1e6:8.2f} "
                f"{found['maxrss_bytes'] / 2**20:7.0f} MiB {ratio:5.2f}x  "
                f"{'' if others is None else f'{others:.2f}'} (load {found['load']:.2f})"
            )
        mine = sides["flowlib"]
        ok &= mine["maxrss_bytes"] < RSS_TARGET and mine["seconds"] / base <= TIME_TARGET
    verdict = "all figures meet their target" if ok else "NOT every figure meets its target"
    lines += ["", f"targets: flowlib peak RSS < 1 GiB and time <= {TIME_TARGET}x pyarrow's: {verdict}"]
    return "\n".join(lines), ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bigdata", description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help=f"{SMOKE_ROWS:,} rows, once (seconds)")
    parser.add_argument("--rows", type=int, default=None, help=f"rows to stream (default {FULL_ROWS:,})")
    parser.add_argument("--repeat", type=int, default=None, help="runs per side (their median; default 1)")
    parser.add_argument("--out", default=None, help="write bigdata.json (or smoke-bigdata.json) into this folder")
    args = parser.parse_args(argv)
    rows = args.rows or (SMOKE_ROWS if args.smoke else FULL_ROWS)
    repeat = args.repeat or 1
    batch_rows = min(BATCH_ROWS, max(1, rows // 8)) if args.smoke else BATCH_ROWS
    part_rows = max(1, rows // 4) if args.smoke else PART_ROWS
    work = tempfile.mkdtemp(prefix="flowlib-bigdata-")
    try:
        figures = run(rows, repeat=repeat, batch_rows=batch_rows, part_rows=part_rows, work=work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    text, ok = report(figures)
    print(text)
    if args.out:
        name = "smoke-bigdata.json" if args.smoke else "bigdata.json"
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / name).write_text(json.dumps({"figures": figures, "ok": ok}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
