"""Task: a ``luigi.Task`` that persists its outputs and loads its inputs in one call.

Example:
    >>> import flowlib, pandas as pd
    >>> class Numbers(flowlib.TaskParquet):
    ...     n = flowlib.IntParameter(default=3)
    ...     def run(self):
    ...         self.save(pd.DataFrame({"x": range(self.n)}))
"""

from __future__ import annotations

import functools
import logging
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import luigi
from luigi.task import flatten

from flowlib.errors import (
    CorruptOutputError,
    FlowlibError,
    PersistKeyError,
    TaskDefinitionError,
    TaskIncompleteError,
)
from flowlib.fingerprint import code_fingerprint, pin_source
from flowlib.paramcheck import check_value
from flowlib.record import read_record, remove_record, versions, write_record
from flowlib.settings import settings
from flowlib.storage import Storage, get_storage
from flowlib.targets import CSVTarget, JSONTarget, MemoryTarget, ParquetTarget, PickleTarget, Target
from flowlib.targets.base import OutputInfo

__all__ = ["Task", "TaskParquet", "TaskCSV", "TaskJSON", "TaskPickle", "TaskMemory", "load_struct"]

logger = logging.getLogger(__name__)

Keys = str | Sequence[str] | None
# Weak: classes redefined in a notebook are not kept alive by this cache.
_PARAMS: weakref.WeakKeyDictionary[type, tuple[int, list[tuple[str, luigi.Parameter]]]] = weakref.WeakKeyDictionary()
_LAST_VALUES = threading.local()


def _same(args_a: Any, args_b: Any, kwargs_a: Any, kwargs_b: Any) -> bool:
    """The same argument objects (identity, not equality: ``1 == True`` must not match)."""
    if len(args_a) != len(args_b) or len(kwargs_a) != len(kwargs_b):
        return False
    if any(a is not b for a, b in zip(args_a, args_b)):
        return False
    return all(name in kwargs_b and kwargs_b[name] is value for name, value in kwargs_a.items())


def _check_persist(cls: type) -> None:
    persist = cls.__dict__.get("persist")
    if persist is None:
        return
    if isinstance(persist, str) or not isinstance(persist, (list, tuple)):
        raise TaskDefinitionError(f"{cls.__name__}.persist must be a list of output names, e.g. ['train', 'test']")
    if not persist:
        raise TaskDefinitionError(
            f"{cls.__name__}.persist is empty: a flowlib task saves at least one output; "
            "name them (persist = ['data']) or use a plain luigi.Task"
        )
    for key in persist:
        if not isinstance(key, str) or not key or not key.replace("_", "").isalnum():
            raise TaskDefinitionError(f"{cls.__name__}.persist has {key!r}; output names are letters, digits and '_'")
    if len(set(persist)) != len(persist):
        raise TaskDefinitionError(f"{cls.__name__}.persist names an output twice: {list(persist)}")


def _wrap_run(body: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(body)
    def run(self: Task, *args: Any, **kwargs: Any) -> Any:
        if self._flowlib_active:  # super().run() inside a run
            return body(self, *args, **kwargs)
        return self._execute(functools.partial(body, self, *args, **kwargs))

    run._flowlib_wrapped = True  # type: ignore[attr-defined]
    return run


class Task(luigi.Task):  # type: ignore[misc]
    """A luigi task whose outputs flowlib persists: ``persist`` names them, ``target_class`` stores them.

    Class attributes: ``persist`` (output names, default ``["data"]``), ``target_class``
    (a :class:`~flowlib.targets.Target`), ``root`` (a root of its own, else ``flowlib.settings.dir``),
    ``version`` (replaces the code fingerprint).
    """

    persist: ClassVar[Sequence[str]] = ["data"]
    target_class: ClassVar[type[Target]] = PickleTarget
    root: ClassVar[str | None] = None
    version: ClassVar[str | None] = None

    _flowlib_active = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _check_persist(cls)
        target = cls.__dict__.get("target_class")
        if target is not None and not (isinstance(target, type) and issubclass(target, Target)):
            raise TaskDefinitionError(f"{cls.__name__}.target_class must be a flowlib Target class, got {target!r}")
        # Read the source as it is now: a file edited later must not lend its source to this class.
        pin_source(cls)
        body = cls.__dict__.get("run")
        if callable(body) and not getattr(body, "_flowlib_wrapped", False):
            cls.run = _wrap_run(body)  # type: ignore[method-assign]

    def __getstate__(self) -> dict[str, Any]:
        """Pickle parameters, not caches (tasks travel to worker processes)."""
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_flowlib_")}

    def __repr__(self) -> str:
        """``Family(param=value, ...)`` with significant parameters, as luigi prints it (cached)."""
        text = self.__dict__.get("_flowlib_repr")
        if text is None:
            params = dict(self.get_params())
            parts = [
                f"{name}={params[name].serialize(value)}"
                for name, value in self.param_kwargs.items()
                if params[name].significant
            ]
            text = self._flowlib_repr = f"{self.get_task_family()}({', '.join(parts)})"
        return text

    # -- parameters ---------------------------------------------------------------
    @classmethod
    def get_params(cls) -> list[tuple[str, luigi.Parameter]]:
        """luigi's parameter list, cached per class (luigi rebuilds it with ``dir()`` on every call).

        The cache is rebuilt when the class gains attributes (``flowlib.inherits`` adds parameters).
        """
        size = len(cls.__dict__)
        entry = _PARAMS.get(cls)
        if entry is None or entry[0] != size:
            entry = (size, super().get_params())
            _PARAMS[cls] = entry
        return entry[1]

    @classmethod
    def get_param_values(cls, params: Any, args: Any, kwargs: Any) -> list[tuple[str, Any]]:
        """luigi's parameter values, type-checked strictly.

        luigi computes them twice per new task (for its instance cache, then in ``__init__``);
        the second call, with the very same argument objects, reuses the first result.
        """
        last = getattr(_LAST_VALUES, "entry", None)
        if last is not None and last[0] is cls and last[1] is params and _same(last[2], args, last[3], kwargs):
            return list(last[4])
        values = super().get_param_values(params, args, kwargs)
        family = cls.get_task_family()
        lookup = dict(params)
        checked = [(name, check_value(family, name, lookup[name], value)) for name, value in values]
        _LAST_VALUES.entry = (cls, params, args, kwargs, checked)
        return list(checked)

    def _warn_on_wrong_param_types(self) -> None:
        """Types were checked (strictly) in ``get_param_values``."""

    # -- outputs --------------------------------------------------------------------
    def storage(self) -> Storage:
        """The storage this task's outputs live in (its class ``root``, else ``flowlib.settings.dir``)."""
        return get_storage(type(self).root or settings.dir, settings.storage_options)

    def output(self) -> dict[str, Target]:
        """``{persist key: Target}``, always a dict (luigi flattens it)."""
        storage = self.storage()
        cached = self.__dict__.get("_flowlib_targets")
        if cached is not None and cached[0] is storage:
            return dict(cached[1])
        family = self.get_task_family()
        make = self.target_class
        targets = {
            key: make(storage.output_path(family, self.task_id, key, make.suffix), storage) for key in self.persist
        }
        self._flowlib_targets = (storage, targets)
        return dict(targets)

    def _select(self, keys: Keys, as_dict: bool) -> tuple[list[str], bool]:
        """Resolve ``keys``: the keys to load and whether to return one value."""
        persist = list(self.persist)
        if keys is None:
            chosen, single = persist, len(persist) == 1 and not as_dict
        elif isinstance(keys, str):
            chosen, single = [keys], not as_dict
        else:
            chosen, single = list(keys), False
        unknown = [k for k in chosen if k not in persist]
        if unknown:
            raise PersistKeyError(f"{self} has no output {unknown[0]!r}; persist is {persist}")
        return chosen, single

    def output_load(self, keys: Keys = None, *, as_dict: bool = False) -> Any:
        """Load this task's outputs: one value, a list in ``persist`` order, or a dict with ``as_dict``.

        Example:
            >>> train, test = Preprocess().output_load()  # doctest: +SKIP
            >>> Preprocess().output_load("train")  # doctest: +SKIP
        """
        chosen, single = self._select(keys, as_dict)
        targets = self.output()
        written = (read_record(self) or {}).get("outputs", {}) if self.target_class.is_file else {}
        values: dict[str, Any] = {}
        for key in chosen:
            target = targets[key]
            if not target.exists():
                raise TaskIncompleteError(
                    f"{self} has not been run: its output {key!r} does not exist ({target.path}); "
                    f"run it first, e.g. flowlib.run({self!r})"
                )
            self._check_size(key, target, written.get(key))
            try:
                values[key] = target.load()
            except FileNotFoundError as exc:
                raise TaskIncompleteError(f"{self}: output {key!r} vanished while loading; run it again") from exc
            except FlowlibError as exc:
                raise type(exc)(f"{self}: {exc}. Recover with {self!r}.invalidate() and run it again") from exc
        if single:
            return values[chosen[0]]
        return values if as_dict else [values[k] for k in chosen]

    def _check_size(self, key: str, target: Target, written: dict[str, Any] | None) -> None:
        """A file whose size differs from what the record says was written is damaged (e.g. truncated)."""
        expected = (written or {}).get("bytes")
        if not isinstance(expected, int):
            return
        size = target.storage.size(target.path)
        if size != expected:
            raise CorruptOutputError(
                f"{self}: output {key!r} ({target.path}) has {size} bytes, but {expected} were written: "
                f"it was truncated or modified. Recover with {self!r}.invalidate() and run it again"
            )

    def input_load(self, task: str | int | None = None, keys: Keys = None, *, as_dict: bool = False) -> Any:
        """Load the outputs of ``requires()``, mirroring its shape (one value, a list or a dict).

        ``task`` picks one requirement: a name for dict requirements, an index for lists.
        """
        required = self.requires()
        if task is not None:
            try:
                required = required[task]
            except (KeyError, IndexError, TypeError):
                shape = list(required) if isinstance(required, dict) else f"{len(flatten(required))} requirements"
                raise FlowlibError(
                    f"{self}: input_load(task={task!r}) matches no requirement; requires() gives {shape}"
                ) from None
        if required is None or required == [] or required == {}:
            raise FlowlibError(f"{self} requires no task, so there is nothing to input_load")
        return load_struct(required, keys, as_dict)

    # -- saving -----------------------------------------------------------------------
    def save(self, obj: Any, *, key: str | None = None) -> None:
        """Save this task's output(s) from inside ``run()``.

        One output: ``self.save(df)``. Several: ``self.save({"train": a, "test": b})``,
        or one at a time with ``self.save(a, key="train")``.
        """
        if not self._flowlib_active:
            raise FlowlibError(f"{self}.save() is called from inside run(); run the task with flowlib.run({self!r})")
        persist = list(self.persist)
        if key is not None:
            items = {key: obj}
            unknown = [key] if key not in persist else []
        elif len(persist) == 1:
            items = {persist[0]: obj}
            unknown = []
        else:
            if not isinstance(obj, dict):
                raise PersistKeyError(
                    f"{self} persists {persist}: save a dict with exactly these keys, got {type(obj).__name__}"
                )
            items = obj
            unknown = [k for k in obj if k not in persist]
            missing = [k for k in persist if k not in obj]
            if missing or unknown:
                raise PersistKeyError(
                    f"{self}.save() got keys {list(obj)}; persist is {persist}"
                    + (f"; missing {missing}" if missing else "")
                    + (f"; not in persist {unknown}" if unknown else "")
                )
        if unknown:
            raise PersistKeyError(f"{self} has no output {unknown[0]!r}; persist is {persist}")
        targets = self.output()
        for name, value in items.items():
            try:
                self._flowlib_saved[name] = targets[name].save(value)
            except FlowlibError as exc:
                raise type(exc)(f"{self}, output {name!r}: {exc}") from exc

    def save_metadata(self, metadata: dict[str, Any]) -> None:
        """Store user metadata (metrics, notes) in this task's record; ``flowlib.lineage`` shows it."""
        if not self._flowlib_active:
            raise FlowlibError(f"{self}.save_metadata() is called from inside run()")
        self._flowlib_metadata.update(metadata)

    # -- execution ----------------------------------------------------------------
    def _consumed(self) -> dict[str, dict[str, str]]:
        """The output fingerprints of each upstream flowlib task, as its record says now.

        A local run hands over the upstream records it holds (``_flowlib_upstream``: read by its
        plan, or written by this process since); any other upstream record is read from storage.
        """
        consumed: dict[str, dict[str, str]] = {}
        deps = self.__dict__.get("_flowlib_deps")  # left by the plan that scheduled this run
        known = self.__dict__.pop("_flowlib_upstream", None) or {}
        for dep in deps if deps is not None else flatten(self.requires()):
            if isinstance(dep, Task):
                record = known[dep.task_id] if dep.task_id in known else read_record(dep)
                outputs = (record or {}).get("outputs", {})
                consumed[dep.task_id] = {k: v.get("fingerprint", "") for k, v in outputs.items()}
        return consumed

    def _execute(self, body: Callable[[], Any]) -> None:
        """Run ``body`` all-or-nothing: outputs, then the record; on failure, no outputs stay."""
        self._flowlib_active = True
        self._flowlib_saved: dict[str, OutputInfo] = {}
        self._flowlib_metadata: dict[str, Any] = {}
        started = time.time()
        self.__dict__.pop("_flowlib_record", None)
        try:
            consumed = self._consumed()
            remove_record(self)
            body()
            missing = [k for k in self.persist if k not in self._flowlib_saved]
            if missing:
                raise PersistKeyError(
                    f"{self}.run() returned without saving {missing}; call self.save(...) for every output in persist"
                )
            record = self._make_record(started, consumed)
            write_record(self, record)
            self._flowlib_record = record  # what this process wrote: the runner hands it to dependents
        except BaseException:
            self._discard_outputs()
            raise
        finally:
            self._flowlib_active = False

    def _discard_outputs(self) -> None:
        for target in self.output().values():
            try:
                target.remove()
            except OSError:  # pragma: no cover - best effort on a failing disk
                logger.warning("could not remove %s after %s failed", target.path, self)
        remove_record(self)

    def _make_record(self, started: float, consumed: dict[str, dict[str, str]]) -> dict[str, Any]:
        return {
            "task_family": self.get_task_family(),
            "task_id": self.task_id,
            "params": self.to_str_params(only_significant=True, only_public=True),
            "code": code_fingerprint(type(self)),
            "outputs": {k: info.to_dict() for k, info in self._flowlib_saved.items()},
            "inputs": consumed,
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
            "duration": round(time.time() - started, 6),
            "versions": versions(),
            "metadata": dict(self._flowlib_metadata),
        }

    def metadata(self) -> dict[str, Any] | None:
        """This task's record (what produced its outputs), or ``None`` if it has not completed."""
        return read_record(self)

    def complete(self) -> bool:
        """Complete when its outputs and record are sound and every upstream task is complete."""
        from flowlib.plan import is_complete

        return is_complete(self)

    def invalidate(self, *, confirm: bool = False) -> bool:
        """Remove this task's outputs and record; returns ``False`` if the user declined."""
        from flowlib.invalidate import invalidate_tasks

        return invalidate_tasks([self], confirm=confirm)


def load_struct(struct: Any, keys: Keys, as_dict: bool) -> Any:
    """Load each task in a task / list / dict structure, keeping its shape."""
    if isinstance(struct, Task):
        return struct.output_load(keys, as_dict=as_dict)
    if isinstance(struct, dict):
        return {name: load_struct(value, keys, as_dict) for name, value in struct.items()}
    if isinstance(struct, (list, tuple)):
        return [load_struct(value, keys, as_dict) for value in struct]
    if isinstance(struct, luigi.Task):
        raise FlowlibError(f"{struct} is a plain luigi task; read its output() targets directly")
    raise FlowlibError(f"cannot load inputs from {struct!r}: requires() returns tasks, lists or dicts of tasks")


class TaskParquet(Task):
    """A task whose outputs are DataFrames stored as Parquet."""

    target_class = ParquetTarget


class TaskCSV(Task):
    """A task whose outputs are DataFrames stored as CSV."""

    target_class = CSVTarget


class TaskJSON(Task):
    """A task whose outputs are DataFrames, dicts or lists stored as JSON."""

    target_class = JSONTarget


class TaskPickle(Task):
    """A task whose outputs are any Python objects, pickled with cloudpickle."""

    target_class = PickleTarget


class TaskMemory(Task):
    """A task whose outputs stay in this process's memory (no file, no copy)."""

    target_class = MemoryTarget
