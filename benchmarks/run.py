"""The one benchmark command: ``python -m benchmarks.run [--smoke] [--only NAME ...]``.

Runs the cases of issue 4 (each measurement in a fresh subprocess), prints every figure with
its ratio, profiles the flowlib side of each figure that falls short, and writes
``benchmarks.md`` and ``benchmark-scaling.png`` (``docs/`` for the full suite, otherwise
``benchmarks/results/``). Exits 0 whatever the ratios (``--strict``: 1 when a target is missed).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.context import FULL, SMOKE, CaseResult, Context
from benchmarks.data_cases import throughput, workers
from benchmarks.flows import d6tflow_available
from benchmarks.graph_cases import depth_breadth, first_run, preview, rerun, scaling
from benchmarks.harness import LOADS, OTHERS, REPO, load_average
from benchmarks.kedro_flows import kedro_available
from benchmarks.profiling import Profile, profile
from benchmarks.report import as_json, machine, summary_lines, write_report

__all__ = ["main", "CASES"]

#: Figures that pass with a ratio at or above this share of their limit are profiled too.
NEAR = 0.85

#: Every case, in the order the suite runs them (``--only`` picks some).
CASES: dict[str, Callable[[Context], CaseResult]] = {
    "first_run": first_run,
    "rerun": rerun,
    "preview": preview,
    "depth_breadth": depth_breadth,
    "throughput": throughput,
    "workers": workers,
    "scaling": scaling,
}


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="small sizes, no profiles: under a minute (CI)")
    parser.add_argument(
        "--only", nargs="+", choices=sorted(CASES), metavar="NAME", help=f"run only these cases: {', '.join(CASES)}"
    )
    parser.add_argument("--out", type=Path, help="where benchmarks.md and the plot go")
    parser.add_argument(
        "--profile",
        dest="profile",
        action="store_true",
        default=None,
        help="profile figures that fall short (default: on, except in smoke mode)",
    )
    parser.add_argument("--no-profile", dest="profile", action="store_false")
    parser.add_argument("--d6tflow", action="store_true", help="include d6tflow in smoke mode (slow)")
    parser.add_argument("--max-profiles", type=int, default=8)
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory of outputs")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a figure misses its target")
    return parser.parse_args(argv)


def _out_dir(args: argparse.Namespace) -> Path:
    if args.out is not None:
        return Path(args.out)
    if args.smoke:
        return REPO / "benchmarks" / "results" / "smoke"
    if args.only:
        return REPO / "benchmarks" / "results" / "partial"
    return REPO / "docs"


def _profiles(ctx: Context, cases: list[CaseResult], limit: int) -> list[Profile]:
    found: list[Profile] = []
    seen: set[str] = set()
    for case in cases:
        for row in case.rows:
            wanted = row.passed is False or row.near_limit(NEAR)
            if not wanted or row.profile is None or len(found) >= limit:
                continue
            key = json.dumps([row.profile, row.profile_baseline, row.profile_scale], sort_keys=True)
            if key in seen:
                continue
            seen.add(key)
            status = "short of" if row.passed is False else "close to"
            figure = (
                f"{row.case}: {row.figure} (vs {row.baseline.split(':')[0]}, measured {row.measured}, "
                f"{status} {row.target})"
            )
            ctx.log(f"  profiling {figure}")
            found.append(
                profile(
                    figure,
                    row.profile,
                    baseline=row.profile_baseline,
                    scale=row.profile_scale,
                    fresh_dir=ctx.fresh("profile"),
                    timeout=ctx.sizes.timeout * 2,
                )
            )
    return found


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    started = time.time()
    sizes = SMOKE if args.smoke else FULL
    names = list(args.only) if args.only else list(CASES)
    names = [name for name in CASES if name in names]
    workdir = Path(tempfile.mkdtemp(prefix="flowlib-bench-"))
    missing = d6tflow_available()
    if missing is not None:
        missing = f"d6tflow is not importable ({missing}); install the bench extra: pip install -e .[bench]"
    elif args.smoke and not args.d6tflow:
        missing = "skipped in smoke mode (add --d6tflow to include it)"
    kedro_missing = kedro_available()
    if kedro_missing is not None:
        kedro_missing = f"not importable ({kedro_missing}); install the bench extra: pip install -e .[bench]"
    log = print
    ctx = Context(
        sizes=sizes, smoke=args.smoke, workdir=workdir, d6tflow_missing=missing, log=log, kedro_missing=kedro_missing
    )
    start_load = load_average()
    log(f"flowlib benchmarks ({'smoke' if args.smoke else 'full'}): {', '.join(names)}")
    log(f"machine: {machine()}; load average {start_load:.2f}")
    log(f"d6tflow: {'measured' if missing is None else 'not measured: ' + missing}")
    log(f"Kedro: {'measured' if kedro_missing is None else 'not measured: ' + kedro_missing}")
    results: list[CaseResult] = []
    try:
        for name in names:
            log(f"[{name}]")
            results.append(CASES[name](ctx))
        want_profiles = (not args.smoke) if args.profile is None else args.profile
        profiles = _profiles(ctx, results, args.max_profiles) if want_profiles else []
    finally:
        if args.keep:
            log(f"outputs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    command = "python -m benchmarks.run" + (" " + " ".join(argv) if argv else " " + " ".join(sys.argv[1:])).rstrip()
    out = _out_dir(args)
    md_path, plot_note = write_report(
        out,
        results,
        profiles,
        smoke=args.smoke,
        command=command.strip(),
        started=started,
        loads=(start_load, max([start_load, *LOADS])),
        others=OTHERS,
    )
    results_dir = out if args.out is not None else REPO / "benchmarks" / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    raw = results_dir / ("smoke.json" if args.smoke else "results.json")
    raw.write_text(json.dumps(as_json(results, profiles), indent=1, default=str))
    log("")
    log("results (ratio = flowlib / baseline):")
    for line in summary_lines(results):
        log(line)
    judged = [r for c in results for r in c.rows if r.passed is not None]
    failed = [r for r in judged if not r.passed]
    log(f"{len(judged) - len(failed)} of {len(judged)} figures meet their target; {time.time() - started:.0f} s in all")
    log(f"wrote {md_path}" + (f" (no plot: {plot_note})" if plot_note else f" and {out / 'benchmark-scaling.png'}"))
    log(f"raw results: {raw}")
    return 1 if args.strict and failed else 0


if __name__ == "__main__":
    sys.exit(main())
