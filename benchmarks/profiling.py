"""Where the time goes: rerun the flowlib side of a figure under cProfile and summarise it.

The summary groups self time into buckets (luigi task construction, file system calls,
records, hashing, pyarrow, ...) and names what would shrink each large bucket.

Example:
    >>> bucket_of(("~", 0, "<built-in method posix.stat>"))
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

__all__ = ["Profile", "profile", "bucket_of", "ADVICE"]

# (bucket, substrings of the file path or built-in name); the first match wins.
_BUCKETS: list[tuple[str, tuple[str, ...]]] = [
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
    ("records (JSON)", ("flowlib/record.py", "/json/", "_json.")),
    ("hashing outputs", ("flowlib/hashing.py", "_hashlib", "hashlib")),
    ("code fingerprint", ("flowlib/fingerprint.py", "/inspect.py", "/ast.py", "/tokenize.py", "/linecache.py")),
    ("locks", ("flowlib/locks.py",)),
    ("plan (graph walk)", ("flowlib/graph.py",)),
    ("preview rendering", ("flowlib/preview.py",)),
    (
        "runner and executor",
        (
            "flowlib/runner.py",
            "flowlib/executor.py",
            "flowlib/progress.py",
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
            "/posixpath.py",
            "/shutil.py",
            "/tempfile.py",
            "/pathlib.py",
            "/uuid.py",
        ),
    ),
    ("pyarrow (format work)", ("pyarrow",)),
    ("pandas", ("pandas/",)),
    ("numpy", ("numpy",)),
    ("logging", ("/logging/",)),
    ("d6tflow/luigi worker", ("luigi/", "d6tflow/")),
    ("benchmark code", ("benchmarks/",)),
]

#: What would close each bucket, when it is large.
ADVICE: dict[str, str] = {
    "luigi task construction": (
        "luigi's Register.__call__ runs get_params() and get_param_values() (a config lookup per parameter), then "
        "Task.__init__ builds param_kwargs and task_id_str (JSON + md5) for every instance, twice per edge in a "
        "diamond. A flowlib fast path (cache get_params per class, skip config lookups for explicitly given values, "
        "build task_id once) would cut it; it is paid by the floor too, so it matters most where flowlib constructs "
        "more tasks than the floor (instance-cache misses, repeated requires() calls)."
    ),
    "flowlib parameter checks": (
        "flowlib's strict parameter check runs for every construction, also when luigi's instance cache hits; "
        "cache the per-class lookup and skip values already of the right type before normalising."
    ),
    "file system calls": (
        "Several syscalls per task (stat of outputs and record, lock file create/remove, makedirs, temp file, rename, "
        "getsize). List each family directory once (os.scandir) and answer exists() from that listing while planning; "
        "skip the lock file when one worker runs in one process; create each directory once."
    ),
    "records (JSON)": (
        "Each task's record is written (json.dumps with indent) and read back (planning, _consumed, refresh). Read "
        "records only when a task's outputs exist and staleness is checked, keep the records read while planning "
        "for the run, and write compact JSON."
    ),
    "hashing outputs": (
        "Every saved file is read back to hash it (sha256). Hash while writing (a hashing file wrapper), or use a "
        "faster digest (blake2b, or xxhash when installed) or hash only size+mtime for large files."
    ),
    "code fingerprint": (
        "inspect.getsource + ast per task class: make sure it is computed once per class (it is cached in-process) "
        "and not per task."
    ),
    "locks": "Lock files per task: skip them with workers=1 in one process, or take one lock per run.",
    "plan (graph walk)": "The plan walk itself: keep it one pass with dicts keyed by task_id; avoid re-deciding nodes.",
    "preview rendering": "Rendering the tree: build lines with cached labels (str(task) is costly in luigi).",
    "runner and executor": (
        "Per-task overhead of the runner (refresh() before each task, outcome objects, progress, executor). Skip "
        "refresh() for tasks no other process can complete (workers=1, no luigid), batch bookkeeping."
    ),
    "flowlib task and targets": (
        "flowlib's Task methods (output() building targets, storage() lookups, _select/save bookkeeping): cache "
        "targets per task, resolve storage once per run."
    ),
    "pyarrow (format work)": "Format work in pyarrow: the baseline pays it too; only codec or copy choices change it.",
    "pandas": "pandas work (DataFrame construction/conversion): mostly shared with the baseline.",
}


def bucket_of(key: tuple[str, int, str]) -> str:
    """Which bucket a pstats function key belongs to."""
    filename, _line, name = key
    text = (filename + " " + name).replace(os.sep, "/")
    for bucket, needles in _BUCKETS:
        if any(needle in text for needle in needles):
            return bucket
    return "other"


@dataclass
class Profile:
    figure: str
    seconds: float = 0.0
    buckets: list[tuple[str, float]] = field(default_factory=list)
    cumulative: str = ""
    self_time: str = ""
    error: str = ""

    def advice(self, top: int = 3) -> list[tuple[str, str]]:
        """Advice for the largest buckets that flowlib controls."""
        found = [(b, ADVICE[b]) for b, share in self.buckets if b in ADVICE and share >= 0.05]
        return found[:top]


def _table(stats: pstats.Stats, sort: str, limit: int) -> str:
    stream = io.StringIO()
    stats.stream = stream  # type: ignore[attr-defined]
    stats.sort_stats(sort).print_stats(limit)
    lines = stream.getvalue().splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip().startswith("ncalls")), 0)
    return "\n".join(line.rstrip() for line in lines[start:] if line.strip())


def profile(figure: str, target: str, kwargs: dict[str, Any], *, fresh_dir: str, timeout: float) -> Profile:
    """Run ``target(**kwargs)`` under cProfile in a fresh process and summarise the measured region."""
    kwargs = {k: (fresh_dir if v == "@fresh" else v) for k, v in kwargs.items()}
    with tempfile.TemporaryDirectory(prefix="flowlib-profile-") as scratch:
        path = os.path.join(scratch, "profile.pstats")
        sample = run_child(target, kwargs, timeout=timeout, profile_path=path)
        result = Profile(figure, seconds=float(sample.get("seconds", 0.0)))
        if "error" in sample or not os.path.exists(path):
            result.error = sample.get("error", "no profile written")
            return result
        stats = pstats.Stats(path)
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    totals: dict[str, float] = {}
    for key, (_cc, _nc, tottime, _ct, _callers) in raw.items():
        totals[bucket_of(key)] = totals.get(bucket_of(key), 0.0) + tottime
    whole = sum(totals.values()) or 1.0
    result.buckets = sorted(((b, t / whole) for b, t in totals.items()), key=lambda item: -item[1])
    stats.strip_dirs()
    result.cumulative = _table(stats, "cumulative", 25)
    result.self_time = _table(stats, "tottime", 15)
    return result
