"""The DAG shapes of the benchmarks, written three times: flowlib, plain luigi and d6tflow.

Every task saves a tiny DataFrame and takes the same parameters in each framework, so the
three flows have the same tasks, the same edges and the same outputs.

Shapes (``n`` tasks each):
    chain    Chain(i=n-1) requires Chain(i=n-2) ... requires Chain(i=0)
    fanin    FanRoot(n) requires FanLeaf(i) for i < n-1
    diamond  10 layers of n/10; each task requires two tasks of the layer before
    groups   GroupRoot requires ``groups`` Group tasks, each requiring ``size`` leaves

Example:
    >>> tasks = walk(roots("luigi", "diamond", 100))
    >>> len(tasks)
    100
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable
from typing import Any

import luigi
import pandas as pd
from luigi.task import flatten

import flowlib

__all__ = ["SHAPES", "roots", "group_roots", "walk", "tiny_frame", "plain_path", "set_plain_root", "DIAMOND_LAYERS"]

SHAPES = ("chain", "fanin", "diamond")
DIAMOND_LAYERS = 10
_plain_root = {"dir": "bench-data"}


def tiny_frame(value: int) -> pd.DataFrame:
    """The tiny output every benchmark task saves (one row, two columns)."""
    return pd.DataFrame({"value": [value], "half": [value / 2]})


def set_plain_root(path: str) -> None:
    """Where the plain luigi tasks (and the floor) write their files."""
    _plain_root["dir"] = path


def plain_path(task: luigi.Task) -> str:
    """The output file of a plain luigi benchmark task (also what the floor writes)."""
    return f"{_plain_root['dir']}/{task.task_family}/{task.task_id}.parquet"


def _diamond_requires(cls: Any, task: Any) -> list[Any]:
    if task.layer == 0:
        return []
    below = task.layer - 1
    width = task.width
    return [cls(layer=below, idx=task.idx, width=width), cls(layer=below, idx=(task.idx + 1) % width, width=width)]


# -- flowlib ----------------------------------------------------------------------------------
class FlChain(flowlib.TaskParquet):
    i = flowlib.IntParameter()

    def requires(self) -> Any:
        return FlChain(i=self.i - 1) if self.i > 0 else []

    def run(self) -> None:
        self.save(tiny_frame(self.i))


class FlFanLeaf(flowlib.TaskParquet):
    i = flowlib.IntParameter()

    def run(self) -> None:
        self.save(tiny_frame(self.i))


class FlFanRoot(flowlib.TaskParquet):
    n = flowlib.IntParameter()

    def requires(self) -> Any:
        return [FlFanLeaf(i=i) for i in range(self.n - 1)]

    def run(self) -> None:
        self.save(tiny_frame(self.n))


class FlDiamond(flowlib.TaskParquet):
    layer = flowlib.IntParameter()
    idx = flowlib.IntParameter()
    width = flowlib.IntParameter()

    def requires(self) -> Any:
        return _diamond_requires(FlDiamond, self)

    def run(self) -> None:
        self.save(tiny_frame(self.idx))


class FlLeaf(flowlib.TaskParquet):
    group = flowlib.IntParameter()
    j = flowlib.IntParameter()

    def run(self) -> None:
        self.save(tiny_frame(self.j))


class FlGroup(flowlib.TaskParquet):
    group = flowlib.IntParameter()
    size = flowlib.IntParameter()

    def requires(self) -> Any:
        return [FlLeaf(group=self.group, j=j) for j in range(self.size)]

    def run(self) -> None:
        self.save(tiny_frame(self.group))


class FlGroupRoot(flowlib.TaskParquet):
    groups = flowlib.IntParameter()
    size = flowlib.IntParameter()

    def requires(self) -> Any:
        return [FlGroup(group=g, size=self.size) for g in range(self.groups)]

    def run(self) -> None:
        self.save(tiny_frame(self.groups))


# -- plain luigi --------------------------------------------------------------------------------
class _PlainParquet(luigi.Task):
    """A plain luigi task writing its tiny frame as Parquet, atomically (luigi's temporary_path)."""

    def output(self) -> luigi.LocalTarget:
        return luigi.LocalTarget(plain_path(self))

    def value(self) -> int:
        return 0

    def run(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        with self.output().temporary_path() as tmp:
            pq.write_table(pa.Table.from_pandas(tiny_frame(self.value())), tmp, compression="zstd")


class LgChain(_PlainParquet):
    i = luigi.IntParameter()

    def requires(self) -> Any:
        return LgChain(i=self.i - 1) if self.i > 0 else []


class LgFanLeaf(_PlainParquet):
    i = luigi.IntParameter()


class LgFanRoot(_PlainParquet):
    n = luigi.IntParameter()

    def requires(self) -> Any:
        return [LgFanLeaf(i=i) for i in range(self.n - 1)]


class LgDiamond(_PlainParquet):
    layer = luigi.IntParameter()
    idx = luigi.IntParameter()
    width = luigi.IntParameter()

    def requires(self) -> Any:
        return _diamond_requires(LgDiamond, self)


class LgLeaf(_PlainParquet):
    group = luigi.IntParameter()
    j = luigi.IntParameter()


class LgGroup(_PlainParquet):
    group = luigi.IntParameter()
    size = luigi.IntParameter()

    def requires(self) -> Any:
        return [LgLeaf(group=self.group, j=j) for j in range(self.size)]


class LgGroupRoot(_PlainParquet):
    groups = luigi.IntParameter()
    size = luigi.IntParameter()

    def requires(self) -> Any:
        return [LgGroup(group=g, size=self.size) for g in range(self.groups)]


# -- d6tflow (optional) ---------------------------------------------------------------------------
def d6tflow_available() -> str | None:
    """``None`` when d6tflow can be imported, else the reason it cannot."""
    try:
        with open(os.devnull, "w") as sink, _redirect_stdout(sink):
            import d6tflow  # noqa: F401
    except Exception as exc:  # noqa: BLE001 - any import failure is the reason to report
        return f"{type(exc).__name__}: {exc}"
    return None


def _redirect_stdout(sink: Any) -> Any:
    import contextlib

    return contextlib.redirect_stdout(sink)


@functools.cache
def _d6tflow_classes() -> dict[str, Any]:
    with open(os.devnull, "w") as sink, _redirect_stdout(sink):  # d6tflow prints at import
        import d6tflow

    base = d6tflow.tasks.TaskPqPandas

    class D6Chain(base):  # type: ignore[misc, valid-type]
        i = luigi.IntParameter()

        def requires(self) -> Any:
            return D6Chain(i=self.i - 1) if self.i > 0 else []

        def run(self) -> None:
            self.save(tiny_frame(self.i))

    class D6FanLeaf(base):  # type: ignore[misc, valid-type]
        i = luigi.IntParameter()

        def run(self) -> None:
            self.save(tiny_frame(self.i))

    class D6FanRoot(base):  # type: ignore[misc, valid-type]
        n = luigi.IntParameter()

        def requires(self) -> Any:
            return [D6FanLeaf(i=i) for i in range(self.n - 1)]

        def run(self) -> None:
            self.save(tiny_frame(self.n))

    class D6Diamond(base):  # type: ignore[misc, valid-type]
        layer = luigi.IntParameter()
        idx = luigi.IntParameter()
        width = luigi.IntParameter()

        def requires(self) -> Any:
            return _diamond_requires(D6Diamond, self)

        def run(self) -> None:
            self.save(tiny_frame(self.idx))

    return {"chain": D6Chain, "fanin": (D6FanRoot, D6FanLeaf), "diamond": D6Diamond}


# -- building and walking -------------------------------------------------------------------------
_CLASSES: dict[str, dict[str, Any]] = {
    "flowlib": {"chain": FlChain, "fanin": FlFanRoot, "diamond": FlDiamond, "groups": FlGroupRoot},
    "luigi": {"chain": LgChain, "fanin": LgFanRoot, "diamond": LgDiamond, "groups": LgGroupRoot},
}


def roots(kind: str, shape: str, n: int) -> list[Any]:
    """The root tasks of an ``n``-task flow of ``shape`` in framework ``kind`` (flowlib, luigi, d6tflow)."""
    if kind == "d6tflow":
        classes = _d6tflow_classes()
        chain, diamond, fanin_root = classes["chain"], classes["diamond"], classes["fanin"][0]
    else:
        chain, fanin_root, diamond = _CLASSES[kind]["chain"], _CLASSES[kind]["fanin"], _CLASSES[kind]["diamond"]
    if shape == "chain":
        return [chain(i=n - 1)]
    if shape == "fanin":
        return [fanin_root(n=n)]
    if shape == "diamond":
        width = n // DIAMOND_LAYERS
        return [diamond(layer=DIAMOND_LAYERS - 1, idx=j, width=width) for j in range(width)]
    raise ValueError(f"unknown shape {shape!r}; one of {SHAPES}")


def group_roots(kind: str, groups: int, size: int) -> list[Any]:
    """The root of the breadth flow: one task requiring ``groups`` groups of ``size`` leaves."""
    return [_CLASSES[kind]["groups"](groups=groups, size=size)]


def walk(start: Iterable[Any]) -> list[Any]:
    """Every task reachable from ``start`` once (iterative, any depth), constructing each."""
    seen: dict[str, Any] = {}
    stack = list(start)
    while stack:
        task = stack.pop()
        if task.task_id in seen:
            continue
        seen[task.task_id] = task
        stack.extend(flatten(task.requires()))
    return list(seen.values())
