"""The data cases of issue 4: throughput of one large DataFrame (5) and workers (6)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from benchmarks.context import FRESH, CaseResult, Context
from benchmarks.harness import Measured, interleaved, run_child
from benchmarks.rows import check, compare, contended, fmt_bytes, fmt_seconds

__all__ = ["throughput", "workers"]


# -- 5. throughput --------------------------------------------------------------------------------
def throughput(ctx: Context) -> CaseResult:
    rows_n, case = ctx.sizes.rows, "5. throughput"
    result = CaseResult("throughput", f"Throughput: one DataFrame of {rows_n:,} rows x 6 columns")
    samples: dict[str, dict[str, Any]] = {}
    for fmt in ("parquet", "csv", "pickle", "memory"):
        ctx.log(f"  throughput: {fmt}, {rows_n} rows")
        samples[fmt] = run_child(
            "benchmarks.throughput:throughput",
            {"fmt": fmt, "rows": rows_n, "directory": ctx.fresh(f"tp-{fmt}"), "repeats": ctx.sizes.io_repeats},
            timeout=ctx.sizes.timeout,
        )
        ctx.log(f"    {samples[fmt].get('error') or samples[fmt].get('medians')}")

    def pick(fmt: str, key: str) -> Measured:
        sample = samples[fmt]
        if "error" in sample:
            return Measured(key, error=sample["error"], details=sample)
        return Measured(key, runs=list(sample["runs"].get(key, [])), details=sample)

    def recipes(fmt: str, op: str, name: str) -> dict[str, Any]:
        """Profile recipes: one flowlib ``op`` alone, and the library's ``name`` alone."""
        common = {"fmt": fmt, "rows": rows_n, "directory": FRESH, "op": op}
        return {
            "profile": ("benchmarks.throughput:io_once", {**common, "side": "flowlib"}),
            "profile_baseline": ("benchmarks.throughput:io_once", {**common, "side": "library", "name": name}),
        }

    codec = samples["parquet"].get("codec", "zstd")
    for kind, base, limit in (("save", "pandas.to_parquet", 1.15), ("load", "pandas.read_parquet", 1.15)):
        result.rows.append(
            compare(
                case,
                f"Parquet {kind} ({codec})",
                pick("parquet", f"{kind}:flowlib"),
                pick("parquet", f"{kind}:{base}"),
                base,
                limit,
                **recipes("parquet", kind, base),
            )
        )
    save = pick("csv", "save:flowlib")
    result.rows.append(
        compare(
            case,
            "CSV save",
            save,
            pick("csv", "save:pyarrow.csv.write_csv"),
            "pyarrow.csv.write_csv",
            1.5,
            **recipes("csv", "save", "pyarrow.csv.write_csv"),
        )
    )
    result.rows.append(compare(case, "CSV save", save, pick("csv", "save:pandas.to_csv"), "DataFrame.to_csv", 0.2))
    readers = [pick("csv", "load:pandas.read_csv(engine=pyarrow)"), pick("csv", "load:pyarrow.csv.read_csv")]
    fastest = min((m for m in readers if m.ok), key=lambda m: m.seconds or 0.0, default=readers[0])
    result.rows.append(
        compare(
            case,
            "CSV load",
            pick("csv", "load:flowlib"),
            fastest,
            f"fastest: {fastest.name[5:]}",
            1.2,
            **recipes("csv", "load", fastest.name[5:]),
            note="; ".join(f"{m.name[5:]} {fmt_seconds(m.seconds)}" for m in readers),
        )
    )
    for kind, base in (("save", "pickle.dump(protocol=5)"), ("load", "pickle.load")):
        result.rows.append(
            compare(
                case,
                f"pickle {kind}",
                pick("pickle", f"{kind}:flowlib"),
                pick("pickle", f"{kind}:{base}"),
                base,
                1.2,
                **recipes("pickle", kind, base),
            )
        )
    memory = samples["memory"]
    identical = memory.get("identical")
    result.rows.append(
        check(
            case,
            "memory target: output_load() is the saved object",
            str(identical),
            identical if isinstance(identical, bool) else (False if "error" in memory else None),
            "True (no copy)",
            flowlib=(
                "—"
                if "error" in memory
                else f"save {fmt_seconds(memory['medians']['save:flowlib'])}, "
                f"load {fmt_seconds(memory['medians']['load:flowlib'])}"
            ),
            note=memory.get("error", ""),
            failed="error" in memory,
        )
    )
    for fmt in ctx.sizes.peak_formats:
        ctx.log(f"  peak memory while saving: {fmt}")
        peaks = {
            side: run_child(
                "benchmarks.throughput:save_peak",
                {"fmt": fmt, "side": side, "rows": rows_n, "directory": ctx.fresh(f"peak-{fmt}")},
                timeout=ctx.sizes.timeout,
            )
            for side in ("flowlib", "library")
        }
        mine, theirs = peaks["flowlib"], peaks["library"]
        ctx.log(
            f"    flowlib {mine.get('peak_ratio', mine.get('error'))}, "
            f"library {theirs.get('peak_ratio', theirs.get('error'))}"
        )
        value = (
            "not measured"
            if "error" in mine
            else (
                f"{mine['peak_ratio']:.2f}x ({fmt_bytes(mine['peak_above_bytes'])} above the baseline "
                f"for a {fmt_bytes(mine['frame_bytes'])} frame)"
            )
        )
        library = "—" if "error" in theirs else f"library alone: {theirs['peak_ratio']:.2f}x"
        result.rows.append(
            check(
                case,
                f"{fmt} save: peak memory / frame size",
                value,
                False if "error" in mine else mine["peak_ratio"] < 1.5,
                "< 1.5x",
                baseline=library,
                note=mine.get("error", ""),
                failed="error" in mine,
            )
        )
    dtypes = samples["parquet"].get("dtypes")
    if dtypes:
        result.notes.append("Columns: " + ", ".join(f"{k} ({v})" for k, v in dtypes.items()) + ".")
    return result


# -- 6. workers -----------------------------------------------------------------------------------
def workers(ctx: Context) -> CaseResult:
    case, size = "6. workers", ctx.sizes
    count, seconds = size.worker_tasks, size.worker_seconds
    result = CaseResult("workers", f"Workers: {count} independent tasks of {seconds:g} s each")

    def spec(work: str, workers_: int) -> tuple[str, Callable[[int], dict[str, Any]]]:
        return "benchmarks.workers:workers_run", lambda _r: {
            "work": work,
            "tasks": count,
            "seconds": seconds,
            "workers": workers_,
            "directory": ctx.fresh(f"workers-{work}-{workers_}"),
        }

    ctx.log(f"  workers: {count} sleeping tasks, workers=4")
    sleep = interleaved({"sleep": spec("sleep", 4)}, repeats=size.repeats, timeout=size.timeout, log=ctx.log)["sleep"]
    limit = 2.4 * seconds
    result.rows.append(
        check(
            case,
            f"{count} tasks sleeping {seconds:g} s, workers=4",
            fmt_seconds(sleep.seconds),
            sleep.ok and (sleep.seconds or 0) <= limit,
            f"≤ {fmt_seconds(limit)}",
            flowlib=fmt_seconds(sleep.seconds),
            baseline=f"ideal {fmt_seconds(2 * seconds)}",
            note=sleep.describe_error() or contended(sleep),
            failed=not sleep.ok,
            profile=(
                "benchmarks.workers:workers_run",
                {"work": "sleep", "tasks": count, "seconds": seconds, "workers": 4, "directory": FRESH},
            ),
        )
    )
    ctx.log(f"  workers: {count} CPU-bound tasks, workers=1 and 2")
    cpu = interleaved(
        {"workers=1": spec("cpu", 1), "workers=2": spec("cpu", 2)},
        repeats=size.repeats,
        timeout=size.timeout,
        log=ctx.log,
    )
    result.rows.append(
        compare(
            case,
            f"{count} CPU-bound tasks of {seconds:g} s, workers=2",
            cpu["workers=2"],
            cpu["workers=1"],
            "workers=1",
            0.6,
            note=f"{os.cpu_count()} CPUs",
        )
    )
    return result
