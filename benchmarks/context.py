"""What the cases share: the sizes of the full suite and of smoke mode, scratch directories,
which libraries are measured, and results one case can reuse from another.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.harness import Measured, interleaved
from benchmarks.rows import Row, check

__all__ = ["Sizes", "FULL", "SMOKE", "Context", "CaseResult", "FRESH", "GIB", "fixed", "missing_d6tflow", "failed"]

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
    #: Repeats of the first runs: their target is tight and one measurement moves by 10-15% on a shared machine.
    first_run_repeats: int
    #: Repeats of each save and load in the throughput case (in one process, after a warm-up round).
    io_repeats: int
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
    first_run_repeats=5,
    io_repeats=7,
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
    first_run_repeats=1,
    io_repeats=1,
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
    #: Why Kedro is not measured (``None``: it is).
    kedro_missing: str | None = None
    memo: dict[tuple[Any, ...], Measured] = field(default_factory=dict)
    complete: dict[tuple[str, str, int], str] = field(default_factory=dict)
    _ids: itertools.count = field(default_factory=itertools.count)

    def fresh(self, label: str) -> str:
        path = self.workdir / f"{label}-{next(self._ids)}"
        return str(path)

    def kinds(self, *kinds: str) -> list[str]:
        missing = {"d6tflow": self.d6tflow_missing, "kedro": self.kedro_missing}
        return [k for k in kinds if missing.get(k) is None]

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


def fixed(kwargs: dict[str, Any]) -> Callable[[int], dict[str, Any]]:
    """The same arguments in every round."""
    return lambda _round: kwargs


def missing_d6tflow(case: str, figure: str, ctx: Context) -> Row:
    return check(
        case,
        figure,
        "not measured",
        None,
        "—",
        baseline="d6tflow: —",
        note=f"d6tflow not measured: {ctx.d6tflow_missing}",
    )


def failed(name: str, error: Measured) -> Measured:
    failed = Measured(name, error=f"setup failed: {error.describe_error()}", details=error.details)
    return failed
