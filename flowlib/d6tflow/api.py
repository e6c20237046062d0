"""d6tflow's top-level functions on flowlib's API: ``run``, ``preview``, ``show``, ``set_dir``, invalidation,
``taskflow_upstream`` / ``taskflow_downstream``, ``requires`` and ``inherits``; ``flowlib.d6tflow`` exports them.

Example:
    >>> import flowlib.d6tflow as d6tflow
    >>> d6tflow.run is run
    True
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import luigi

import flowlib
from flowlib.d6tflow import tasks as tasks_module
from flowlib.d6tflow.settings import settings
from flowlib.errors import FlowlibError, TaskFailedError

__all__ = [
    "set_dir",
    "run",
    "preview",
    "show",
    "invalidate_upstream",
    "invalidate_downstream",
    "taskflow_upstream",
    "taskflow_downstream",
    "requires",
    "inherits",
    "RunFailedError",
]

T = TypeVar("T", bound=type)


class RunFailedError(TaskFailedError, RuntimeError):
    """A task failed during ``d6tflow.run`` (d6tflow raised ``RuntimeError``); ``traceback`` has the original."""


def set_dir(dir: str | os.PathLike[str] | None = None) -> Path:  # noqa: A002 - d6tflow's name
    """Set where outputs live (``flowlib.set_dir``); returns it as a path. ``None`` keeps the current one.

    Example:
        >>> set_dir("data")  # doctest: +SKIP
        PosixPath('data')
    """
    if dir is not None:
        flowlib.set_dir(dir)
    return Path(flowlib.settings.dir)


def _as_list(tasks_: Any) -> list[Any]:
    if tasks_ is None:
        return []
    return list(tasks_) if isinstance(tasks_, (list, tuple)) else [tasks_]


_RUN_OPTIONS = {"rerun_stale", "executor", "scheduler", "progress"}
_LUIGI_OPTIONS = {"local_scheduler", "log_level", "detailed_summary"}


def run(
    tasks: luigi.Task | Iterable[luigi.Task],  # noqa: F811 - d6tflow's argument name
    forced: luigi.Task | Iterable[luigi.Task] | None = None,
    forced_all: bool = False,
    forced_all_upstream: bool = False,
    confirm: bool = False,
    workers: int = 1,
    abort: bool = True,
    execution_summary: bool | None = None,
    **options: Any,
) -> flowlib.RunResult:
    """``flowlib.run`` with d6tflow's signature; prints the execution summary unless told not to.

    ``options`` may hold flowlib's own (``rerun_stale``, ``executor``, ``scheduler``, ``progress``);
    luigi.build's ``local_scheduler``, ``log_level`` and ``detailed_summary`` are accepted and ignored.

    Example:
        >>> d6tflow.run(TaskTrain(), forced=TaskGetData(), execution_summary=False)  # doctest: +SKIP
    """
    unknown = sorted(set(options) - _RUN_OPTIONS - _LUIGI_OPTIONS)
    if unknown:
        raise FlowlibError(
            f"d6tflow.run got unknown options {unknown}; flowlib's are {sorted(_RUN_OPTIONS)} "
            "(luigi.build's other options have no flowlib equivalent)"
        )
    passed = {k: v for k, v in options.items() if k in _RUN_OPTIONS}
    roots = _as_list(tasks)
    if not settings.check_dependencies:
        roots = [t for t in roots if not (isinstance(t, tasks_module.TaskData) and t.complete(cascade=False))]
    show_summary = settings.execution_summary if execution_summary is None else bool(execution_summary)
    passed["execution_summary"] = show_summary  # flowlib.run shows the summary as d6tflow's run does
    try:
        result = flowlib.run(
            roots,
            forced=_as_list(forced) or None,
            forced_all=forced_all,
            forced_all_upstream=forced_all_upstream,
            confirm=confirm,
            workers=workers,
            abort=abort,
            **passed,
        )
    except TaskFailedError as exc:
        if isinstance(exc, RunFailedError):
            raise
        error = RunFailedError(str(exc), task=exc.task, traceback=exc.traceback)
        error.result = getattr(exc, "result", None)  # type: ignore[attr-defined]
        raise error from exc
    return result


def preview(
    tasks: luigi.Task | Iterable[luigi.Task],  # noqa: F811
    indent: str = "",
    last: bool = True,
    show_params: bool = True,
    clip_params: bool = False,
) -> flowlib.Preview:
    """``flowlib.preview``: prints flowlib's tree with each task's status (the layout options are ignored)."""
    return flowlib.preview(_as_list(tasks))


def show(task: luigi.Task | Iterable[luigi.Task]) -> flowlib.Preview:
    """Same as :func:`preview`."""
    return preview(task)


def invalidate_upstream(task: luigi.Task, confirm: bool = False) -> bool:
    """``flowlib.invalidate_upstream``: remove ``task``'s outputs and everything upstream of it."""
    return flowlib.invalidate_upstream(task, confirm=confirm)


def invalidate_downstream(task: luigi.Task, task_downstream: luigi.Task, confirm: bool = False) -> bool:
    """``flowlib.invalidate_downstream``: remove the tasks from ``task`` down to ``task_downstream``."""
    return flowlib.invalidate_downstream(task, task_downstream, confirm=confirm)


def taskflow_upstream(task: luigi.Task, only_complete: bool = False) -> list[luigi.Task]:
    """``task`` and every task upstream of it (dependencies first); ``only_complete`` keeps the complete ones."""
    plan = flowlib.build_plan([task])
    return [n.task for n in plan.nodes if n.complete or not only_complete]


def taskflow_downstream(task: luigi.Task, task_downstream: luigi.Task, only_complete: bool = False) -> set[Any]:
    """The tasks on a path from ``task`` down to ``task_downstream``, both included."""
    plan = flowlib.build_plan([task_downstream])
    below = {n.task_id for n in plan.downstream_of([plan.node(task)])}
    above = {n.task_id for n in plan.upstream_of(plan.roots)}
    return {n.task for n in plan.nodes if n.task_id in below & above and (n.complete or not only_complete)}


def _keyed(decorate: Callable[..., Callable[[T], T]], named: Mapping[Any, type]) -> Callable[[T], T]:
    """``requires({1: A, 2: B})``: flowlib names requirements by ``str``; map other keys onto names and back."""
    keys = list(named)
    names = {key: f"requirement_{i}" for i, key in enumerate(keys)}

    def wrap(cls: T) -> T:
        cls = decorate({names[key]: named[key] for key in keys})(cls)
        by_name: Any = getattr(cls, "requires")  # noqa: B009

        def requires(self: Any) -> dict[Any, luigi.Task]:
            got = by_name(self)
            return {key: got[names[key]] for key in keys}

        cls.requires = requires  # type: ignore[attr-defined]
        return cls

    return wrap


def requires(*tasks_to_require: Any) -> Callable[[T], T]:
    """``flowlib.requires``: one class, several, or one dict of named classes (keys of any type)."""
    first = tasks_to_require[0] if tasks_to_require else None
    if len(tasks_to_require) == 1 and isinstance(first, Mapping) and not all(isinstance(k, str) for k in first):
        return _keyed(flowlib.requires, first)
    return flowlib.requires(*tasks_to_require)


def inherits(*tasks_to_inherit: Any) -> Callable[[T], T]:
    """``flowlib.inherits``: copy the parameters of the given classes (or one dict of them)."""
    first = tasks_to_inherit[0] if tasks_to_inherit else None
    if len(tasks_to_inherit) == 1 and isinstance(first, Mapping) and not all(isinstance(k, str) for k in first):
        return flowlib.inherits(*first.values())
    return flowlib.inherits(*tasks_to_inherit)
