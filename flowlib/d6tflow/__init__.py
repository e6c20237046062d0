"""d6tflow's API on flowlib's engine: ``import flowlib.d6tflow as d6tflow`` and a d6tflow script runs on flowlib.

Every name maps onto flowlib's own API: ``d6tflow.run`` is :func:`flowlib.run`, ``tasks.TaskPqPandas``
a :class:`flowlib.TaskParquet` with d6tflow's method names, ``Workflow`` builds tasks and calls these
functions. ``docs/migrating-from-d6tflow.md`` has the table of names and their flowlib equivalents.

What differs from d6tflow 0.2.8:

- A task reruns when its code or the data it consumed changed (d6tflow reruns only missing outputs);
  with ``flowlib.settings.rerun_stale_override = False`` only missing outputs run, as in d6tflow.
- Outputs live at flowlib's paths, ``<dir>/<TaskFamily>/<task_id>-<key>.<ext>``, each beside a record
  ``<task_id>.record.json``; the ``task_id`` keeps luigi's default length (d6tflow puts up to 20 parameter
  values in it). ``target.path`` is the absolute path, a ``str`` with pathlib's methods; ``target_dir``,
  ``target_ext``, ``save_attrib`` and ``task_group`` do not change where flowlib writes. :func:`adopt`
  takes existing d6tflow outputs over.
- ``preview`` prints flowlib's tree (statuses, reasons and a count line), not d6tflow's text.
- Metadata (``saveMeta``) lives in the task's record, not in a ``-meta.pickle`` file; values JSON cannot
  hold are pickled into it. ``task.metadata()`` is flowlib's method returning the record.
- ``run(confirm=True)`` shows flowlib's plan and asks once before running anything.
- A failing task raises :class:`RunFailedError` (a ``flowlib.TaskFailedError`` and a ``RuntimeError``) with the
  original traceback; its partial outputs are removed.
- A ``run()`` that saves nothing ends without outputs and logs a warning (the task stays incomplete), as luigi
  lets it; one that saves some outputs but not all fails, as in flowlib.
- ``settings.check_dependencies = False`` skips the tasks given to ``run`` whose own outputs exist;
  their upstream tasks still follow flowlib's plan.
- Not provided: d6tpipe (``FlowExport``, ``FlowImport``, ``pipes``, ``push``/``pull``), the in-memory read
  cache (``settings.cached``, ``d6tflow.data``, ``load(cached=True)`` loads normally), HDF5 and the other
  optional formats, ``d6tflow.functional``, and private helpers such as ``_get_meta_path``.

Example:
    >>> import flowlib.d6tflow as d6tflow
    >>> d6tflow.run is not None and d6tflow.tasks.TaskPqPandas.__mro__[2].__name__
    'TaskParquet'
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import luigi

import flowlib
from flowlib.d6tflow import tasks
from flowlib.d6tflow.adopt import AdoptReport, AdoptStatus, adopt, build_record, d6tflow_paths, d6tflow_task_id
from flowlib.d6tflow.settings import settings
from flowlib.d6tflow.tasks import CompatError
from flowlib.d6tflow.workflow import Workflow, WorkflowMulti
from flowlib.errors import FlowlibError, TaskFailedError
from flowlib.params import *  # noqa: F403 - luigi's parameter types, as d6tflow exports them
from flowlib.params import __all__ as _param_names

__all__ = [
    "tasks",
    "settings",
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
    "Workflow",
    "WorkflowMulti",
    "adopt",
    "AdoptReport",
    "AdoptStatus",
    "build_record",
    "d6tflow_paths",
    "d6tflow_task_id",
    "CompatError",
    "RunFailedError",
    "NotProvidedError",
    *_param_names,
]

T = TypeVar("T", bound=type)

_NOT_PROVIDED = {
    "FlowExport": "d6tpipe exports are not part of flowlib",
    "FlowImport": "d6tpipe imports are not part of flowlib; import the module that defines the tasks",
    "pipes": "d6tpipe is not part of flowlib",
    "functional": "d6tflow.functional is not part of flowlib; write task classes",
    "data": "flowlib has no in-memory read cache; TaskCache outputs are in memory already",
    "cache": "flowlib has no in-memory read cache; TaskCache outputs are in memory already",
    "targets": "use the targets of task.output(), or flowlib.targets",
    "enable_cloud_storage": "point flowlib.set_dir at an fsspec URL, e.g. flowlib.set_dir('gs://bucket/flows')",
    "enable_gcs": "point flowlib.set_dir at an fsspec URL, e.g. flowlib.set_dir('gs://bucket/flows')",
    "invalidate_all": "use flowlib.clean() to remove outputs no flow uses",
    "invalidate_orphans": "use flowlib.clean() to remove outputs no flow uses",
    "clone_parent": "use @d6tflow.requires(...)",
}


class NotProvidedError(FlowlibError, AttributeError):
    """A d6tflow name that flowlib.d6tflow does not provide; the message says what to use instead."""


class RunFailedError(TaskFailedError, RuntimeError):
    """A task failed during ``d6tflow.run`` (d6tflow raised ``RuntimeError``); ``traceback`` has the original."""


def __getattr__(name: str) -> Any:
    if name in _NOT_PROVIDED:
        raise NotProvidedError(f"flowlib.d6tflow has no {name}: {_NOT_PROVIDED[name]}")
    raise AttributeError(f"module 'flowlib.d6tflow' has no attribute {name!r}")


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


tasks_module = tasks  # run() takes an argument called tasks, as in d6tflow
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
    own_summary = "execution_summary" in inspect.signature(flowlib.run).parameters
    if own_summary:
        passed["execution_summary"] = show_summary
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
    if show_summary and not own_summary:
        print(result)  # d6tflow prints its execution summary; flowlib's run will do so itself
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
