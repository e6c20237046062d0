"""Where the time goes: rerun the flowlib side of a figure (and its baseline) under cProfile.

Both profiles are grouped into areas (luigi task construction, file system calls, records,
hashing, pyarrow, ...); the difference between them is the time flowlib spends that the
baseline does not, and the functions with the most extra cumulative time say where exactly.

Example:
    >>> area_of(("~", 0, "<built-in method posix.stat>"))
    'file system calls'
"""

from __future__ import annotations

import io
import os
import pstats
import tempfile
from dataclasses import dataclass, field
from typing import Any

from benchmarks.harness import run_child

__all__ = ["Profile", "profile", "area_of", "ADVICE"]

Recipe = tuple[str, dict[str, Any]]
FunctionKey = tuple[str, int, str]

# (area, substrings of the file path or built-in name); the first match wins.
_AREAS: list[tuple[str, tuple[str, ...]]] = [
    ("flowlib parameter checks", ("flowlib/paramcheck.py",)),
    (
        "luigi task construction",
        (
            "luigi/task_register.py",
            "luigi/task.py",
            "luigi/parameter.py",
            "luigi/configuration",
            "luigi/freezing.py",
            "luigi/util.py",
        ),
    ),
    ("records (JSON)", ("flowlib/record/", "/json/", "_json.")),
    ("hashing outputs", ("flowlib/hashing.py", "_hashlib", "hashlib")),
    ("code fingerprint", ("flowlib/fingerprint.py", "/inspect.py", "/ast.py", "/tokenize.py", "/linecache.py")),
    ("locks", ("flowlib/locks.py",)),
    ("plan (graph walk)", ("flowlib/plan.py", "flowlib/completion.py")),
    ("preview rendering", ("flowlib/preview.py",)),
    (
        "runner and executor",
        (
            "flowlib/runner.py",
            "flowlib/execution/",
            "flowlib/result.py",
            "concurrent/futures",
            "/threading.py",
            "/multiprocessing/",
            "cloudpickle",
        ),
    ),
    (
        "flowlib task and targets",
        ("flowlib/task.py", "flowlib/targets/", "flowlib/storage.py", "flowlib/dependencies.py"),
    ),
    (
        "file system calls",
        (
            "posix.",
            "io.open",
            "_io.",
            "/os.py",
            "/genericpath.py",
            "posixpath",
            "<frozen os>",
            "<frozen genericpath>",
            "/shutil.py",
            "/tempfile.py",
            "/pathlib.py",
            "/uuid.py",
        ),
    ),
    ("pyarrow", ("pyarrow",)),
    ("pandas", ("pandas/",)),
    ("numpy", ("numpy",)),
    ("logging", ("/logging/",)),
    ("luigi worker and scheduler", ("luigi/", "d6tflow/")),
    ("benchmark code", ("benchmarks/",)),
    ("Python built-ins", ("{built-in method builtins.", "<built-in method builtins.")),
]

#: Areas a baseline pays too: without a baseline profile, their size says nothing about flowlib.
_SHARED = {"pyarrow", "pandas", "numpy", "other", "benchmark code", "luigi task construction"}

#: What would shrink each area, when flowlib spends much more there than the baseline.
ADVICE: dict[str, str] = {
    "luigi task construction": (
        "luigi's Register.__call__ runs get_params() and get_param_values() (a config lookup per parameter), then "
        "Task.__init__ builds param_kwargs and task_id_str (JSON + md5) for every instance. Construct each task once "
        "(requires() is called again by the runner, the record and input_load), cache get_params per class, skip "
        "config lookups for values given explicitly, build task_id once."
    ),
    "flowlib parameter checks": (
        "flowlib's strict parameter check runs for every construction, also when luigi's instance cache hits; "
        "cache the per-class lookup and skip values already of the right type before normalising."
    ),
    "file system calls": (
        "Syscalls the baseline does not make: stat of outputs and record, lock file create/remove, the record's "
        "temporary file and rename, reading the output back to hash it, getsize. List each family directory once "
        "(os.scandir) and answer exists() from it while planning; skip the lock file when one worker runs in one "
        "process; hash while writing."
    ),
    "records (JSON)": (
        "Each task writes its record as a second file beside its output: creating a file costs far more than "
        "appending to one (a record store holding a family's records in one file would save that); upstream records "
        "are not read again (the runner hands them over)."
    ),
    "hashing outputs": (
        "Parquet and CSV files are read back to hash them (XXH3-128); pickle and JSON are hashed while written. "
        "Hash Parquet while writing too (through a Python file object), or fingerprint large files by size + mtime "
        "+ a sampled hash."
    ),
    "code fingerprint": "inspect.getsource + ast per task class: compute it once per class, never per task.",
    "locks": (
        "One byte-range lock per task on a shared lock file (no file per task); it keeps two processes running the "
        "same flow apart, so it stays even with workers=1."
    ),
    "plan (graph walk)": "The plan walk itself: one pass with dicts keyed by task_id; do not decide a node twice.",
    "preview rendering": "Rendering the tree: build lines with cached labels (str(task) is costly in luigi).",
    "runner and executor": (
        "Per-task overhead of the runner (refresh() before each task, outcome objects, progress, executor). Skip "
        "refresh() for tasks no other process can complete (workers=1, no luigid)."
    ),
    "flowlib task and targets": (
        "flowlib's Task methods (output() building targets, storage() lookups, save bookkeeping): cache targets per "
        "task, resolve storage once per run."
    ),
    "pyarrow": (
        "pyarrow work the baseline does not do: e.g. resolving the filesystem from a path string on every write "
        "(pass an open file or a FileSystem), converting or reading the data a second time."
    ),
    "pandas": (
        "pandas work the baseline does not do: e.g. describe() building str(dtype) for every column of every saved "
        "frame for the record (take the schema from the Arrow table already built for writing), or a copy such as "
        "reset_index()."
    ),
    "numpy": "numpy work the baseline does not do (a conversion or copy of the data).",
    "logging": "Logging calls per task: guard them with isEnabledFor or log once per run.",
}


def area_of(key: FunctionKey) -> str:
    """Which area a pstats function key belongs to."""
    filename, _line, name = key
    text = (filename + " " + name).replace(os.sep, "/")
    for area, needles in _AREAS:
        if any(needle in text for needle in needles):
            return area
    return "other"


@dataclass
class Profile:
    """A profile of the flowlib side, compared with the baseline's when there is one."""

    figure: str
    seconds: float = 0.0
    baseline_seconds: float | None = None
    scale: float = 1.0
    #: ``(area, flowlib self seconds, baseline self seconds x scale)``, largest extra first.
    areas: list[tuple[str, float, float]] = field(default_factory=list)
    extra_functions: str = ""
    cumulative: str = ""
    self_time: str = ""
    error: str = ""
    baseline_error: str = ""

    def advice(self, top: int = 3) -> list[tuple[str, str]]:
        """Advice for the areas where flowlib spends the most beyond the baseline.

        Without a baseline profile, only areas that are flowlib's own are named.
        """
        total = sum(mine for _a, mine, _b in self.areas) or 1.0
        compared = self.baseline_seconds is not None
        found = [
            (a, ADVICE[a])
            for a, mine, base in self.areas
            if a in ADVICE and (compared or a not in _SHARED) and (mine - base) / total >= 0.04
        ]
        return found[:top]


def _table(stats: pstats.Stats, sort: str, limit: int) -> str:
    stream = io.StringIO()
    stats.stream = stream  # type: ignore[attr-defined]
    stats.sort_stats(sort).print_stats(limit)
    lines = stream.getvalue().splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip().startswith("ncalls")), 0)
    return "\n".join(line.rstrip() for line in lines[start:] if line.strip())


def _take(recipe: Recipe, fresh_dir: str, timeout: float) -> tuple[pstats.Stats | None, float, str]:
    target, kwargs = recipe
    kwargs = {k: (fresh_dir if v == "@fresh" else v) for k, v in kwargs.items()}
    with tempfile.TemporaryDirectory(prefix="flowlib-profile-") as scratch:
        path = os.path.join(scratch, "profile.pstats")
        sample = run_child(target, kwargs, timeout=timeout, profile_path=path)
        if "error" in sample or not os.path.exists(path):
            return None, 0.0, str(sample.get("error", "the measured region wrote no profile"))
        return pstats.Stats(path), float(sample.get("seconds", 0.0)), ""


def _by_area(stats: pstats.Stats) -> dict[str, float]:
    totals: dict[str, float] = {}
    raw: dict[FunctionKey, Any] = stats.stats  # type: ignore[attr-defined]
    for key, (_cc, _nc, tottime, _ct, _callers) in raw.items():
        area = area_of(key)
        totals[area] = totals.get(area, 0.0) + tottime
    return totals


def _label(key: FunctionKey) -> str:
    filename, line, name = key
    return f"{os.path.basename(filename)}:{line}({name})" if filename != "~" else name


def _extra_functions(mine: pstats.Stats, base: pstats.Stats | None, scale: float, limit: int = 20) -> str:
    """Functions by cumulative time beyond the baseline's (the baseline's times x ``scale``)."""
    ours: dict[FunctionKey, Any] = mine.stats  # type: ignore[attr-defined]
    theirs: dict[FunctionKey, Any] = base.stats if base is not None else {}  # type: ignore[attr-defined]
    rows = []
    for key, (_cc, calls, _tt, cumulative, _callers) in ours.items():
        other = theirs.get(key)
        other_cum = other[3] * scale if other else 0.0
        other_calls = other[1] * scale if other else 0.0
        rows.append((cumulative - other_cum, cumulative, other_cum, calls, other_calls, key))
    rows.sort(key=lambda row: -row[0])
    lines = [f"{'extra s':>9} {'flowlib s':>10} {'baseline s':>10} {'calls':>9} {'base calls':>10}  function"]
    for extra, cumulative, other_cum, calls, other_calls, key in rows[:limit]:
        lines.append(f"{extra:9.3f} {cumulative:10.3f} {other_cum:10.3f} {calls:9d} {other_calls:10.0f}  {_label(key)}")
    return "\n".join(lines)


def profile(
    figure: str,
    recipe: Recipe,
    *,
    baseline: Recipe | None = None,
    scale: float = 1.0,
    fresh_dir: str,
    timeout: float,
) -> Profile:
    """Profile ``recipe`` (and ``baseline``) in fresh processes and compare them area by area."""
    mine, seconds, error = _take(recipe, fresh_dir, timeout)
    result = Profile(figure, seconds=seconds, scale=scale, error=error)
    if mine is None:
        return result
    base = None
    if baseline is not None:
        base, base_seconds, result.baseline_error = _take(baseline, fresh_dir + "-baseline", timeout)
        result.baseline_seconds = base_seconds if base is not None else None
    ours = _by_area(mine)
    theirs = {area: value * scale for area, value in _by_area(base).items()} if base is not None else {}
    areas = set(ours) | set(theirs)
    result.areas = sorted(
        ((a, ours.get(a, 0.0), theirs.get(a, 0.0)) for a in areas), key=lambda item: -(item[1] - item[2])
    )
    result.extra_functions = _extra_functions(mine, base, scale)
    mine.strip_dirs()
    result.cumulative = _table(mine, "cumulative", 25)
    result.self_time = _table(mine, "tottime", 15)
    return result
