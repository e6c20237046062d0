"""``d6tflow.tasks`` on flowlib: the d6tflow task classes, each a flowlib task with d6tflow's method names.

``TaskPqPandas`` is a :class:`flowlib.TaskParquet`, ``TaskCSVPandas`` a :class:`flowlib.TaskCSV`,
``TaskJson`` a :class:`flowlib.TaskJSON`, ``TaskPickle`` a :class:`flowlib.TaskPickle`, ``TaskCache``
and ``TaskCachePandas`` a :class:`flowlib.TaskMemory`; each adds ``inputLoad``, ``outputLoad``,
``saveMeta`` / ``metaSave``, ``metaLoad``, ``outputLoadMeta``, ``outputLoadAllMeta`` and ``reset``.

Example:
    >>> import flowlib.d6tflow as d6tflow, pandas as pd
    >>> class GetData(d6tflow.tasks.TaskPqPandas):
    ...     def run(self):
    ...         self.save(pd.DataFrame({"x": [1, 2]}))
"""

from __future__ import annotations

import base64
import functools
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import cloudpickle
import luigi
from luigi.task import flatten

import flowlib
from flowlib.d6tflow.settings import settings as compat_settings
from flowlib.d6tflow.targets import (
    CacheOutput,
    CSVOutput,
    ExcelOutput,
    JSONOutput,
    ParquetOutput,
    PickleOutput,
    SingleOutput,
)
from flowlib.errors import FlowlibError, PersistKeyError
from flowlib.storage import Storage, get_storage
from flowlib.targets import Target

__all__ = [
    "CompatError",
    "TaskData",
    "TaskCache",
    "TaskCachePandas",
    "TaskJson",
    "TaskPickle",
    "TaskCSVPandas",
    "TaskExcelPandas",
    "TaskPqPandas",
    "TaskAggregator",
    "load_outputs",
    "upstream_tasks",
]

logger = logging.getLogger(__name__)

_PICKLED = "__d6tflow_pickle__"
_VALUE = "__d6tflow_value__"


class CompatError(FlowlibError, RuntimeError):
    """Where d6tflow raised ``RuntimeError`` (no default task, no metadata...), flowlib.d6tflow raises this."""


def upstream_tasks(task: luigi.Task) -> list[luigi.Task]:
    """``task`` and every task it requires, recursively (dependencies first), from flowlib's plan."""
    return [node.task for node in flowlib.build_plan([task], rerun_stale=False).nodes]


def load_outputs(task: luigi.Task, keys: Any = None, as_dict: bool = False) -> Any:
    """d6tflow's loading rule on flowlib's ``output_load``: a task whose only output is ``data`` loads as its value."""
    if isinstance(task, TaskAggregator):
        return task.outputLoad(keys, as_dict)
    if not isinstance(task, flowlib.Task):
        raise FlowlibError(f"{task} is not a flowlib task; read its output() targets directly")
    if list(task.persist) == ["data"] and keys in (None, "data", ["data"]):
        return task.output_load()  # d6tflow's shortcut: the value itself, whatever keys and as_dict say
    return task.output_load(keys, as_dict=as_dict)


def _load_struct(struct: Any, keys: Any, as_dict: bool) -> Any:
    if isinstance(struct, luigi.Task):
        return load_outputs(struct, keys, as_dict)
    if isinstance(struct, Mapping):
        return {name: _load_struct(value, keys, as_dict) for name, value in struct.items()}
    if isinstance(struct, (list, tuple)):
        return [_load_struct(value, keys, as_dict) for value in struct]
    raise FlowlibError(f"cannot load inputs from {struct!r}: requires() returns tasks, lists or dicts of tasks")


def _encode_meta(value: Any) -> Any:
    """JSON values as they are (``flowlib.lineage`` shows them); anything else pickled into a string."""
    try:
        json.dumps(value, allow_nan=False)
        return value
    except (TypeError, ValueError):
        return {_PICKLED: base64.b64encode(cloudpickle.dumps(value)).decode("ascii")}


def _decode_meta(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {_PICKLED}:
        return cloudpickle.loads(base64.b64decode(value[_PICKLED]))
    return value


def _meta_of(task: luigi.Task) -> Any:
    record = task.metadata() if isinstance(task, flowlib.Task) else None
    if record is None:
        raise CompatError(f"{task} is not complete, so it has no metadata; run it first, e.g. d6tflow.run({task!r})")
    stored = record.metadata
    if not stored:
        raise CompatError(f"{task} saved no metadata; call self.saveMeta({{...}}) inside its run()")
    if set(stored) == {_VALUE}:
        return _decode_meta(stored[_VALUE])
    return {key: _decode_meta(value) for key, value in stored.items()}


def _noting_return(body: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(body)
    def run(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = body(self, *args, **kwargs)
        self.__dict__["_compat_returned"] = True
        return result

    return run


def _allowing_no_output(run: Callable[..., Any]) -> Callable[..., Any]:
    """A run() that saved nothing ends without outputs, as in d6tflow (flowlib raises); the task stays incomplete."""

    @functools.wraps(run)
    def outer(self: Any, *args: Any, **kwargs: Any) -> Any:
        if self.running:  # super().run() inside a run
            return run(self, *args, **kwargs)
        self.__dict__.update(_compat_returned=False, _compat_saved=False)
        try:
            return run(self, *args, **kwargs)
        except PersistKeyError:
            if not self.__dict__["_compat_returned"] or self.__dict__["_compat_saved"]:
                raise
            logger.warning("%s.run() saved no output: it stays incomplete (as d6tflow allows)", self)
            return None

    outer.flowlib_wrapped = True  # type: ignore[attr-defined]
    return outer


class TaskData(flowlib.Task):
    """d6tflow's task base: a flowlib task that also takes d6tflow's ``path=`` and ``flows=`` and its method names.

    Unknown keyword arguments are dropped (as d6tflow does). ``path`` (a class attribute or ``path=``)
    is this task's own root, replacing ``flowlib.settings.dir``.
    """

    target_ext: ClassVar[str] = "pkl"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        persists = cls.__dict__.get("persists")
        if persists is not None:  # d6tflow's alias
            cls.persist = list(persists)
        body = cls.__dict__.get("run")
        own_run = callable(body) and not getattr(body, "flowlib_wrapped", False)
        if own_run:
            cls.run = _noting_return(body)  # type: ignore[method-assign, arg-type]
        super().__init_subclass__(**kwargs)  # flowlib wraps run() in its all-or-nothing transaction
        if own_run:
            cls.run = _allowing_no_output(cls.__dict__["run"])  # type: ignore[method-assign]

    def __init__(self, *args: Any, path: Any = None, flows: Any = None, **kwargs: Any) -> None:
        names = set(self.get_param_names(include_significant=True))
        super().__init__(*args, **{k: v for k, v in kwargs.items() if k in names})
        own = getattr(type(self), "path", None)
        self.path = own if own is not None else path
        self.flows = flows

    @classmethod
    def get_param_values(cls, params: Any, args: Any, kwargs: Any) -> list[tuple[str, Any]]:
        names = {name for name, _ in params}
        known = kwargs if all(k in names for k in kwargs) else {k: v for k, v in kwargs.items() if k in names}
        return super().get_param_values(params, args, known)

    # -- where outputs live --------------------------------------------------------------
    def storage(self) -> Storage:
        """The task's ``path`` when set (d6tflow's per-task folder), else flowlib's root."""
        own = self.__dict__.get("path") or getattr(type(self), "path", None)
        if own is None:
            return super().storage()
        return get_storage(str(own), flowlib.settings.storage_options)

    def output(self) -> Any:  # type: ignore[override]
        """d6tflow's shape: one target when the only output is ``data`` (a :class:`SingleOutput`), else a dict."""
        targets: dict[str, Target] = super().output()
        return SingleOutput(targets) if list(self.persist) == ["data"] else targets

    def complete(self, cascade: bool = True) -> bool:
        """flowlib's verdict; with ``settings.check_dependencies = False`` (or ``cascade=False``) only own outputs."""
        if cascade and compat_settings.check_dependencies and not getattr(self, "external", False):
            return bool(flowlib.build_plan([self]).roots[0].complete)
        targets = flowlib.Task.output(self)
        return all(t.exists() for t in targets.values()) and self.metadata() is not None

    def save(self, data: Any, key: str | None = None, **options: Any) -> None:  # type: ignore[override]
        """Save the output(s) from inside ``run()``: one value, or a dict keyed by ``persist``."""
        if options:
            raise FlowlibError(f"flowlib saves outputs in its own encoding, without writer options ({sorted(options)})")
        super().save(data, key=key)
        self.__dict__["_compat_saved"] = True

    # -- loading ----------------------------------------------------------------------------
    def inputLoad(self, keys: Any = None, task: Any = None, cached: bool = False, as_dict: bool = False) -> Any:  # noqa: N802
        """Load the outputs of ``requires()`` in its shape; ``task`` picks one requirement."""
        required = self.requires()
        if task is not None:
            try:
                required = required[task]
            except (KeyError, IndexError, TypeError):
                raise FlowlibError(f"{self}: inputLoad(task={task!r}) matches no requirement of {required!r}") from None
        return _load_struct(required, keys, as_dict)

    def outputLoad(self, keys: Any = None, as_dict: bool = False, cached: bool = False) -> Any:  # noqa: N802
        """Load this task's outputs: the value when the only output is ``data``, else a list (or dict)."""
        return load_outputs(self, keys, as_dict)

    # -- metadata ------------------------------------------------------------------------------
    def saveMeta(self, data: Any) -> None:  # noqa: N802
        """Store metadata in the task's record (from inside ``run()``); values JSON cannot hold are pickled."""
        if isinstance(data, Mapping) and all(isinstance(k, str) for k in data):
            self.save_metadata({key: _encode_meta(value) for key, value in data.items()})
        else:
            self.save_metadata({_VALUE: _encode_meta(data)})

    def metaSave(self, data: Any) -> None:  # noqa: N802
        """Same as :meth:`saveMeta`."""
        self.saveMeta(data)

    def metaLoad(self) -> Any:  # noqa: N802
        """The metadata of ``requires()``, in its shape."""
        required = self.requires()
        if isinstance(required, Mapping):
            return {name: _meta_of(task) for name, task in required.items()}
        if isinstance(required, (list, tuple)):
            return [_meta_of(task) for task in required]
        return _meta_of(required)

    def outputLoadMeta(self) -> Any:  # noqa: N802
        """This task's metadata."""
        return _meta_of(self)

    def outputLoadAllMeta(self) -> dict[str, Any]:  # noqa: N802
        """``{task class name: metadata}`` for this task and everything upstream that saved metadata."""
        found: dict[str, Any] = {}
        for task in upstream_tasks(self):
            try:
                found[type(task).__name__] = _meta_of(task)
            except CompatError:
                continue
        return found

    # -- removing ----------------------------------------------------------------------------------
    def invalidate(self, confirm: bool = True) -> bool:  # type: ignore[override]
        """Remove this task's outputs; asks first unless ``confirm=False`` (as d6tflow does)."""
        return flowlib.Task.invalidate(self, confirm=confirm)

    def reset(self, confirm: bool = True) -> bool:
        """Same as :meth:`invalidate`."""
        return self.invalidate(confirm)


class TaskCache(TaskData, flowlib.TaskMemory):
    """Outputs kept in this process's memory (``flowlib.TaskMemory``)."""

    target_class = CacheOutput
    target_ext = "cache"


class TaskCachePandas(TaskCache):
    """Same as :class:`TaskCache`."""


class TaskJson(TaskData, flowlib.TaskJSON):
    """Outputs as JSON (``flowlib.TaskJSON``)."""

    target_class = JSONOutput
    target_ext = "json"


class TaskPickle(TaskData, flowlib.TaskPickle):
    """Outputs pickled (``flowlib.TaskPickle``)."""

    target_class = PickleOutput
    target_ext = "pkl"


class TaskCSVPandas(TaskData, flowlib.TaskCSV):
    """DataFrames as CSV (``flowlib.TaskCSV``)."""

    target_class = CSVOutput
    target_ext = "csv"


class TaskPqPandas(TaskData, flowlib.TaskParquet):
    """DataFrames as Parquet (``flowlib.TaskParquet``)."""

    target_class = ParquetOutput
    target_ext = "parquet"


class TaskExcelPandas(TaskData):
    """DataFrames as Excel workbooks; saving needs openpyxl (``pip install openpyxl``)."""

    target_class = ExcelOutput
    target_ext = "xlsx"


class TaskAggregator(luigi.Task):  # type: ignore[misc]
    """A task whose ``run()`` yields other tasks: they are its requirements, and it is complete when they are.

    Example:
        >>> class Everything(TaskAggregator):
        ...     def run(self):
        ...         yield GetData()
        ...         yield Train()  # doctest: +SKIP
    """

    def requires(self) -> list[luigi.Task]:
        return list(self.run())

    def complete(self, cascade: bool = True) -> bool:
        return all(task.complete() for task in flatten(self.requires()))

    def output(self) -> list[Any]:
        return [task.output() for task in self.requires()]

    def outputLoad(self, keys: Any = None, as_dict: bool = False, cached: bool = False) -> list[Any]:  # noqa: N802
        return [load_outputs(task, keys, as_dict) for task in self.requires()]

    def invalidate(self, confirm: bool = True) -> bool:
        task: Any
        for task in self.requires():
            task.invalidate(confirm=confirm)
        return True

    def reset(self, confirm: bool = True) -> bool:
        return self.invalidate(confirm=confirm)
