"""Take outputs that d6tflow wrote over into flowlib's layout, with records, so that nothing reruns.

d6tflow 0.2.8 writes ``<dir>/<folder>/<task_id>-<key>.<ext>``: ``folder`` is the part of the task id
before its first ``_`` (the family name up to its first underscore) unless the class sets ``target_dir``;
its task ids hold up to 20 parameter values of up to 64 characters (luigi's default: 3 of 16), with
luigi's hash; a task's ``path`` replaces ``dir``. :func:`adopt` finds those files for every task of the
given flows, checks that each loads, moves (or copies) it to the task's flowlib path, and writes the
task's record from the files, dependencies first, so :func:`flowlib.run` finds the tasks complete.
Parquet and pickle files are taken as they are; CSV, JSON and Excel files are read as d6tflow read them
and written in flowlib's encoding (d6tflow's JSON wraps the value in ``{"data": ...}``).

Example:
    >>> report = adopt(TaskTrain(), dirpath="data")  # doctest: +SKIP
    >>> print(report)  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import enum
import json
import os
import pickle
import re
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import luigi
import pandas as pd

import flowlib
from flowlib.errors import FlowlibError
from flowlib.fingerprint import code_fingerprint
from flowlib.hashing import hash_file
from flowlib.record import Record, versions, write_record
from flowlib.storage import get_storage
from flowlib.targets import OutputInfo

__all__ = ["AdoptStatus", "AdoptedTask", "AdoptReport", "adopt", "build_record", "d6tflow_task_id", "d6tflow_paths"]

#: d6tflow's task ids: this many parameter values, each cut to this length (``d6tflow.settings``).
D6TFLOW_ID_PARAMS, D6TFLOW_ID_LENGTH = 20, 64
_INVALID = re.compile(r"[^A-Za-z0-9_]")
_EXTENSIONS = {"parquet": "parquet", "csv": "csv", "json": "json", "pickle": "pkl", "excel": "xlsx"}


def _read_json(path: Path) -> Any:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)["data"]


def _read_pickle(path: Path) -> Any:
    with open(path, "rb") as handle:
        return pickle.load(handle)


#: How d6tflow read each extension, and whether flowlib reads the file as it is (else it is written anew).
_READERS: dict[str, tuple[Callable[[Path], Any], bool]] = {
    "parquet": (pd.read_parquet, True),
    "pkl": (_read_pickle, True),
    "csv": (pd.read_csv, False),
    "json": (_read_json, False),
    "xlsx": (pd.read_excel, False),
}


class AdoptStatus(str, enum.Enum):
    """What :func:`adopt` did with one task."""

    ADOPTED = "adopted"
    ALREADY = "already complete in flowlib"
    MISSING = "no d6tflow output"
    IN_MEMORY = "kept in memory by d6tflow"
    UNREADABLE = "unreadable"


@dataclass(frozen=True)
class AdoptedTask:
    """One task: its status, the d6tflow files, and for unreadable ones why."""

    task: luigi.Task
    status: AdoptStatus
    files: dict[str, str] = field(default_factory=dict)
    detail: str = ""

    def __str__(self) -> str:
        files = ", ".join(self.files.values())
        where = f" ({files})" if files and self.status is not AdoptStatus.ALREADY else ""
        return f"{self.status.value}: {self.task}{where}{': ' + self.detail if self.detail else ''}"


@dataclass(frozen=True)
class AdoptReport:
    """What :func:`adopt` found; truthy when no file was unreadable.

    Example:
        >>> report = adopt(TaskTrain())  # doctest: +SKIP
        >>> [str(t.task) for t in report.adopted]  # doctest: +SKIP
    """

    tasks: tuple[AdoptedTask, ...]

    def _with(self, status: AdoptStatus) -> list[AdoptedTask]:
        return [t for t in self.tasks if t.status is status]

    @property
    def adopted(self) -> list[AdoptedTask]:
        return self._with(AdoptStatus.ADOPTED)

    @property
    def unreadable(self) -> list[AdoptedTask]:
        return self._with(AdoptStatus.UNREADABLE)

    def __bool__(self) -> bool:
        return not self.unreadable

    def __str__(self) -> str:
        counts = {s: len(self._with(s)) for s in AdoptStatus}
        head = ", ".join(f"{n} {s.value}" for s, n in counts.items() if n) or "no tasks"
        return "\n".join([f"d6tflow outputs: {head}", *(f"  {t}" for t in self.tasks)])


def d6tflow_task_id(task: luigi.Task) -> str:
    """The task id d6tflow gave ``task``: luigi's, with up to 20 parameter values of up to 64 characters."""
    params = task.to_str_params(only_significant=True, only_public=True)
    summary = "_".join(params[name][:D6TFLOW_ID_LENGTH] for name in sorted(params)[:D6TFLOW_ID_PARAMS])
    digest = str(task.task_id).rsplit("_", 1)[1]  # the same hash of the same parameters
    return f"{task.get_task_family()}_{_INVALID.sub('_', summary)}_{digest}"


def _extension(task: Any) -> str | None:
    ext = getattr(task, "target_ext", None)
    if isinstance(ext, str):
        return ext
    return _EXTENSIONS.get(getattr(type(task).target_class, "name", ""))


def d6tflow_paths(task: Any, dirpath: str | os.PathLike[str] = "data") -> dict[str, Path]:
    """``{persist key: file}`` where d6tflow 0.2.8 saved ``task``'s outputs under ``dirpath``."""
    task_id = d6tflow_task_id(task)
    own = task.__dict__.get("path") or getattr(type(task), "path", None)
    root = Path(os.fspath(own)) if own is not None else Path(dirpath)
    folder = getattr(task, "target_dir", None) or task_id.split("_")[0]
    ext = _extension(task)
    return {key: root / folder / f"{task_id}-{key}.{ext}" for key in task.persist}


def build_record(
    task: flowlib.Task, outputs: dict[str, OutputInfo], *, started: float, metadata: dict[str, Any]
) -> Record:
    """The record flowlib keeps for ``task``, for outputs it did not write itself (the one place that builds it)."""
    inputs: dict[str, dict[str, str]] = {}
    for dep in luigi.task.flatten(task.requires()):
        record = dep.metadata() if isinstance(dep, flowlib.Task) else None
        if record is not None:
            inputs[dep.task_id] = record.output_fingerprints()
    return Record(
        family=task.get_task_family(),
        task_id=task.task_id,
        params=task.to_str_params(only_significant=True, only_public=True),
        code=code_fingerprint(type(task)),
        outputs=dict(outputs),
        inputs=inputs,
        started=time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        duration=0.0,
        versions=versions(),
        metadata=dict(metadata),
        data=task.data_fingerprint(),
    )


def _describe(value: Any) -> tuple[int | None, dict[str, str] | None]:
    if isinstance(value, pd.DataFrame):
        return len(value), {str(c): str(t) for c, t in value.dtypes.items()}
    return None, None


def _same_file(a: Path, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _take_file(source: Path, target: Any, copy: bool) -> None:
    """Put ``source`` at ``target.path``: renamed when possible, else copied atomically (then removed)."""
    if _same_file(source, target.path):
        return
    storage = target.storage
    if storage.is_local and not copy:
        storage.makedirs(os.path.dirname(target.path))
        try:
            os.replace(source, target.path)  # atomic on one filesystem
            return
        except OSError:  # another filesystem: copy, then remove
            pass
    with storage.atomic_write(target.path) as tmp:
        shutil.copyfile(source, tmp)
    if not copy:
        source.unlink()


def _adopt_one(task: flowlib.Task, files: dict[str, Path], copy: bool) -> AdoptedTask:
    shown = {key: str(path) for key, path in files.items()}
    ext = files[next(iter(files))].suffix.lstrip(".")
    reader, as_is = _READERS.get(ext, (None, False))
    if reader is None:
        return AdoptedTask(task, AdoptStatus.UNREADABLE, shown, f"flowlib.d6tflow cannot read .{ext} files")
    values: dict[str, Any] = {}
    for key, path in files.items():
        try:
            values[key] = reader(path)
        except Exception as exc:  # noqa: BLE001 - any reader error means: not taken over
            return AdoptedTask(task, AdoptStatus.UNREADABLE, shown, f"{path}: {type(exc).__name__}: {exc}")
    targets = flowlib.Task.output(task)
    for key, path in files.items():  # flowlib reads the very file it takes over
        if as_is:
            try:
                type(targets[key])(str(path.resolve()), get_storage(str(path.parent.resolve()))).load()
            except FlowlibError as exc:
                return AdoptedTask(task, AdoptStatus.UNREADABLE, shown, f"flowlib cannot read {path}: {exc}")
    outputs: dict[str, OutputInfo] = {}
    for key, path in files.items():
        target = targets[key]
        if as_is:
            _take_file(path, target, copy)
            rows, schema = _describe(values[key])
            size = target.storage.size(target.path)
            outputs[key] = OutputInfo(target.path, hash_file(target.path), size, rows, schema)
        else:
            try:
                outputs[key] = target.save(values[key])
            except FlowlibError as exc:
                return AdoptedTask(task, AdoptStatus.UNREADABLE, shown, f"flowlib cannot store {path}: {exc}")
            if not copy and not _same_file(path, target.path):
                path.unlink()
    if not copy:
        for folder in {path.parent for path in files.values()}:
            with contextlib.suppress(OSError):  # d6tflow's folder, once empty
                folder.rmdir()
    started = max(os.stat(target.path).st_mtime for target in (targets[k] for k in files))
    metadata = {"adopted_from_d6tflow": shown}
    write_record(task, build_record(task, outputs, started=started, metadata=metadata))
    return AdoptedTask(task, AdoptStatus.ADOPTED, shown)


def adopt(
    tasks: luigi.Task | Iterable[luigi.Task], dirpath: str | os.PathLike[str] = "data", *, copy: bool = False
) -> AdoptReport:
    """Take over the outputs d6tflow wrote under ``dirpath`` for ``tasks`` and everything upstream of them.

    Each output is checked to load; then it is moved (``copy=True``: copied) to flowlib's path under
    ``flowlib.settings.dir`` (or the task's own ``path``) and the task gets a record computed from the
    files, so ``flowlib.run`` finds it complete. Unreadable files are reported and left where they are.

    Example:
        >>> print(adopt([TaskTrain(model="ols")], dirpath="data"))  # doctest: +SKIP
        d6tflow outputs: 3 adopted
    """
    plan = flowlib.build_plan(tasks, rerun_stale=False)
    found: list[AdoptedTask] = []
    for node in plan.nodes:  # dependencies first: a record names the fingerprints of its inputs
        task = node.task
        if not isinstance(task, flowlib.Task):
            continue
        if not task.target_class.is_file:
            found.append(AdoptedTask(task, AdoptStatus.IN_MEMORY, detail="it reruns in flowlib"))
            continue
        if task.metadata() is not None and node.complete:
            found.append(AdoptedTask(task, AdoptStatus.ALREADY))
            continue
        files = d6tflow_paths(task, dirpath)
        missing = [str(path) for path in files.values() if not path.is_file()]
        if missing:
            found.append(AdoptedTask(task, AdoptStatus.MISSING, detail=f"no file {missing[0]}"))
            continue
        found.append(_adopt_one(task, files, copy))
    return AdoptReport(tuple(found))
