"""Cleaning up: files under the root that none of your flows produce any more.

Outputs pile up: every parameter set a flow ever ran keeps its files, a task
class that was removed leaves its files, a killed process leaves a temporary
file. ``orphans(flows)`` lists them; ``clean(flows)`` reports what it
would remove and the bytes it would free, and removes them only with
``dry_run=False``.

Only files flowlib writes are considered: in ``<root>/<TaskFamily>/``, named after
a task of that family (``<task_id>-<output>.<ext>``, ``<task_id>.record.json``) or
a temporary file of one (``.<name>.<pid>.<random>.tmp``). A record in a family's log
is listed as ``<root>/<TaskFamily>/.flowlib-records.jsonl#<task_id>``; removing it
rewrites the log without it. Anything else under the
root (raw data, notes) is never listed. Outputs and records of every task of the
given flows are kept, whatever their status; a temporary file is listed only when
the process that wrote it is gone (on this machine). A dataset output (a folder of
parts) and a temporary folder of one count as one entry. Family folders and their lock file
(``.flowlib.lock``) stay: running processes may hold them. Pass every flow you want
to keep: a parameter set left out counts as old. Clean while no run is writing to
the root.

Example:
    >>> report = flowlib.clean([Train(lr=0.1), Train(lr=0.5)])  # doctest: +SKIP
    >>> print(report)  # doctest: +SKIP
    dry run: 4 orphaned files, 1.2 MB would be freed; clean(..., dry_run=False) removes them
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass

import luigi

from flowlib.layout import RECORD_LOG, is_temp, temp_owner
from flowlib.locks import pid_alive
from flowlib.plan import as_task_list, build_plan
from flowlib.record import RECORD_SUFFIX, LogRecordStore, RecordKey, key_for, log_records, records_for
from flowlib.settings import settings
from flowlib.storage import Storage, get_storage, human_size
from flowlib.targets import DatasetTarget
from flowlib.targets.base import TARGETS
from flowlib.task import Task

__all__ = ["CleanReport", "orphans", "clean"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CleanReport:
    """What ``clean`` removed (or, in a dry run, would remove) and the bytes freed.

    ``failed`` lists files that could not be removed (permissions, a busy remote store).
    """

    files: tuple[str, ...]
    bytes: int
    dry_run: bool
    failed: tuple[str, ...] = ()

    def __str__(self) -> str:
        size = human_size(self.bytes)
        if self.dry_run:
            if not self.files:
                return "dry run: no orphaned files"
            return (
                f"dry run: {len(self.files)} orphaned files, {size} would be freed; "
                "clean(..., dry_run=False) removes them"
            )
        text = f"removed {len(self.files)} orphaned files, {size} freed"
        if self.failed:
            text += f"; {len(self.failed)} could not be removed: {', '.join(self.failed[:3])}"
        return text


def orphans(tasks: luigi.Task | Iterable[luigi.Task], *, root: str | None = None) -> list[str]:
    """Files under the root that no task of these flows produces: old parameter sets, removed tasks,
    temporary files left by dead processes.

    ``root`` scans that root (a path or fsspec URL) instead of ``flowlib.settings.dir`` and the
    roots that task classes of the flows set themselves.

    Example:
        >>> flowlib.orphans(Train(lr=0.5))  # doctest: +SKIP
        ['data/Train/Train_0_1_6f2c...-data.pkl', 'data/Train/Train_0_1_6f2c....record.json']
    """
    return [path for _storage, path in _scan(tasks, root)]


def clean(tasks: luigi.Task | Iterable[luigi.Task], *, dry_run: bool = True, root: str | None = None) -> CleanReport:
    """Remove the files :func:`orphans` lists; with ``dry_run=True`` (the default) only report them.

    Example:
        >>> flowlib.clean(Train(lr=0.5), dry_run=False).bytes  # doctest: +SKIP
        52113
    """
    found = _scan(tasks, root)
    removed: list[str] = []
    failed: list[str] = []
    freed = 0
    dropped: dict[tuple[str, str], tuple[Storage, set[str]]] = {}
    for storage, path in found:
        try:
            size = _size(storage, path)
        except FileNotFoundError:
            continue  # gone meanwhile
        if dry_run:
            removed.append(path)
            freed += size
            continue
        entry = _log_entry(storage, path)
        if entry is not None:  # removed below, one rewrite of the log per family
            dropped.setdefault((storage.url, entry.family), (storage, set()))[1].add(entry.task_id)
            removed.append(path)
            freed += size
            continue
        try:
            _remove(storage, path)
        except OSError as exc:
            logger.warning("could not remove %s: %s", path, exc)
            failed.append(path)
            continue
        logger.info("removed %s (%d bytes)", path, size)
        removed.append(path)
        freed += size
    for (_url, family), (storage, task_ids) in dropped.items():
        try:
            log_records.drop(storage, family, task_ids)
        except OSError as exc:
            logger.warning("could not rewrite the record log of %s: %s", family, exc)
            failed.extend(p for p in removed if p.rpartition("#")[2] in task_ids)
        else:
            logger.info("removed %d records of %s from its log", len(task_ids), family)
    removed = [p for p in removed if p not in failed]
    return CleanReport(tuple(removed), freed, dry_run, tuple(failed))


def _log_entry(storage: Storage, path: str) -> RecordKey | None:
    """The record a ``<log>#<task_id>`` entry names; ``None`` for a file."""
    log, hash_mark, task_id = path.partition("#")
    if not hash_mark:
        return None
    return RecordKey(storage, log.rsplit("/", 2)[-2], task_id)


def _size(storage: Storage, path: str) -> int:
    """Bytes of a file, of every file in a dataset folder, or of a record's line in a log."""
    entry = _log_entry(storage, path)
    if entry is not None:
        found = log_records.stat(entry)
        if found is None:
            raise FileNotFoundError(path)
        return found.size
    if path.endswith(DatasetTarget.suffix) or is_temp(path.rpartition("/")[2]):
        files = storage.list_files(path)
        if files:
            return sum(storage.size(name) for name in files)
    return storage.size(path)


def _remove(storage: Storage, path: str) -> None:
    """Remove a file, a dataset folder, or a temporary folder of one (left by a dead writer)."""
    if path.endswith(DatasetTarget.suffix) and storage.list_files(path):
        DatasetTarget(path, storage).remove()
    elif storage.is_local and os.path.isdir(path):
        shutil.rmtree(path)
    else:
        storage.remove(path)


def _scan(tasks: luigi.Task | Iterable[luigi.Task], root: str | None) -> list[tuple[Storage, str]]:
    """``(storage, path)`` of every orphaned file or dataset folder, sorted by path."""
    keep: set[str] = set()
    kept_ids: set[tuple[str, str]] = set()  # (root, task_id): records kept in logs
    storages: dict[str, Storage] = {}
    for node in build_plan(as_task_list(tasks, "flowlib.orphans() / clean()"), rerun_stale=False).nodes:
        task = node.task
        if not isinstance(task, Task) or not task.target_class.is_file:
            continue
        storage = task.storage()
        storages.setdefault(storage.url, storage)
        keep.update(target.path for target in task.output().values())
        key = key_for(task)
        keep.add(key.path)  # a record of its own (object stores, older flowlib)
        kept_ids.add((storage.root, task.task_id))
    if root is not None:
        storages = {}
    default = get_storage(root if root is not None else settings.dir, settings.storage_options)
    storages.setdefault(default.url, default)
    suffixes = tuple(cls.suffix for cls in TARGETS.values() if cls.is_file)
    found: list[tuple[Storage, str]] = []
    for storage in storages.values():
        seen: set[str] = set()
        for path in storage.list_files(storage.root):
            path = _folder_of(storage, path)  # a file inside a dataset folder stands for the folder
            if path not in seen and path not in keep and _is_orphan(storage, path, suffixes):
                found.append((storage, path))
            seen.add(path)
            if path.endswith("/" + RECORD_LOG) and isinstance(records_for(storage), LogRecordStore):
                family = path.rsplit("/", 2)[-2]
                found.extend(
                    (storage, f"{path}#{task_id}")
                    for task_id in log_records.task_ids(storage, family)
                    if (storage.root, task_id) not in kept_ids
                )
    return sorted(found, key=lambda item: item[1])


def _folder_of(storage: Storage, path: str) -> str:
    """``<root>/<family>/<folder>`` for a file below a family's subfolder, else ``path``."""
    parts = path[len(storage.root) :].lstrip("/").split("/")
    if len(parts) <= 2:
        return path
    return f"{storage.root}/{parts[0]}/{parts[1]}"


def _is_orphan(storage: Storage, path: str, suffixes: tuple[str, ...]) -> bool:
    """Whether ``path`` (not kept by any flow) is a flowlib file that is safe to remove."""
    relative = path[len(storage.root) :].lstrip("/")
    parts = relative.split("/")
    if len(parts) != 2:
        return False
    family, name = parts
    if is_temp(name):
        pid = temp_owner(name)
        if pid is None or not name.startswith(f".{family}_"):
            return False
        return pid != os.getpid() and not pid_alive(pid)
    if not name.startswith(f"{family}_"):
        return False
    if name.endswith(RECORD_SUFFIX):
        return True
    return "-" in name and name.endswith(suffixes)
