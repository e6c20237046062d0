"""Task: a ``luigi.Task`` that persists its outputs and loads its inputs in one call.

Example:
    >>> import flowlib, pandas as pd
    >>> class Numbers(flowlib.TaskParquet):
    ...     n = flowlib.IntParameter(default=3)
    ...     def run(self):
    ...         self.save(pd.DataFrame({"x": range(self.n)}))
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import luigi
import pandas as pd
from luigi.task import flatten

from flowlib.errors import (
    CorruptOutputError,
    FlowlibError,
    ParameterError,
    PersistKeyError,
    TargetFormatError,
    TaskDefinitionError,
    TaskIncompleteError,
)
from flowlib.fingerprint import pin_source
from flowlib.paramcheck import check_value, given_values, missing_parameter, refused_value
from flowlib.record import Record, read_record
from flowlib.settings import settings
from flowlib.speedups import LuigiSpeedups, forget_parameter_lists, luigi_param_values
from flowlib.storage import Storage, get_storage
from flowlib.targets import (
    CSVTarget,
    DaskTarget,
    DatasetTarget,
    JSONTarget,
    MemoryTarget,
    ParquetTarget,
    PickleTarget,
    Target,
)
from flowlib.targets.base import OutputInfo
from flowlib.targets.dataset import PART_ROWS

__all__ = [
    "Task",
    "TaskParquet",
    "TaskCSV",
    "TaskJSON",
    "TaskPickle",
    "TaskMemory",
    "TaskDataset",
    "TaskDask",
    "RunState",
    "TaskHooks",
    "hooks",
    "load_struct",
    "forget_parameter_lists",
]

logger = logging.getLogger(__name__)
#: A marker for a parameter not given to the constructor (``None`` can be given).
_NOT_GIVEN = object()

Keys = str | Sequence[str] | None


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


@dataclass
class RunState:
    """What one ``run()`` of a task has saved so far (kept by the task while it runs)."""

    saved: dict[str, OutputInfo] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class TaskHooks:
    """What the layers above a task lend it, installed when ``flowlib`` is imported.

    A task is a declaration; luigi still calls ``run()``, ``complete()`` and flowlib's users
    ``invalidate()`` on it, and those are answered by the execution layer (the run transaction),
    the plan and invalidation. They register here, so this module never imports them.
    """

    run: Callable[[Task, Callable[[], Any]], Any] | None = None
    complete: Callable[[Task], bool] | None = None
    invalidate: Callable[[Task, bool], bool] | None = None

    def require(self, name: str) -> Callable[..., Any]:
        hook = getattr(self, name)
        if hook is None:  # pragma: no cover - importing flowlib installs every hook
            raise FlowlibError(f"flowlib is not fully imported: no {name}() for tasks; `import flowlib` first")
        return hook  # type: ignore[no-any-return]


#: The hooks of this process (see :class:`TaskHooks`).
hooks = TaskHooks()


def _wrap_run(body: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(body)
    def run(self: Task, *args: Any, **kwargs: Any) -> Any:
        if self.running:  # super().run() inside a run
            return body(self, *args, **kwargs)
        return hooks.require("run")(self, functools.partial(body, self, *args, **kwargs))

    run.flowlib_wrapped = True  # type: ignore[attr-defined]
    return run


class Task(LuigiSpeedups):
    """A luigi task whose outputs flowlib persists: ``persist`` names them, ``target_class`` stores them.

    Class attributes: ``persist`` (output names, default ``["data"]``), ``target_class``
    (a :class:`~flowlib.targets.Target`), ``root`` (a root of its own, else ``flowlib.settings.dir``),
    ``version`` (replaces the code fingerprint).
    """

    persist: ClassVar[Sequence[str]] = ["data"]
    target_class: ClassVar[type[Target]] = PickleTarget
    root: ClassVar[str | None] = None
    version: ClassVar[str | None] = None

    #: The requirements the plan that scheduled this task found (``flatten(requires())``), else ``None``.
    planned_requirements: list[luigi.Task] | None = None
    #: The upstream output fingerprints the executor already knows (``{task_id: {key: fingerprint}}``).
    planned_inputs: dict[str, dict[str, str]] | None = None
    #: Set under the task's lock when it was found to have no record: its run need not remove one first.
    unrecorded: bool = False
    _flowlib_state: RunState | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _check_persist(cls)
        target = cls.__dict__.get("target_class")
        if target is not None and not (isinstance(target, type) and issubclass(target, Target)):
            raise TaskDefinitionError(f"{cls.__name__}.target_class must be a flowlib Target class, got {target!r}")
        # Read the source as it is now: a file edited later must not lend its source to this class.
        pin_source(cls)
        body = cls.__dict__.get("run")
        if callable(body) and not getattr(body, "flowlib_wrapped", False):
            cls.run = _wrap_run(body)  # type: ignore[method-assign]

    def __getstate__(self) -> dict[str, Any]:
        """Pickle parameters, not caches (tasks travel to worker processes)."""
        skip = ("planned_requirements", "planned_inputs", "unrecorded")
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_flowlib_") and k not in skip}

    # -- a run in progress (the execution layer's run transaction drives these) ----------
    @property
    def running(self) -> bool:
        """Whether ``run()`` is executing now (``save`` works only then)."""
        return self._flowlib_state is not None

    def begin_run(self) -> RunState:
        """Start collecting what ``run()`` saves; the run transaction calls this."""
        state = self._flowlib_state = RunState()
        return state

    def end_run(self) -> None:
        """Stop collecting (after the run transaction wrote the record or discarded the outputs)."""
        self._flowlib_state = None

    def _state(self, what: str) -> RunState:
        state = self._flowlib_state
        if state is None:
            raise FlowlibError(f"{self}.{what}() is called from inside run(); run the task with flowlib.run({self!r})")
        return state

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
    def checked_param_values(cls, params: Any, args: Any, kwargs: Any) -> list[tuple[str, Any]]:
        """luigi's parameter values, checked strictly: every problem is a :class:`ParameterError`.

        Unknown and missing parameters, values of the wrong type and values a parameter refuses
        (e.g. a ``ChoiceParameter``) each raise it naming the task, the parameter, the value and
        what is accepted; strings parse as on luigi's command line (``DateParameter``: ``"2024-01-31"``).
        """
        family = cls.get_task_family()
        given = given_values(family, params, args, kwargs)
        try:
            values = luigi_param_values(cls, params, given)
        except luigi.parameter.MissingParameterException as exc:
            raise missing_parameter(family, params, given) from exc
        except (ValueError, TypeError, LookupError, luigi.parameter.ParameterException) as exc:
            if isinstance(exc, ParameterError):
                raise
            raise refused_value(family, params, given, exc) from exc
        lookup = dict(params)
        return [  # what was given is checked already; defaults (and values luigi normalized anew) are checked here
            (name, value if given.get(name, _NOT_GIVEN) is value else check_value(family, name, lookup[name], value))
            for name, value in values
        ]

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
        options = self.target_options()
        targets = {
            key: make(storage.output_path(family, self.task_id, key, make.suffix), storage, **options)
            for key in self.persist
        }
        self._flowlib_targets = (storage, targets)
        return dict(targets)

    def target_options(self) -> dict[str, Any]:
        """Keyword arguments for this task's targets besides path and storage (``TaskDataset``: ``partition_on``)."""
        return {}

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

    def output_load(
        self, keys: Keys = None, *, as_dict: bool = False, columns: list[str] | None = None, filters: Any = None
    ) -> Any:
        """Load this task's outputs: one value, a list in ``persist`` order, or a dict with ``as_dict``.

        Datasets (``TaskDataset``, ``TaskDask``) read only ``columns`` and the rows ``filters`` selects
        (a pyarrow expression, or pyarrow's list of tuples ``[("x", ">", 1)]``).

        Example:
            >>> train, test = Preprocess().output_load()  # doctest: +SKIP
            >>> Preprocess().output_load("train")  # doctest: +SKIP
            >>> Events().output_load(columns=["user"], filters=[("day", "=", 3)])  # doctest: +SKIP
        """
        chosen, single = self._select(keys, as_dict)
        subset = {"columns": columns, "filters": filters} if columns is not None or filters is not None else {}
        if subset and not issubclass(self.target_class, DatasetTarget):
            raise TargetFormatError(
                f"{self}: output_load(columns=..., filters=...) reads datasets; {type(self).__name__} stores "
                f"{self.target_class.name} (make it a flowlib.TaskDataset to read parts of it)"
            )
        targets = self.output()
        record = read_record(self) if self.target_class.is_file else None
        written = record.outputs if record is not None else {}
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
                values[key] = target.load(**subset)
            except FileNotFoundError as exc:
                raise TaskIncompleteError(f"{self}: output {key!r} vanished while loading; run it again") from exc
            except FlowlibError as exc:
                raise type(exc)(f"{self}: {exc}. Recover with {self!r}.invalidate() and run it again") from exc
        if single:
            return values[chosen[0]]
        return values if as_dict else [values[k] for k in chosen]

    def _check_size(self, key: str, target: Target, written: OutputInfo | None) -> None:
        """A file whose size differs from what the record says was written is damaged (e.g. truncated)."""
        if written is None:
            return
        expected = written.bytes
        found = target.stat()
        size = found.size if found is not None else 0
        if size != expected:
            raise CorruptOutputError(
                f"{self}: output {key!r} ({target.path}) has {size} bytes, but {expected} were written: "
                f"it was truncated or modified. Recover with {self!r}.invalidate() and run it again"
            )

    def input_load(
        self,
        task: str | int | None = None,
        keys: Keys = None,
        *,
        as_dict: bool = False,
        columns: list[str] | None = None,
        filters: Any = None,
    ) -> Any:
        """Load the outputs of ``requires()``, mirroring its shape (one value, a list or a dict).

        ``task`` picks one requirement: a name for dict requirements, an index for lists.
        ``as_dict=True`` gives a requirement's outputs as ``{output name: value}``; over a list or dict of
        requirements, those with one output still give their value, those with several a dict.
        ``columns`` and ``filters`` read part of dataset inputs (see :meth:`output_load`).

        Example:
            >>> data, split = self.input_load(as_dict=True)  # doctest: +SKIP
            >>> split["train"]  # doctest: +SKIP
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

    def output_dataset(self, key: str | None = None) -> Any:
        """The ``pyarrow.dataset.Dataset`` of a dataset output: filter and project before reading.

        Example:
            >>> import pyarrow.dataset as ds
            >>> Events().output_dataset().to_table(columns=["user"], filter=ds.field("day") == 3)  # doctest: +SKIP
        """
        target = self.dataset_target(key, "output_dataset")
        return target.dataset()

    def dataset_target(self, key: str | None, what: str = "dataset_target") -> DatasetTarget:
        """The dataset target of output ``key`` (the only output when ``None``); ``what`` names the caller in errors."""
        chosen, _single = self._select(key, False)
        if key is None and len(chosen) != 1:
            raise PersistKeyError(f"{self} has outputs {chosen}; name one: {what}(key={chosen[0]!r})")
        target = self.output()[chosen[0]]
        if not isinstance(target, DatasetTarget):
            raise TargetFormatError(
                f"{self}.{what}() reads datasets; {type(self).__name__} stores {self.target_class.name} "
                "(make it a flowlib.TaskDataset)"
            )
        if not target.exists():
            raise TaskIncompleteError(
                f"{self} has not been run: its output {chosen[0]!r} does not exist ({target.path}); "
                f"run it first, e.g. flowlib.run({self!r})"
            )
        return target

    def input_batches(
        self,
        task: str | int | None = None,
        key: str | None = None,
        *,
        columns: list[str] | None = None,
        filters: Any = None,
        batch_size: int = 256 * 1024,
    ) -> Iterator[Any]:
        """Iterate the record batches (``pyarrow.RecordBatch``) of a dataset input without loading it whole.

        ``task`` picks a requirement as in :meth:`input_load`; ``key`` one of its outputs.

        Example:
            >>> total = sum(batch["amount"].sum().as_py() for batch in self.input_batches())  # doctest: +SKIP
        """
        required = self.requires()
        if task is not None:
            try:
                required = required[task]
            except (KeyError, IndexError, TypeError):
                raise FlowlibError(f"{self}: input_batches(task={task!r}) matches no requirement") from None
        upstream = flatten(required)
        if len(upstream) != 1 or not isinstance(upstream[0], Task):
            raise FlowlibError(
                f"{self}.input_batches() reads one dataset input; requires() gives {len(upstream)} tasks: "
                "pick one with input_batches(task=name or index)"
            )
        target = upstream[0].dataset_target(key, "input_batches")
        return target.batches(columns=columns, filters=filters, batch_size=batch_size)

    # -- saving -----------------------------------------------------------------------
    def save(self, obj: Any, *, key: str | None = None) -> None:
        """Save this task's output(s) from inside ``run()``.

        One output: ``self.save(df)``. Several: ``self.save({"train": a, "test": b})``,
        or one at a time with ``self.save(a, key="train")``.
        """
        state = self._state("save")
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
                state.saved[name] = targets[name].save(value)
            except TargetFormatError as exc:
                raise TargetFormatError(f"{self}, output {name!r}: {_persist_hint(self, value) or exc}") from exc
            except FlowlibError as exc:
                raise type(exc)(f"{self}, output {name!r}: {exc}") from exc

    def save_batches(self, batches: Iterable[Any], *, key: str | None = None) -> None:
        """Stream an iterable of DataFrames or Arrow record batches into a dataset output (``TaskDataset``).

        Only a bounded number of rows is in memory at once, so a task can write more data than fits.

        Example:
            >>> self.save_batches(pd.DataFrame({"x": range(i, i + 10)}) for i in range(0, 100, 10))  # doctest: +SKIP
        """
        state = self._state("save_batches")
        persist = list(self.persist)
        if key is None:
            if len(persist) != 1:
                raise PersistKeyError(f"{self} persists {persist}: name one, save_batches(..., key={persist[0]!r})")
            key = persist[0]
        if key not in persist:
            raise PersistKeyError(f"{self} has no output {key!r}; persist is {persist}")
        target = self.output()[key]
        if not isinstance(target, DatasetTarget):
            raise TargetFormatError(
                f"{self}: save_batches() streams into datasets; {type(self).__name__} stores {self.target_class.name} "
                "(make it a flowlib.TaskDataset)"
            )
        try:
            state.saved[key] = target.save_batches(batches)
        except FlowlibError as exc:
            raise type(exc)(f"{self}, output {key!r}: {exc}") from exc

    def run_context(self) -> contextlib.AbstractContextManager[Any]:
        """A context the run transaction enters around ``run()`` (``TaskDask``: the dask cluster to compute on)."""
        return contextlib.nullcontext()

    def save_metadata(self, metadata: dict[str, Any]) -> None:
        """Store user metadata (metrics, notes) in this task's record; ``flowlib.lineage`` shows it."""
        self._state("save_metadata").metadata.update(metadata)

    def data_fingerprint(self) -> str | None:
        """A cheap fingerprint of the external data this task reads (source tasks override it); None: none.

        When it differs from the one in the task's record, the task is STALE: "source data changed".
        """
        return None

    def metadata(self) -> Record | None:
        """This task's :class:`~flowlib.record.Record` (what produced its outputs), or ``None`` before it ran."""
        return read_record(self)

    def complete(self) -> bool:
        """Complete when its outputs and record are sound and every upstream task is complete."""
        return bool(hooks.require("complete")(self))

    def invalidate(self, *, confirm: bool = False) -> bool:
        """Remove this task's outputs and record; returns ``False`` if the user declined."""
        return bool(hooks.require("invalidate")(self, confirm))


def _persist_hint(task: Task, value: Any) -> str:
    """For a dict of DataFrames saved to a task with one table output: say to name the outputs instead."""
    if not (isinstance(value, dict) and value and len(task.persist) == 1):
        return ""
    if not all(isinstance(key, str) and key.replace("_", "").isalnum() for key in value):
        return ""
    if not all(isinstance(v, pd.DataFrame) for v in value.values()):
        return ""
    keys = list(value)
    return (
        f"got a dict of {len(keys)} DataFrames ({keys}) for its one output; to save each as an output of its "
        f"own, declare persist = {keys} on {type(task).__name__} and save the dict as you do "
        f"(then self.input_load() downstream gives them in that order)"
    )


def load_struct(struct: Any, keys: Keys, as_dict: bool, *, nested: bool = False, **subset: Any) -> Any:
    """Load each task in a task / list / dict structure, keeping its shape.

    With ``as_dict``, one task gives ``{output name: value}``; inside a list or dict of tasks, a
    task with one output gives its value and only a task with several outputs gives a dict (as d6tflow).
    """
    if isinstance(struct, Task):
        return struct.output_load(keys, as_dict=as_dict and not (nested and len(struct.persist) == 1), **subset)
    if isinstance(struct, dict):
        return {name: load_struct(value, keys, as_dict, nested=True, **subset) for name, value in struct.items()}
    if isinstance(struct, (list, tuple)):
        return [load_struct(value, keys, as_dict, nested=True, **subset) for value in struct]
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


class TaskDataset(Task):
    """A task whose outputs are tables stored as Parquet datasets: folders of part files with a manifest.

    ``partition_on = ["col", ...]`` writes hive folders (``col=value/``); ``self.save_batches(...)``
    streams data larger than memory; downstream, ``output_load(columns=..., filters=...)``,
    ``output_dataset()`` and ``input_batches()`` read only what they need.
    """

    target_class = DatasetTarget
    #: Columns to hive-partition by (one folder ``col=value/`` per value).
    partition_on: ClassVar[Sequence[str]] = ()
    #: Rows per part file at most (``save_batches`` starts a new file beyond it).
    part_rows: ClassVar[int] = PART_ROWS

    def target_options(self) -> dict[str, Any]:
        return {"partition_on": list(self.partition_on), "part_rows": self.part_rows}


class TaskDask(TaskDataset):
    """A task whose outputs are dask DataFrames, stored as Parquet datasets that pandas and pyarrow read too.

    With ``flowlib.run(..., dask_scheduler="tcp://host:port")`` (or ``[flowlib] dask_scheduler``), its
    ``run()`` computes on that ``dask.distributed`` cluster. Needs the ``dask`` extra.
    """

    target_class = DaskTarget

    @contextlib.contextmanager
    def run_context(self) -> Iterator[None]:
        address = settings.dask_scheduler
        if not address:
            yield
            return
        try:
            from distributed import Client
        except ImportError as exc:
            raise FlowlibError(f"{self} computes on {address}: pip install 'flowlib[dask]' ({exc})") from exc
        try:
            client = Client(address, set_as_default=False, timeout=settings.dask_timeout)
        except OSError as exc:
            raise FlowlibError(
                f"{self}: cannot reach the dask scheduler {address!r} ({exc}); start it (dask scheduler) "
                "or set dask_scheduler to a running one"
            ) from exc
        try:
            # The current client of this thread only (a contextvar): tasks on other threads keep their own.
            with client.as_current():
                yield
        finally:
            client.close()
