"""Dataflow throughput (issue 13 item 8): flowlib's orchestrator and DFFML's, side by side in one run.

Two cases of 10,000 invocations each: ``chain`` (5,000 contexts of one seed each through two chained
trivial operations) and ``fan`` (one context combining 100 x 100 inputs). Each measurement runs in a
fresh process; the figure is invocations per second of CPU time, the median of the repeats. DFFML 0.4
needs Python 3.8, so its side runs in a child process with that venv's interpreter
(``--dffml-python``, default ``$FLOWLIB_BENCH_DFFML_PYTHON`` or ``/work/dffml-venv/bin/python``);
without it the report says so and shows flowlib alone.

    python -m benchmarks.dataflow                 # full sizes, 3 repeats, growth of the fan
    python -m benchmarks.dataflow --smoke         # small sizes, seconds
    python -m benchmarks.dataflow --dffml-python /path/to/py38-venv/bin/python --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.harness import run_child

__all__ = ["main", "Figure", "measure_all", "TARGET_RATE", "TARGET_RATIO"]

#: Invocations per CPU second flowlib must reach on one core, and how many times DFFML's rate.
TARGET_RATE = 20_000
TARGET_RATIO = 5.0
DEFAULT_DFFML = "/work/dffml-venv/bin/python"
FULL = {"chain": 5_000, "fan": 100}
SMOKE = {"chain": 200, "fan": 20}
GROWTH = (25, 50, 100)


@dataclass
class Figure:
    """One case at one size: flowlib's and DFFML's invocations per CPU second (medians), and the ratio."""

    case: str
    size: int
    invocations: int
    flowlib_rate: float | None
    dffml_rate: float | None = None
    flowlib_runs: list[float] = field(default_factory=list)
    dffml_runs: list[float] = field(default_factory=list)
    others_cpus: list[float] = field(default_factory=list)
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.flowlib_rate and self.dffml_rate:
            return self.flowlib_rate / self.dffml_rate
        return None


def _dffml_python(given: str | None) -> str | None:
    candidate = given or os.environ.get("FLOWLIB_BENCH_DFFML_PYTHON") or DEFAULT_DFFML
    return candidate if candidate and Path(candidate).exists() else None


def _rates(target: str, kwargs: dict[str, Any], repeats: int, python: str | None, figure: Figure, side: str) -> None:
    rates: list[float] = []
    for _ in range(repeats):
        result = run_child(target, kwargs, python=python)
        if "error" in result:
            figure.note += f"{side}: {result['error']} {result.get('cause', '')}".strip() + "; "
            return
        figure.invocations = int(result["invocations"])
        rates.append(result["invocations"] / max(result["seconds"], 1e-9))
        if "others_cpus" in result:
            figure.others_cpus.append(float(result["others_cpus"]))
    runs = figure.flowlib_runs if side == "flowlib" else figure.dffml_runs
    runs.extend(rates)
    median = statistics.median(rates)
    if side == "flowlib":
        figure.flowlib_rate = median
    else:
        figure.dffml_rate = median


def measure_all(
    sizes: dict[str, int],
    *,
    repeats: int,
    dffml_python: str | None,
    growth: tuple[int, ...] = (),
    use_async: bool = False,
) -> list[Figure]:
    """Measure every case (and the fan's growth); DFFML's side only when its interpreter is given."""
    plan = [("chain", sizes["chain"], False), ("fan", sizes["fan"], False)]
    plan += [("fan (warm, growth)", side, True) for side in growth]
    figures = []
    for case, size, warm in plan:
        figure = Figure(case, size, 0, None)
        kwargs = {"case": case.split()[0], "size": size, "warmup": warm}
        _rates("benchmarks.dataflow_cases:measure", kwargs, repeats, None, figure, "flowlib")
        if dffml_python:
            _rates("benchmarks.dffml_flows:measure", kwargs, repeats, dffml_python, figure, "dffml")
        figures.append(figure)
    if use_async:
        figure = Figure("chain (async def operations)", sizes["chain"], 0, None)
        kwargs = {"case": "chain", "size": sizes["chain"], "use_async": True}
        _rates("benchmarks.dataflow_cases:measure", kwargs, repeats, None, figure, "flowlib")
        figures.append(figure)
    return figures


def _rate(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}/s"


def report(figures: list[Figure], *, dffml_python: str | None, dffml_version: str = "") -> str:
    """The results as a Markdown table, with the targets and how contended the CPU was."""
    lines = []
    if dffml_python is None:
        lines.append("DFFML: no Python 3.8 interpreter with dffml found (pass --dffml-python); flowlib alone.")
    else:
        lines.append(f"DFFML {dffml_version or '?'} on {dffml_python}.")
    lines += [
        "",
        "| case | invocations | flowlib (CPU) | DFFML (CPU) | flowlib / DFFML | target | result |",
        "|---|---|---|---|---|---|---|",
    ]
    for f in figures:
        label = f"{f.case}, " + (f"{f.size:,} contexts" if f.case.startswith("chain") else f"{f.size} x {f.size}")
        if "growth" in f.case and f.flowlib_rate:
            label += f" ({f.invocations / f.flowlib_rate * 1000:.0f} ms" + (
                f" vs {f.invocations / f.dffml_rate * 1000:.0f} ms)" if f.dffml_rate else ")"
            )
        ratio = "—" if f.ratio is None else f"{f.ratio:.1f}x"
        fast = f.flowlib_rate is not None and f.flowlib_rate >= TARGET_RATE
        ok = fast and (f.ratio is None or f.ratio >= TARGET_RATIO)
        target = f"≥ {TARGET_RATE:,}/s" + ("" if f.dffml_rate is None else f", ≥ {TARGET_RATIO:.0f}x DFFML")
        verdict = "pass" if ok else "short"
        if "async" in f.case or "growth" in f.case:
            target, verdict = "—", "diagnostic"
        lines.append(
            f"| {label} | {f.invocations:,} | {_rate(f.flowlib_rate)} | {_rate(f.dffml_rate)} | {ratio} | {target} | "
            f"{verdict} |"
        )
    others = [x for f in figures for x in f.others_cpus]
    if others:
        lines += [
            "",
            f"Other processes kept {statistics.median(others):.2f} CPUs busy during the median measurement and up to "
            f"{max(others):.2f} during the busiest (of {os.cpu_count()} logical CPUs).",
        ]
    notes = [f"{f.case} {f.size}: {f.note}" for f in figures if f.note]
    lines += [f"* {note}" for note in notes]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.dataflow", description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="small sizes, one repeat")
    parser.add_argument("--dffml-python", help="a Python 3.8 interpreter with dffml installed")
    parser.add_argument("--no-dffml", action="store_true", help="measure flowlib alone")
    parser.add_argument("--repeats", type=int, default=None, help="repeats per measurement (default 3, smoke 1)")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    sizes = SMOKE if args.smoke else FULL
    repeats = args.repeats or (1 if args.smoke else 3)
    dffml_python = None if args.no_dffml else _dffml_python(args.dffml_python)
    version = ""
    if dffml_python:
        probe = run_child("benchmarks.dffml_flows:measure", {"case": "chain", "size": 2}, python=dffml_python)
        if "error" in probe:
            print(f"DFFML interpreter {dffml_python} cannot run the flows: {probe['error']}; flowlib alone.")
            dffml_python = None
        else:
            version = str(probe.get("version", ""))
    growth = () if args.smoke else GROWTH
    figures = measure_all(sizes, repeats=repeats, dffml_python=dffml_python, growth=growth, use_async=True)
    text = report(figures, dffml_python=dffml_python, dffml_version=version)
    print(text, end="")
    if args.json:
        rows = [{**asdict(f), "ratio": f.ratio} for f in figures]
        Path(args.json).write_text(json.dumps({"dffml": version or None, "figures": rows}, indent=2))
    failed = [f for f in figures if f.flowlib_rate is None]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
