"""The graph cases of issue 4: first run (1), rerun (2), preview (3), depth and breadth (4), growth.

Each returns a :class:`~benchmarks.context.CaseResult`; each flowlib figure carries the recipe
to profile it and its baseline.
"""

from __future__ import annotations

from typing import Any

from benchmarks.context import FRESH, GIB, CaseResult, Context, failed, fixed, missing_d6tflow
from benchmarks.flows import SHAPES
from benchmarks.harness import Measured, interleaved, run_child
from benchmarks.rows import Row, check, compare, contended, fmt_bytes, fmt_seconds, info

__all__ = ["first_run", "rerun", "preview", "depth_breadth", "scaling", "FIRST_RUN_LIMIT"]

#: A first run takes at most this many times the floor, in wall time and in CPU time (issue 16).
FIRST_RUN_LIMIT = 1.25


# -- 1. first run ---------------------------------------------------------------------------------
def first_run(ctx: Context) -> CaseResult:
    n, case = ctx.sizes.tasks, "1. first run"
    result = CaseResult("first_run", f"First run of {n:,}-task flows, workers=1, each task saving a tiny DataFrame")
    for shape in SHAPES:
        ctx.log(f"  first run: {shape}, {n} tasks")
        kinds = ctx.kinds("flowlib", "floor", "luigi", "d6tflow", "kedro")
        specs = {kind: ctx.first_run_spec(kind, shape, n) for kind in kinds}
        once = {"luigi", "d6tflow", "kedro"}
        repeats = ctx.sizes.first_run_repeats
        measured = interleaved(specs, repeats=repeats, timeout=ctx.sizes.timeout, once=once, log=ctx.log)
        for kind, value in measured.items():
            ctx.memo[("first_run", kind, shape, n)] = value
        recipe = ("benchmarks.dag:first_run", {"kind": "flowlib", "shape": shape, "n": n, "directory": FRESH})
        floor_recipe = ("benchmarks.dag:first_run", {**recipe[1], "kind": "floor"})
        figure = f"{shape}, {n:,} tasks"
        floor_note = _floor_split(measured["floor"])
        result.rows.append(
            compare(
                case,
                figure,
                measured["flowlib"],
                measured["floor"],
                "floor",
                FIRST_RUN_LIMIT,
                profile=recipe,
                profile_baseline=floor_recipe,
                note=floor_note,
            )
        )
        result.rows.append(
            compare(
                case,
                f"{figure}: CPU time (user + system)",
                measured["flowlib"].cpu(),
                measured["floor"].cpu(),
                "floor",
                FIRST_RUN_LIMIT,
                profile=recipe,
                profile_baseline=floor_recipe,
                note="CPU time of the measuring process, beside the wall time above",
            )
        )
        result.rows.append(
            compare(
                case,
                figure,
                measured["flowlib"],
                measured["luigi"],
                "luigi local scheduler",
                0.2,
                profile=recipe,
                profile_baseline=floor_recipe,
            )
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
            result.rows.append(missing_d6tflow(case, figure, ctx))
        result.rows.append(_kedro_row(ctx, case, figure, measured))
    ctx.log("  task construction only (diamond)")
    specs = {
        kind: ("benchmarks.dag:construct", fixed({"kind": kind, "shape": "diamond", "n": n}))
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


def _kedro_row(ctx: Context, case: str, figure: str, measured: dict[str, Measured]) -> Row:
    if "kedro" not in measured:
        return check(case, figure, "not measured", None, "—", baseline="Kedro: —", note=f"Kedro: {ctx.kedro_missing}")
    kedro = measured["kedro"]
    cpu = kedro.cpu().seconds
    note = "reference; one ParquetDataset per node (snappy); Kedro loads every input it passes to a node"
    note += f"; Kedro CPU time {fmt_seconds(cpu)}" if kedro.ok and cpu is not None else ""
    return compare(case, figure, measured["flowlib"], kedro, "Kedro SequentialRunner", None, note=note)


def _floor_rerun(ctx: Context, shape: str, n: int) -> tuple[str, dict[str, Any]] | None:
    directory = ctx.complete.get(("floor", shape, n))
    if directory is None:
        return None
    return "benchmarks.dag:rerun", {"kind": "floor", "shape": shape, "n": n, "directory": directory}


def _floor_split(floor: Measured) -> str:
    construct = floor.median_of("construct_seconds")
    if not floor.ok or construct is None or floor.seconds is None:
        return ""
    return f"floor: construct {fmt_seconds(construct)} + write {fmt_seconds(floor.seconds - construct)} (medians)"


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
            setup_failures[kind] = failed(kind, failure)
            continue
        kwargs = {"kind": kind, "shape": shape, "n": n, "directory": directory}
        specs[kind] = ("benchmarks.dag:rerun", fixed(kwargs))
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
            profile_baseline=_floor_rerun(ctx, shape, n),
            note="flowlib checks every task's outputs and record",
        )
    )
    if "d6tflow" in measured:
        result.rows.append(compare(case, figure, flow, measured["d6tflow"], "d6tflow", 1 / 50, profile=recipe))
    else:
        result.rows.append(missing_d6tflow(case, figure, ctx))
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
            failures[kind] = failed(kind, failure)
            continue
        kwargs = {"kind": kind, "shape": shape, "n": n, "directory": directory}
        target = "benchmarks.dag:rerun" if kind == "floor" else "benchmarks.dag:preview"
        specs[kind] = (target, fixed(kwargs))
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
            profile_baseline=_floor_rerun(ctx, shape, n),
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
        result.rows.append(missing_d6tflow(case, figure, ctx))
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
            result.rows.append(missing_d6tflow(case, f"chain of {size.chain:,}", ctx))
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
                fixed(
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
                profile_baseline=("benchmarks.dag:breadth", {**recipe[1], "kind": "floor", "what": "floor"}),
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
        big_recipe = (
            "benchmarks.dag:breadth",
            {"kind": "flowlib", "what": what, "groups": size.groups[0], "size": size.groups[1], "directory": FRESH},
        )
        small_recipe = (
            "benchmarks.dag:breadth",
            {**big_recipe[1], "groups": size.small_groups[0], "size": size.small_groups[1]},
        )
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
                note=contended(big[what], small[what], big["floor"], small["floor"]),
                profile=big_recipe,
                profile_baseline=small_recipe,
                profile_scale=big_tasks / small_tasks,
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
        return failed(kind, failure)
    target = "benchmarks.dag:rerun" if what == "rerun" else "benchmarks.dag:preview"
    kwargs = {"kind": kind, "shape": "diamond", "n": n, "directory": directory}
    return interleaved({kind: (target, fixed(kwargs))}, repeats=1, timeout=ctx.sizes.timeout, log=ctx.log)[kind]
