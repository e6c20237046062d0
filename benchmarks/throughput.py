"""Throughput (case 5): one large DataFrame through flowlib's ``save`` / ``output_load`` against the
libraries it rests on, measured in the same process, interleaved, median of ``repeats``.

The frame has 6 columns: int64, float64, string, bool, datetime64 and categorical.

Example:
    >>> len(make_frame(1000).columns)
    6
"""

from __future__ import annotations

import gc
import os
import pickle
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

import flowlib
from benchmarks.timing import measured, peak_bytes, reset_peak, rss_bytes

__all__ = ["make_frame", "throughput", "save_peak", "io_once", "FORMATS"]

FORMATS = ("parquet", "csv", "pickle", "memory")
_frame: dict[str, pd.DataFrame] = {}


def make_frame(rows: int, seed: int = 0) -> pd.DataFrame:
    """``rows`` x 6 columns of typical data (int, float, string, bool, datetime, categorical)."""
    rng = np.random.default_rng(seed)
    words = np.array([f"customer-{i:05d}" for i in range(10_000)], dtype=object)
    seconds = rng.integers(0, 365 * 86_400, rows)
    return pd.DataFrame(
        {
            "id": np.arange(rows, dtype=np.int64),
            "amount": rng.standard_normal(rows),
            "name": pd.Series(words[rng.integers(0, len(words), rows)], dtype="str"),
            "active": rng.integers(0, 2, rows).astype(bool),
            "when": pd.Timestamp("2024-01-01") + pd.to_timedelta(seconds, unit="s"),
            "kind": pd.Categorical.from_codes(
                rng.integers(0, 8, rows), categories=pd.Index([f"k{i}" for i in range(8)])
            ),
        }
    )


class BigParquet(flowlib.TaskParquet):
    rows = flowlib.IntParameter()

    def run(self) -> None:
        self.save(_frame["df"])


class BigCSV(flowlib.TaskCSV):
    rows = flowlib.IntParameter()

    def run(self) -> None:
        self.save(_frame["df"])


class BigPickle(flowlib.TaskPickle):
    rows = flowlib.IntParameter()

    def run(self) -> None:
        self.save(_frame["df"])


class BigMemory(flowlib.TaskMemory):
    rows = flowlib.IntParameter()

    def run(self) -> None:
        self.save(_frame["df"])


_TASKS = {"parquet": BigParquet, "csv": BigCSV, "pickle": BigPickle, "memory": BigMemory}


def _timed(action: Callable[[], Any]) -> float:
    gc.collect()
    started = time.perf_counter()
    result = action()
    elapsed = time.perf_counter() - started
    del result
    return elapsed


def _flowlib_save(task: flowlib.Task) -> Callable[[], Any]:
    def save() -> Any:
        result = flowlib.run(task, forced_all=True)
        if not result or len(result.ran) != 1:
            raise RuntimeError(f"flowlib did not save {task}: {result}")

    return save


def _baselines(fmt: str, df: pd.DataFrame, path: str) -> tuple[dict[str, Callable[[], Any]], dict[str, Any]]:
    """The side-by-side save and load functions of the libraries underneath."""
    codec = flowlib.settings.parquet_compression
    if fmt == "parquet":
        return {"pandas.to_parquet": lambda: df.to_parquet(path, compression=codec)}, {  # type: ignore[call-overload]
            "pandas.read_parquet": lambda: pd.read_parquet(path)
        }
    if fmt == "csv":
        return {
            "pyarrow.csv.write_csv": lambda: pacsv.write_csv(pa.Table.from_pandas(df, preserve_index=False), path)
        }, {
            "pandas.read_csv(engine=pyarrow)": lambda: pd.read_csv(path, engine="pyarrow"),
            "pyarrow.csv.read_csv": lambda: pacsv.read_csv(path).to_pandas(),
        }
    if fmt == "pickle":

        def dump() -> None:
            with open(path, "wb") as handle:
                pickle.dump(df, handle, protocol=5)

        def load() -> Any:
            with open(path, "rb") as handle:
                return pickle.load(handle)

        return {"pickle.dump(protocol=5)": dump}, {"pickle.load": load}
    return {}, {}


_WARM_ROWS = 1000


def _warm_up(fmt: str, directory: str) -> None:
    """Save and load a small frame once each way, so one-time costs (lazy imports, thread pools) are not timed."""
    small = _frame["df"] = make_frame(_WARM_ROWS, seed=1)
    task = _TASKS[fmt](rows=_WARM_ROWS)
    saves, loads = _baselines(fmt, small, f"{directory}/warm-up.{fmt}")
    for action in [_flowlib_save(task), *saves.values(), task.output_load, *loads.values()]:
        action()


def throughput(*, fmt: str, rows: int, directory: str, repeats: int = 3, slow_baselines: bool = True) -> dict[str, Any]:
    """Median save and load seconds of flowlib and each baseline for one format.

    Every save writes a new file (the previous one is removed first, untimed), for flowlib and baseline alike.
    """
    flowlib.set_dir(directory)
    os.makedirs(directory, exist_ok=True)
    _warm_up(fmt, directory)
    df = _frame["df"] = make_frame(rows)
    task = _TASKS[fmt](rows=rows)
    saves, loads = _baselines(fmt, df, f"{directory}/baseline.{fmt}")
    saves = {"flowlib": _flowlib_save(task), **saves}
    loads = {"flowlib": task.output_load, **loads}
    baseline_path = f"{directory}/baseline.{fmt}"

    def fresh(name: str) -> None:
        """Before a timed save: remove what the last round wrote, so every save writes a new file."""
        if name == "flowlib":
            for target in task.output().values():
                target.remove()
        elif os.path.exists(baseline_path):
            os.remove(baseline_path)

    times: dict[str, list[float]] = {}
    identical = None
    # Round 0 warms up at full size (memory pools, page cache, thread pools) and is not counted.
    for round_ in range(repeats + 1):
        for group in (saves, loads):
            names = list(group) if round_ % 2 == 0 else list(reversed(group))
            for name in names:
                kind = "save" if group is saves else "load"
                if kind == "save":
                    fresh(name)
                elapsed = _timed(group[name])
                if round_ > 0:
                    times.setdefault(f"{kind}:{name}", []).append(elapsed)
    if fmt == "memory":
        identical = task.output_load() is df
    if fmt == "csv" and slow_baselines:  # slow: once
        times["save:pandas.to_csv"] = [_timed(lambda: df.to_csv(f"{directory}/to_csv.csv", index=False))]
    result: dict[str, Any] = {
        "seconds": statistics.median(times["save:flowlib"]),
        "medians": {name: statistics.median(values) for name, values in times.items()},
        "runs": times,
        "frame_bytes": int(df.memory_usage(deep=True).sum()),
        "dtypes": {str(c): str(t) for c, t in df.dtypes.items()},
        "codec": flowlib.settings.parquet_compression if fmt == "parquet" else None,
    }
    if identical is not None:
        result["identical"] = identical
    return result


def save_peak(*, fmt: str, side: str, rows: int, directory: str) -> dict[str, Any]:
    """Peak resident memory above the baseline while saving (``side``: flowlib or the library)."""
    flowlib.set_dir(directory)
    os.makedirs(directory, exist_ok=True)
    _warm_up(fmt, directory)
    df = _frame["df"] = make_frame(rows)
    frame_bytes = int(df.memory_usage(deep=True).sum())
    if side == "flowlib":
        action = _flowlib_save(_TASKS[fmt](rows=rows))
    else:
        action = next(iter(_baselines(fmt, df, f"{directory}/baseline.{fmt}")[0].values()))
    gc.collect()
    if not reset_peak():
        raise RuntimeError("cannot reset the peak-memory mark here (/proc/self/clear_refs); Linux only")
    before = rss_bytes() or 0
    started = time.perf_counter()
    action()
    seconds = time.perf_counter() - started
    peak = peak_bytes() or 0
    return {
        "seconds": seconds,
        "frame_bytes": frame_bytes,
        # The peak can sit a little below the starting RSS when the save frees memory: count that as 0.
        "peak_above_bytes": max(0, peak - before),
        "peak_ratio": max(0, peak - before) / frame_bytes,
    }


def io_once(*, fmt: str, rows: int, directory: str, side: str, op: str, name: str | None = None) -> dict[str, Any]:
    """One save or load, timed alone (for profiles): ``side`` flowlib or library (``name``: which one)."""
    flowlib.set_dir(directory)
    os.makedirs(directory, exist_ok=True)
    _warm_up(fmt, directory)
    df = _frame["df"] = make_frame(rows)
    task = _TASKS[fmt](rows=rows)
    saves, loads = _baselines(fmt, df, f"{directory}/baseline.{fmt}")
    saves, loads = {"flowlib": _flowlib_save(task), **saves}, {"flowlib": task.output_load, **loads}
    chosen = (
        "flowlib"
        if side == "flowlib"
        else (name or next(k for k in (saves if op == "save" else loads) if k != "flowlib"))
    )
    if op == "load":  # the file to read: flowlib's own, or the library's
        (saves["flowlib"] if chosen == "flowlib" else next(v for k, v in saves.items() if k != "flowlib"))()
    action = (saves if op == "save" else loads)[chosen]
    gc.collect()
    with measured() as clock:
        action()
    return {"seconds": clock.seconds, "what": f"{op}:{chosen}"}
