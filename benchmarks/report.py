"""Write the results: ``benchmarks.md`` (table, machine, versions, growth, profiles) and the growth plot.

The introduction between the ``intro`` markers of an existing file is kept, so it can be edited by hand.

Example:
    >>> "CPU" in machine()
    True
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import re
import time
from pathlib import Path
from typing import Any

from benchmarks.context import CaseResult
from benchmarks.profiling import Profile
from benchmarks.rows import CONTENDED, Row, fmt_seconds

__all__ = ["machine", "versions", "write_report", "plot_scaling", "INTRO"]

_INTRO_START, _INTRO_END = "<!-- intro:start -->", "<!-- intro:end -->"
INTRO = """\
flowlib runs flows of thousands of tasks in about the time it takes to construct their luigi task
objects and write their files, reruns and previews them in about the time it takes to construct
them and stat their files, and saves DataFrames at the speed of pyarrow. These benchmarks check
that claim figure by figure, each against a baseline measured side by side in the same run on the
same machine: ratios, not absolute times, are what they assert (absolute times are shown too, and
are noisy on a shared 2-core machine).

* **floor**: the least any library on luigi could do. *First run*: construct the same tasks as plain
  `luigi.Task` objects (walking `requires()`), write each tiny DataFrame with pyarrow to a temporary
  file and `os.replace` it. *Rerun / preview*: construct the tasks and `os.stat` each output file.
* **luigi**: the same flow as plain luigi tasks writing Parquet, run with
  `luigi.build(..., local_scheduler=True, workers=1)`.
* **d6tflow** 0.2.8: the same flow as `d6tflow.tasks.TaskPqPandas` tasks (its default gzip codec),
  run with `d6tflow.run`. Optional: install the `bench` extra.
* **Kedro** (first run only): the same flow as a Kedro `Pipeline` of one node per task, each node's
  output a `kedro_datasets.pandas.ParquetDataset` in a `DataCatalog` (its default snappy codec), run
  with `SequentialRunner` (telemetry off). Kedro passes every node its inputs, so it loads each
  upstream output a node requires. Optional: install the `bench` extra.

First runs are reported in wall time and, on the next line, in CPU time (user + system of the
measuring process): on a shared machine, CPU time is the steadier of the two.

Every measurement runs in a fresh Python process (imports are not timed; building the root tasks
is). Measurements shorter than 15 s are repeated (3 times in the full suite, 5 times for first runs,
alternating the order of flowlib and its baseline) and the median is reported. Ratios are flowlib / baseline, so
"at least 5x faster" is written "≤ 0.2x".
"""


def _read_first(path: str, key: str) -> str:
    try:
        with open(path) as handle:
            for line in handle:
                if line.startswith(key):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def machine() -> str:
    """A short description: CPU model, logical CPUs, RAM, OS."""
    memory = _read_first("/proc/meminfo", "MemTotal")
    ram = f"{int(memory.split()[0]) / 2**20:.1f} GiB" if memory != "unknown" else "unknown"
    cpu = _read_first("/proc/cpuinfo", "model name")
    if cpu == "unknown":
        cpu = platform.processor() or platform.machine()
    return f"CPU {cpu}; {os.cpu_count()} logical CPUs; RAM {ram}; {platform.platform()}"


def versions() -> dict[str, str]:
    """Versions of Python and of the libraries measured."""
    found = {"python": platform.python_version()}
    for name in (
        "flowlib",
        "luigi",
        "pandas",
        "pyarrow",
        "numpy",
        "xxhash",
        "d6tflow",
        "kedro",
        "kedro_datasets",
        "matplotlib",
    ):
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def plot_scaling(series: dict[str, list[tuple[int, float]]], path: Path) -> str:
    """Plot seconds against tasks (log-log); returns ``""`` or why no plot was drawn."""
    if not any(len(points) > 1 for points in series.values()):
        return "not enough sizes measured for a plot"
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        return f"matplotlib is not installed ({exc}); install the bench extra for the plot"
    styles = {"flowlib": "-", "floor": ":", "luigi": "--"}
    colours = {"first run": "tab:blue", "rerun": "tab:green", "preview": "tab:purple"}
    figure, axes = plt.subplots(figsize=(8, 5), dpi=110)
    for name, points in sorted(series.items()):
        kind, _, what = name.partition(" ")
        xs, ys = zip(*sorted(points), strict=True)
        axes.plot(xs, ys, styles.get(kind, "-"), marker="o", color=colours.get(what, "grey"), label=name)
    axes.set_xscale("log")
    axes.set_yscale("log")
    sizes = sorted({n for points in series.values() for n, _ in points})
    axes.set_xticks(sizes, [f"{n:,}" for n in sizes])
    axes.minorticks_off()
    axes.set_xlabel("tasks (diamond: 10 layers, each task requiring two of the layer before)")
    axes.set_ylabel("seconds")
    axes.set_title("Cost against flow size (log-log; slope 1 = linear, 2 = quadratic)")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return ""


def _intro(existing: Path) -> str:
    try:
        text = existing.read_text()
    except OSError:
        return INTRO
    match = re.search(re.escape(_INTRO_START) + r"\n(.*?)" + re.escape(_INTRO_END), text, re.S)
    return match.group(1) if match else INTRO


def _baseline_name(row: Row) -> str:
    return row.baseline.split(":")[0]


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _table(rows: list[Row]) -> list[str]:
    lines = [
        "| case | figure | flowlib | baseline | target | measured | result | notes |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        cells = [row.case, row.figure, row.flowlib, row.baseline, row.target, row.measured, row.verdict, row.note]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return lines


def _scaling_table(series: dict[str, list[tuple[int, float]]]) -> list[str]:
    sizes = sorted({n for points in series.values() for n, _ in points})
    lines = ["| tasks | " + " | ".join(sorted(series)) + " |", "|---" * (len(series) + 1) + "|"]
    for n in sizes:
        cells = [fmt_seconds(dict(series[name]).get(n)) for name in sorted(series)]
        lines.append(f"| {n:,} | " + " | ".join(cells) + " |")
    return lines


def _profile_section(profile: Profile) -> list[str]:
    lines = [f"### {profile.figure}", ""]
    if profile.error:
        return lines + [f"The profile could not be taken: {profile.error}", ""]
    compared = profile.baseline_seconds is not None
    scale = f" x {profile.scale:g}" if profile.scale != 1 else ""
    lines.append(
        f"Profiled flowlib run: {fmt_seconds(profile.seconds)}"
        + (
            f"; profiled baseline{scale}: {fmt_seconds((profile.baseline_seconds or 0) * profile.scale)}"
            if compared
            else ""
        )
        + " (cProfile slows Python code more than C code). Self time by area"
        + (", largest extra first:" if compared else ":")
    )
    if profile.baseline_error:
        lines.append(f"(The baseline could not be profiled: {profile.baseline_error}.)")
    lines += ["", "| area | flowlib | baseline | extra |", "|---|---|---|---|"]
    total = sum(mine for _a, mine, _b in profile.areas) or 1.0
    for area, mine, base in profile.areas:
        if max(mine, base) / total >= 0.01:
            base_text = fmt_seconds(base) if compared else "—"
            lines.append(
                f"| {area} | {fmt_seconds(mine)} | {base_text} | {fmt_seconds(mine - base) if compared else '—'} |"
            )
    lines.append("")
    advice = profile.advice()
    if advice:
        lines += ["What would close it:", ""] + [f"* **{area}**: {text}" for area, text in advice] + [""]
    lines += [
        "<details><summary>Functions by extra cumulative time, then the flowlib profile</summary>",
        "",
        "```",
        profile.extra_functions,
        "```",
        "",
        "```",
        profile.cumulative,
        "```",
        "",
        "```",
        profile.self_time,
        "```",
        "",
        "</details>",
        "",
    ]
    return lines


def write_report(
    out: Path,
    cases: list[CaseResult],
    profiles: list[Profile],
    *,
    smoke: bool,
    command: str,
    started: float,
    loads: tuple[float, float],
    others: list[float] | None = None,
    plot_name: str = "benchmark-scaling.png",
) -> tuple[Path, str]:
    """Write ``out/benchmarks.md`` and the plot; returns the markdown path and the plot note."""
    out.mkdir(parents=True, exist_ok=True)
    md_path = out / "benchmarks.md"
    rows = [row for case in cases for row in case.rows]
    judged = [row for row in rows if row.passed is not None]
    failed = [row for row in judged if not row.passed]
    series = {k: v for case in cases for k, v in case.scaling.items()}
    plot_note = plot_scaling(series, out / plot_name) if series else "scaling was not run"
    lines = ["# Benchmarks", "", _INTRO_START, _intro(md_path).rstrip("\n"), _INTRO_END, ""]
    lines += [
        "## How to run",
        "",
        "```",
        "pip install -e .[bench]        # d6tflow, Kedro and matplotlib",
        "python -m benchmarks.run       # full suite, writes this file (several minutes)",
        "python -m benchmarks.run --smoke            # small sizes, under a minute (CI)",
        "python -m benchmarks.run --only rerun preview",
        "```",
        "",
    ]
    lines += ["## This run", ""]
    mode = "smoke mode (small sizes: the ratios say little)" if smoke else "full suite"
    lines.append(
        f"* `{command}`: {mode}, {time.strftime('%Y-%m-%d %H:%M', time.localtime(started))}, "
        f"{(time.time() - started) / 60:.1f} minutes."
    )
    lines.append(f"* Machine: {machine()}.")
    lines.append(
        f"* Load average (1 min) at the start {loads[0]:.2f}, highest before a measurement {loads[1]:.2f} "
        "(a lagging average that counts this suite's own measurements; the next line measures other processes)."
    )
    if others:
        busy = sorted(others)
        lines.append(
            f"* Other processes on the machine kept {busy[len(busy) // 2]:.2f} CPUs busy during the median measurement"
            f" and up to {busy[-1]:.2f} during the busiest; rows measured while they used {CONTENDED} CPUs or more"
            " say so in their notes."
        )
    lines.append("* Versions: " + ", ".join(f"{k} {v}" for k, v in versions().items()) + ".")
    short = ", ".join(f"{r.case} {r.figure} vs {_baseline_name(r)}" for r in failed)
    lines.append(
        f"* **{len(judged) - len(failed)} of {len(judged)} figures meet their target**"
        + (f"; short: {short}." if failed else ".")
    )
    lines.append("")
    lines += ["## Results", ""] + _table(rows) + [""]
    for case in cases:
        if case.notes:
            lines += [f"* {case.title}: " + " ".join(case.notes)]
    if any(case.notes for case in cases):
        lines.append("")
    if series:
        lines += ["## Growth with size", ""]
        lines += (
            [f"![cost against number of tasks]({plot_name})", ""] if not plot_note else [f"(No plot: {plot_note}.)", ""]
        )
        lines += _scaling_table(series) + [""]
    if profiles:
        lines += [
            "## Where the time goes (figures short of, or close to, their target)",
            "",
            "Each profile reruns the flowlib side of the figure alone in a fresh process under cProfile, and its "
            "baseline likewise; the tables compare them area by area (self time) and function by function "
            "(cumulative time), so the *extra* columns are what flowlib spends beyond the baseline. cProfile adds "
            "a cost per Python call, so Python-heavy code looks slower than it is next to C code.",
            "",
        ]
        for profile in profiles:
            lines += _profile_section(profile)
    elif failed:
        lines += [
            "## Where the time goes",
            "",
            "Profiles were not taken in this run (`--no-profile` or smoke mode).",
            "",
        ]
    md_path.write_text("\n".join(lines).rstrip("\n") + "\n")
    return md_path, plot_note


def summary_lines(cases: list[CaseResult]) -> list[str]:
    """The table as plain text for the terminal: one line per figure."""
    out = []
    for case in cases:
        for row in case.rows:
            out.append(
                f"{row.verdict:>8}  {row.case:<18} {row.figure[:58]:<58} {row.measured:<22} "
                f"target {row.target:<18} flowlib {row.flowlib:<10} {row.baseline}"
            )
    return out


def as_json(cases: list[CaseResult], profiles: list[Profile]) -> dict[str, Any]:
    return {
        "cases": [
            {
                "name": c.name,
                "title": c.title,
                "rows": [r.to_dict() for r in c.rows],
                "scaling": c.scaling,
                "notes": c.notes,
            }
            for c in cases
        ],
        "profiles": [p.__dict__ for p in profiles],
        "machine": machine(),
        "versions": versions(),
    }
