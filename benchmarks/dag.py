"""Measurements on task graphs (cases 1-4), each run by ``benchmarks.child`` in a fresh process.

``kind`` says what is measured: ``flowlib``, ``luigi`` (local scheduler), ``d6tflow``, ``kedro``
(a Kedro pipeline, first run only) or ``floor`` (the least any library could do: construct the
same tasks as plain luigi tasks and write, or stat, their files directly). Every function returns
``{"seconds": ..., ...}``; the clock covers building the root tasks and everything after, never imports.

Example:
    >>> first_run(kind="floor", shape="chain", n=20, directory="/tmp/flowlib-bench-doc")["tasks"]
    20
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.flows import group_roots, plain_path, roots, set_plain_root, tiny_frame, walk
from benchmarks.timing import measured

__all__ = ["first_run", "rerun", "preview", "construct", "depth", "depth_other", "breadth"]


def _quiet_d6tflow(directory: str) -> Any:
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        import d6tflow

    d6tflow.set_dir(directory)
    d6tflow.settings.log_level = "WARNING"
    return d6tflow


def _prepare(kind: str, directory: str) -> Any:
    os.makedirs(directory, exist_ok=True)
    if kind == "flowlib":
        import flowlib

        flowlib.set_dir(directory)
        return flowlib
    if kind in ("luigi", "floor"):
        set_plain_root(directory)
        return None
    if kind == "d6tflow":
        return _quiet_d6tflow(directory)
    if kind == "kedro":
        from benchmarks import kedro_flows

        kedro_flows.quiet_kedro()
        import kedro.runner  # noqa: F401 - imported here, so the clock does not count it
        import kedro_datasets.pandas  # noqa: F401

        return kedro_flows
    raise ValueError(f"unknown kind {kind!r}")


def _luigi_build(tasks: list[Any]) -> bool:
    import luigi

    return bool(luigi.build(tasks, local_scheduler=True, workers=1, log_level="WARNING"))


def _d6tflow_run(d6tflow: Any, tasks: list[Any]) -> None:
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        d6tflow.run(tasks, execution_summary=False)


def _count_files(directory: str, suffix: str) -> int:
    return sum(1 for _d, _s, files in os.walk(directory) for name in files if name.endswith(suffix))


def first_run(*, kind: str, shape: str, n: int, directory: str) -> dict[str, Any]:
    """Run an ``n``-task flow from nothing, ``workers=1``; each task saves a tiny DataFrame."""
    lib = _prepare(kind, directory)
    info: dict[str, Any] = {}
    with measured() as clock:
        if kind == "flowlib":
            result = lib.run(roots("flowlib", shape, n), workers=1)
            info["ran"] = len(result.ran)
        elif kind == "luigi":
            info["ok"] = _luigi_build(roots("luigi", shape, n))
        elif kind == "d6tflow":
            _d6tflow_run(lib, roots("d6tflow", shape, n))
        elif kind == "kedro":
            info["ran"] = lib.run_kedro(shape, n, directory)
        else:
            started = time.perf_counter()
            tasks = walk(roots("luigi", shape, n))
            info["construct_seconds"] = time.perf_counter() - started
            made: set[str] = set()
            for task in tasks:
                path = plain_path(task)
                folder = os.path.dirname(path)
                if folder not in made:
                    os.makedirs(folder, exist_ok=True)
                    made.add(folder)
                tmp = f"{folder}/.{os.path.basename(path)}.{os.getpid()}.tmp"
                pq.write_table(pa.Table.from_pandas(tiny_frame(1)), tmp, compression="zstd")
                os.replace(tmp, path)
            info["tasks"] = len(tasks)
    info["files"] = _count_files(directory, ".parquet")
    if kind == "flowlib" and info["ran"] != n:
        raise RuntimeError(f"flowlib ran {info['ran']} of {n} tasks")
    if info["files"] < n:
        raise RuntimeError(f"{kind} left {info['files']} of {n} output files")
    return {"seconds": clock.seconds, "cpu_seconds": clock.cpu_seconds, **info}


def rerun(*, kind: str, shape: str, n: int, directory: str) -> dict[str, Any]:
    """Run again a flow that is complete: plan it and find nothing to do (``floor``: construct + stat)."""
    lib = _prepare(kind, directory)
    info: dict[str, Any] = {}
    with measured() as clock:
        if kind == "flowlib":
            result = lib.run(roots("flowlib", shape, n), workers=1)
            info.update(ran=len(result.ran), checked=len(result.outcomes))
        elif kind == "luigi":
            info["ok"] = _luigi_build(roots("luigi", shape, n))
        elif kind == "d6tflow":
            _d6tflow_run(lib, roots("d6tflow", shape, n))
        else:
            tasks = walk(roots("luigi", shape, n))
            for task in tasks:
                os.stat(plain_path(task))
            info["checked"] = len(tasks)
    if kind == "flowlib" and (info["ran"] or info["checked"] != n):
        raise RuntimeError(f"flowlib rerun ran {info['ran']} tasks and checked {info['checked']} of {n}")
    return {"seconds": clock.seconds, **info}


def preview(*, kind: str, shape: str, n: int, directory: str) -> dict[str, Any]:
    """Render the status tree of a complete flow (text, not printed for flowlib)."""
    lib = _prepare(kind, directory)
    info: dict[str, Any] = {}
    with measured() as clock:
        if kind == "flowlib":
            text = str(lib.preview(roots("flowlib", shape, n), show=False))
        elif kind == "luigi":
            from luigi.tools.deps_tree import print_tree

            text = "\n".join(print_tree(task) for task in roots("luigi", shape, n))
        elif kind == "d6tflow":
            sink = open(os.devnull, "w")
            with sink, contextlib.redirect_stdout(sink):
                lib.preview(roots("d6tflow", shape, n))
            text = ""
        else:
            raise ValueError("the preview floor is the rerun floor: rerun(kind='floor')")
    if text:
        info["lines"] = text.count("\n") + 1
        info["lines_per_task"] = info["lines"] / n
        info["complete_lines"] = text.count("COMPLETE")
    return {"seconds": clock.seconds, **info}


def construct(*, kind: str, shape: str, n: int) -> dict[str, Any]:
    """Only construct and walk the tasks (no files): flowlib's task construction against luigi's."""
    with measured() as clock:
        tasks = walk(roots(kind, shape, n))
    return {"seconds": clock.seconds, "tasks": len(tasks)}


def depth(*, n: int, directory: str) -> dict[str, Any]:
    """A chain of ``n`` tasks: plan, run and preview at Python's default recursion limit."""
    import flowlib

    flowlib.set_dir(directory)
    limit = sys.getrecursionlimit()
    info: dict[str, Any] = {"limit_before": limit}
    with measured() as plan_clock:
        plan = flowlib.build_plan(roots("flowlib", "chain", n))
    info["plan_seconds"], info["planned"] = plan_clock.seconds, len(plan.nodes)
    with measured() as run_clock:
        result = flowlib.run(roots("flowlib", "chain", n))
    info["run_seconds"], info["ran"] = run_clock.seconds, len(result.ran)
    with measured() as preview_clock:
        text = str(flowlib.preview(roots("flowlib", "chain", n), show=False))
    info["preview_seconds"], info["lines"] = preview_clock.seconds, text.count("\n") + 1
    info["limit_after"] = sys.getrecursionlimit()
    info["seconds"] = plan_clock.seconds + run_clock.seconds + preview_clock.seconds
    if info["ran"] != n or info["planned"] != n:
        raise RuntimeError(f"chain of {n}: planned {info['planned']}, ran {info['ran']}")
    return info


def depth_other(*, kind: str, n: int, directory: str) -> dict[str, Any]:
    """The same chain in luigi (``deps_tree`` preview) or d6tflow (run); they may fail."""
    lib = _prepare(kind, directory)
    with measured() as clock:
        if kind == "luigi":
            from luigi.tools.deps_tree import print_tree

            print_tree(roots("luigi", "chain", n)[0])
        else:
            _d6tflow_run(lib, roots("d6tflow", "chain", n))
    return {"seconds": clock.seconds}


def breadth(*, kind: str, what: str, groups: int, size: int, directory: str) -> dict[str, Any]:
    """A root requiring ``groups`` groups of ``size`` leaves: flowlib plans or previews; floor walks."""
    info: dict[str, Any] = {}
    if kind == "flowlib":
        import flowlib

        flowlib.set_dir(directory)
        with measured() as clock:
            if what == "plan":
                info["tasks"] = len(flowlib.build_plan(group_roots("flowlib", groups, size)).nodes)
            else:
                text = str(flowlib.preview(group_roots("flowlib", groups, size), show=False))
                info["lines"] = text.count("\n") + 1
    else:
        with measured() as clock:
            info["tasks"] = len(walk(group_roots("luigi", groups, size)))
    return {"seconds": clock.seconds, **info}
