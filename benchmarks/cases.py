"""The cases of issue 4, each a set of side-by-side measurements turned into table rows.

A case function takes the :class:`Context` (sizes, scratch directories, what is installed) and
returns a :class:`CaseResult`. The flowlib side of each row carries the recipe to profile it.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.flows import SHAPES
from benchmarks.harness import Measured, interleaved, run_child
from benchmarks.rows import Row, check, compare, fmt_bytes, fmt_seconds, info

__all__ = ["Sizes", "FULL", "SMOKE", "Context", "CaseResult", "CASES", "FRESH"]

#: In a profile recipe, ``directory=FRESH`` means "a new empty directory".
FRESH = "@fresh"
GIB = 2**30


@dataclass(frozen=True)
class Sizes:
    tasks: int
    chain: int
    groups: tuple[int, int]
    small_groups: tuple[int, int]
    rows: int
    worker_tasks: int
    worker_seconds: float
    scaling: tuple[int, ...]
    repeats: int
    timeout: float
    other_preview_timeout: float
    peak_formats: tuple[str, ...]


FULL = Sizes(
    tasks=5000,
    chain=10_000,
    groups=(100, 1000),
    small_groups=(10, 1000),
    rows=5_000_000,
    worker_tasks=8,
    worker_seconds=1.0,
    scaling=(500, 1000, 2000, 5000),
    repeats=3,
    timeout=900.0,
    other_preview_timeout=60.0,
    peak_formats=("parquet", "csv", "pickle"),
)
SMOKE = Sizes(
    tasks=200,
    chain=1500,
    groups=(20, 50),
    small_groups=(2, 50),
    rows=50_000,
    worker_tasks=8,
    worker_seconds=0.2,
    scaling=(100, 200),
    repeats=1,
    timeout=120.0,
    other_preview_timeout=10.0,
    peak_formats=("parquet",),
)


@dataclass
class Context:
    """What the cases share: sizes, scratch space, what is installed, results to reuse."""

    sizes: Sizes
    smoke: bool
    workdir: Path
    d6tflow_missing: str | None
    log: Callable[[str], None] = print
    memo: dict[tuple[Any, ...], Measured] = field(default_factory=dict)
    complete: dict[tuple[str, str, int], str] = field(default_factory=dict)
    _ids: itertools.count = field(default_factory=itertools.count)

    def fresh(self, label: str) -> str:
        path = self.workdir / f"{label}-{next(self._ids)}"
        return str(path)

    def kinds(self, *kinds: str) -> list[str]:
        return [k for k in kinds if k != "d6tflow" or self.d6tflow_missing is None]

    def first_run_spec(self, kind: str, shape: str, n: int) -> tuple[str, Callable[[int], dict[str, Any]]]:
        """A first run in a fresh directory, remembered as the complete flow of ``kind``."""

        def kwargs(_round: int) -> dict[str, Any]:
            directory = self.fresh(f"first-{kind}-{shape}-{n}")
            self.complete[(kind, shape, n)] = directory
            return {"kind": kind, "shape": shape, "n": n, "directory": directory}

        return "benchmarks.dag:first_run", kwargs

    def complete_dir(self, kind: str, shape: str, n: int) -> tuple[str, Measured | None]:
        """A directory holding the complete flow (running it first if no case did); or the failure."""
        known = self.memo.get(("first_run", kind, shape, n))
        if (kind, shape, n) in self.complete and known is not None and known.ok:
            return self.complete[(kind, shape, n)], None
        self.log(f"    setting up a complete {shape} flow of {n} tasks for {kind}")
        target, kwargs_for = self.first_run_spec(kind, shape, n)
        setup = interleaved({kind: (target, kwargs_for)}, repeats=1, timeout=self.sizes.timeout, log=self.log)[kind]
        self.memo[("first_run", kind, shape, n)] = setup
        return self.complete[(kind, shape, n)], None if setup.ok else setup


@dataclass
class CaseResult:
    name: str
    title: str
    rows: list[Row] = field(default_factory=list)
    scaling: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _fixed(kwargs: dict[str, Any]) -> Callable[[int], dict[str, Any]]:
    """The same arguments in every round."""
    return lambda _round: kwargs


def _missing_d6tflow(case: str, figure: str, ctx: Context) -> Row:
    return check(
        case,
        figure,
        "not measured",
        None,
        "—",
        baseline="d6tflow: —",
        note=f"d6tflow not measured: {ctx.d6tflow_missing}",
    )


def _failed(name: str, error: Measured) -> Measured:
    failed = Measured(name, error=f"setup failed: {error.describe_error()}", details=error.details)
    return failed


# -- 1. first run ---------------------------------------------------------------------------------
def first_run(ctx: Context) -> CaseResult:
    n, case = ctx.sizes.tasks, "1. first run"
    result = CaseResult("first_run", f"First run of {n:,}-task flows, workers=1, each task saving a tiny DataFrame")
    for shape in SHAPES:
        ctx.log(f"  first run: {shape}, {n} tasks")
        kinds = ctx.kinds("flowlib", "floor", "luigi", "d6tflow")
        specs = {kind: ctx.first_run_spec(kind, shape, n) for kind in kinds}
        measured = interleaved(
            specs, repeats=ctx.sizes.repeats, timeout=ctx.sizes.timeout, once={"luigi", "d6tflow"}, log=ctx.log
        )
        for kind, value in measured.items():
            ctx.memo[("first_run", kind, shape, n)] = value
        recipe = ("benchmarks.dag:first_run", {"kind": "flowlib", "shape": shape, "n": n, "directory": FRESH})
        figure = f"{shape}, {n:,} tasks"
        floor_note = _floor_split(measured["floor"])
        result.rows.append(
            compare(case, figure, measured["flowlib"], measured["floor"], "floor", 1.5, profile=recipe, note=floor_note)
        )
        result.rows.append(
            compare(case, figure, measured["flowlib"], measured["luigi"], "luigi local scheduler", 0.2, profile=recipe)
        )
        if "d6tflow" in measured:
            result.rows.append(
                compare(
                    case,
                    figure,
                    measured["flowlib"],
                    measured["d6tflow"],
                    "d6tflow",
                    None,
                    note="reference; d6tflow writes Parquet with gzip",
                )
            )
        else:
            result.rows.append(_missing_d6tflow(case, figure, ctx))
    ctx.log("  task construction only (diamond)")
    specs = {
        kind: ("benchmarks.dag:construct", _fixed({"kind": kind, "shape": "diamond", "n": n}))
        for kind in ("flowlib", "luigi")
    }
    built = interleaved(specs, repeats=ctx.sizes.repeats, timeout=ctx.sizes.timeout, log=ctx.log)
    result.rows.append(
        compare(
            case,
            f"constructing the {n:,} diamond tasks (part of every figure)",
            built["flowlib"],
            built["luigi"],
            "plain luigi tasks",
            None,
            note="diagnostic: flowlib task construction against plain luigi",
        )
    )
    return result


def _floor_split(floor: Measured) -> str:
    construct = floor.details.get("construct_seconds")
    if not floor.ok or construct is None:
        return ""
    return f"floor: construct {fmt_seconds(construct)} + write {fmt_seconds(floor.details['seconds'] - construct)}"


# -- 2. rerun -------------------------------------------------------------------------------------
def rerun(ctx: Context) -> CaseResult:
    n, shape, case = ctx.sizes.tasks, "diamond", "2. rerun"
    result = CaseResult("rerun", f"Rerun of the complete {n:,}-task diamond (nothing to do)")
    ctx.log(f"  rerun: {shape}, {n} tasks")
    specs: dict[str, Any] = {}
    setup_failures: dict[str, Measured] = {}
    for kind in ctx.kinds("flowlib", "floor", "luigi", "d6tflow"):
        directory, failure = ctx.complete_dir(kind, shape, n)
        if failure is not None:
            setup_failures[kind] = _failed(kind, failure)
            continue
        kwargs = {"kind": kind, "shape": shape, "n": n, "directory": directory}
        specs[kind] = ("benchmarks.dag:rerun", _fixed(kwargs))
    measured = interleaved(specs, repeats=ctx.sizes.repeats, timeout=ctx.sizes.timeout, once={"d6tflow"}, log=ctx.log)
    measured.update(setup_failures)
    for kind, value in measured.items():
        ctx.memo[("rerun", kind, shape, n)] = value
    flow = measured["flowlib"]
    recipe = (
        "benchmarks.dag:rerun",
        {"kind": "flowlib", "shape": shape, "n": n, "directory": ctx.complete.get(("flowlib", shape, n), FRESH)},
    )
    figure = f"{shape}, {n:,} tasks, complete"
    result.rows.append(
        compare(
            case,
            figure,
            flow,
            measured["floor"],
            "floor (construct + stat)",
            1.5,
            profile=recipe,
            note="flowlib checks every task's outputs and record",
        )
    )
    if "d6tflow" in measured:
        result.rows.append(compare(case, figure, flow, measured["d6tflow"], "d6tflow", 1 / 50, profile=recipe))
    else:
        result.rows.append(_missing_d6tflow(case, figure, ctx))
    result.rows.append(
        compare(
            case,
            figure,
            flow,
            measured["luigi"],
            "luigi local scheduler",
            None,
            note="reference: luigi checks only the final tasks, not their upstream",
        )
    )
    return result


# -- 3. preview -----------------------------------------------------------------------------------
def preview(ctx: Context) -> CaseResult:
    n, shape, case = ctx.sizes.tasks, "diamond", "3. preview"
    result = CaseResult("preview", f"Preview of the complete {n:,}-task diamond")
    ctx.log(f"  preview: {shape}, {n} tasks")
    specs: dict[str, Any] = {}
    failures: dict[str, Measured] = {}
    for kind in ctx.kinds("flowlib", "floor", "luigi", "d6tflow"):
        directory, failure = ctx.complete_dir(kind, shape, n)
        if failure is not None:
            failures[kind] = _failed(kind, failure)
            continue
        kwargs = {"kind": kind, "shape": shape, "n": n, "directory": directory}
        target = "benchmarks.dag:rerun" if kind == "floor" else "benchmarks.dag:preview"
        specs[kind] = (target, _fixed(kwargs))
    slow = ctx.sizes.other_preview_timeout
    measured = interleaved(
        specs,
        repeats=ctx.sizes.repeats,
        timeout=ctx.sizes.timeout,
        once={"luigi", "d6tflow"},
        timeouts={"luigi": slow, "d6tflow": slow},
        log=ctx.log,
    )
    measured.update(failures)
    for kind, value in measured.items():
        ctx.memo[("preview", kind, shape, n)] = value
    flow = measured["flowlib"]
    recipe = (
        "benchmarks.dag:preview",
        {"kind": "flowlib", "shape": shape, "n": n, "directory": ctx.complete.get(("flowlib", shape, n), FRESH)},
    )
    figure = f"{shape}, {n:,} tasks, complete"
    result.rows.append(
        compare(
            case,
            figure,
            flow,
            measured["floor"],
            "floor (construct + stat)",
            1.5,
            profile=recipe,
            note="text rendered, not printed",
        )
    )
    per_task = flow.details.get("lines_per_task")
    result.rows.append(
        check(
            case,
            f"{figure}: lines per task",
            "not measured" if per_task is None else f"{per_task:.2f} ({flow.details.get('lines')} lines)",
            None if per_task is None else per_task <= 3,
            "≤ 3",
        )
    )
    result.rows.append(
        compare(
            case,
            figure,
            flow,
            measured["luigi"],
            "luigi deps_tree",
            None,
            note="reference; luigi draws shared subtrees again and again",
        )
    )
    if "d6tflow" in measured:
        result.rows.append(compare(case, figure, flow, measured["d6tflow"], "d6tflow.preview", None, note="reference"))
    else:
        result.rows.append(_missing_d6tflow(case, figure, ctx))
    return result


# -- 4. depth and breadth -------------------------------------------------------------------------
def depth_breadth(ctx: Context) -> CaseResult:
    case = "4. depth & breadth"
    size = ctx.sizes
    result = CaseResult("depth_breadth", "Depth (a long chain) and breadth (100 groups of 1,000 leaves)")
    ctx.log(f"  chain of {size.chain}")
    chain = run_child("benchmarks.dag:depth", {"n": size.chain, "directory": ctx.fresh("chain")}, timeout=size.timeout)
    ok = "error" not in chain and chain.get("limit_after") == chain.get("limit_before")
    times = (
        "—"
        if "error" in chain
        else f"plan {fmt_seconds(chain['plan_seconds'])}, run {fmt_seconds(chain['run_seconds'])}, "
        f"preview {fmt_seconds(chain['preview_seconds'])}"
    )
    value = (
        f"recursion limit {chain.get('limit_before')} → {chain.get('limit_after')}"
        if "error" not in chain
        else "failed"
    )
    result.rows.append(
        check(
            case,
            f"chain of {size.chain:,}: plan, run, preview",
            value,
            ok,
            "works, limit unchanged",
            flowlib=times,
            note=chain.get("error", ""),
            profile=("benchmarks.dag:depth", {"n": size.chain, "directory": FRESH}),
            failed="error" in chain,
        )
    )
    ctx.log(f"    flowlib: {times} {chain.get('error', '')}")
    for kind, what in (("luigi", "luigi deps_tree preview"), ("d6tflow", "d6tflow run")):
        if kind not in ctx.kinds(kind):
            result.rows.append(_missing_d6tflow(case, f"chain of {size.chain:,}", ctx))
            continue
        other = run_child(
            "benchmarks.dag:depth_other",
            {"kind": kind, "n": size.chain, "directory": ctx.fresh(f"chain-{kind}")},
            timeout=size.other_preview_timeout,
        )
        sample = Measured(
            kind, runs=[] if "error" in other else [other["seconds"]], details=other, error=other.get("error", "")
        )
        ctx.log(f"    {kind}: {sample.describe_error() or fmt_seconds(sample.seconds)}")
        result.rows.append(info(case, f"chain of {size.chain:,}: {what}", sample, baseline=what, note="reference"))
    measured: dict[tuple[int, int], dict[str, Measured]] = {}
    for groups, leaves in (size.small_groups, size.groups):
        tasks = 1 + groups + groups * leaves
        ctx.log(f"  breadth: {groups} groups of {leaves} leaves ({tasks} tasks)")
        specs = {
            what: (
                "benchmarks.dag:breadth",
                _fixed(
                    {
                        "kind": kind,
                        "what": what,
                        "groups": groups,
                        "size": leaves,
                        "directory": str(ctx.workdir / "breadth-empty"),
                    }
                ),
            )
            for kind, what in (("flowlib", "plan"), ("flowlib", "preview"), ("floor", "floor"))
        }
        measured[(groups, leaves)] = interleaved(specs, repeats=size.repeats, timeout=size.timeout, log=ctx.log)
    big, small = measured[size.groups], measured[size.small_groups]
    big_tasks = 1 + size.groups[0] + size.groups[0] * size.groups[1]
    small_tasks = 1 + size.small_groups[0] + size.small_groups[0] * size.small_groups[1]
    for what in ("plan", "preview"):
        recipe = (
            "benchmarks.dag:breadth",
            {"kind": "flowlib", "what": what, "groups": size.groups[0], "size": size.groups[1], "directory": FRESH},
        )
        result.rows.append(
            compare(
                case,
                f"{big_tasks:,} tasks: {what}",
                big[what],
                big["floor"],
                "floor (construct + walk plain luigi tasks)",
                1.3,
                profile=recipe,
                note="nothing run yet: every output is missing",
            )
        )
    peaks = [m.details.get("maxrss_bytes", 0) for m in (big["plan"], big["preview"]) if m.ok]
    peak = max(peaks) if peaks else None
    result.rows.append(
        check(
            case,
            f"{big_tasks:,} tasks: peak memory (plan, preview)",
            "not measured" if peak is None else fmt_bytes(peak),
            None if peak is None else peak < GIB,
            "< 1 GiB",
            note="whole process, imports included (ru_maxrss)",
        )
    )
    for what in ("plan", "preview"):
        b, s = big[what].seconds, small[what].seconds
        floor_growth = (big["floor"].seconds or 0) / (small["floor"].seconds or 1)
        growth = None if b is None or s is None else b / s
        result.rows.append(
            check(
                case,
                f"growth of {what}: {big_tasks:,} / {small_tasks:,} tasks",
                "not measured" if growth is None else f"{growth:.1f}x",
                None if growth is None else growth <= 12,
                "≤ 12x",
                flowlib=f"{fmt_seconds(b)} / {fmt_seconds(s)}",
                baseline=f"floor grows {floor_growth:.1f}x",
            )
        )
    return result


# -- 5. throughput --------------------------------------------------------------------------------
def throughput(ctx: Context) -> CaseResult:
    rows_n, case = ctx.sizes.rows, "5. throughput"
    result = CaseResult("throughput", f"Throughput: one DataFrame of {rows_n:,} rows x 6 columns")
    samples: dict[str, dict[str, Any]] = {}
    for fmt in ("parquet", "csv", "pickle", "memory"):
        ctx.log(f"  throughput: {fmt}, {rows_n} rows")
        samples[fmt] = run_child(
            "benchmarks.throughput:throughput",
            {"fmt": fmt, "rows": rows_n, "directory": ctx.fresh(f"tp-{fmt}"), "repeats": ctx.sizes.repeats},
            timeout=ctx.sizes.timeout,
        )
        ctx.log(f"    {samples[fmt].get('error') or samples[fmt].get('medians')}")

    def pick(fmt: str, key: str) -> Measured:
        sample = samples[fmt]
        if "error" in sample:
            return Measured(key, error=sample["error"], details=sample)
        return Measured(key, runs=list(sample["runs"].get(key, [])), details=sample)

    def recipe(fmt: str) -> tuple[str, dict[str, Any]]:
        return (
            "benchmarks.throughput:throughput",
            {"fmt": fmt, "rows": rows_n, "directory": FRESH, "repeats": 1, "slow_baselines": False},
        )

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
                profile=recipe("parquet"),
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
            profile=recipe("csv"),
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
            profile=recipe("csv"),
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
                profile=recipe("pickle"),
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
            note=sleep.describe_error(),
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


# -- growth with size -----------------------------------------------------------------------------
def scaling(ctx: Context) -> CaseResult:
    result = CaseResult("scaling", "How cost grows with the number of tasks (diamond)")
    series: dict[str, list[tuple[int, float]]] = {}
    largest_luigi = 2000 if not ctx.smoke else max(ctx.sizes.scaling)
    for n in ctx.sizes.scaling:
        ctx.log(f"  scaling: diamond of {n}")
        wanted = [
            ("first_run", "flowlib"),
            ("first_run", "floor"),
            ("rerun", "flowlib"),
            ("rerun", "floor"),
            ("preview", "flowlib"),
        ]
        if n <= largest_luigi or ("first_run", "luigi", "diamond", n) in ctx.memo:
            wanted.append(("first_run", "luigi"))
        for what, kind in wanted:
            key = (what, kind, "diamond", n)
            if key not in ctx.memo or not ctx.memo[key].ok:
                ctx.memo[key] = _scaling_point(ctx, what, kind, n)
            value = ctx.memo[key]
            if value.ok and value.seconds is not None:
                series.setdefault(f"{kind} {what.replace('_', ' ')}", []).append((n, value.seconds))
    result.scaling = series
    return result


def _scaling_point(ctx: Context, what: str, kind: str, n: int) -> Measured:
    if what == "first_run":
        spec = ctx.first_run_spec(kind, "diamond", n)
        value = interleaved({kind: spec}, repeats=1, timeout=ctx.sizes.timeout, log=ctx.log)[kind]
        ctx.memo[("first_run", kind, "diamond", n)] = value
        return value
    directory, failure = ctx.complete_dir("floor" if kind == "floor" else "flowlib", "diamond", n)
    if failure is not None:
        return _failed(kind, failure)
    target = "benchmarks.dag:rerun" if what == "rerun" else "benchmarks.dag:preview"
    kwargs = {"kind": kind, "shape": "diamond", "n": n, "directory": directory}
    return interleaved({kind: (target, _fixed(kwargs))}, repeats=1, timeout=ctx.sizes.timeout, log=ctx.log)[kind]


CASES: dict[str, Callable[[Context], CaseResult]] = {
    "first_run": first_run,
    "rerun": rerun,
    "preview": preview,
    "depth_breadth": depth_breadth,
    "throughput": throughput,
    "workers": workers,
    "scaling": scaling,
}
