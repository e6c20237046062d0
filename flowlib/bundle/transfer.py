"""Export complete tasks into a bundle, and import a bundle into a root after verifying every file.

Example:
    >>> manifest = export(Evaluate(), "results.zip")  # doctest: +SKIP
    >>> import_bundle("results.zip", root="data")  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import datetime
import io
import logging
import os
import shutil
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

import luigi

from flowlib.bundle.files import BundleSource, is_bundle_file, local_copy, open_sink, open_source
from flowlib.bundle.manifest import FORMAT, MANIFEST, BundleError, BundleFile, BundleManifest, BundleTask
from flowlib.hashing import hash_file
from flowlib.locks import locking_available, task_lock
from flowlib.plan import Status, build_plan
from flowlib.record import NewerRecordError, Record, RecordKey, key_for, read_record, records_for
from flowlib.settings import settings
from flowlib.storage import Storage, get_storage, human_size
from flowlib.task import Task
from flowlib.version import __version__

__all__ = ["export", "import_bundle", "read_manifest", "manifest_of"]

logger = logging.getLogger(__name__)


def manifest_of(source: BundleSource, location: str) -> BundleManifest:
    """The manifest of an open bundle; :class:`BundleError` when it has none."""
    if source.size(MANIFEST) is None:
        raise BundleError(
            f"{location} is not a complete bundle: it has no {MANIFEST} (an interrupted export?); export it again"
        )
    return BundleManifest.from_json(source.read(MANIFEST), location)


def read_manifest(src: str | os.PathLike[str], *, storage_options: dict[str, Any] | None = None) -> BundleManifest:
    """The manifest of the bundle at ``src`` (nothing is verified or copied).

    Example:
        >>> print(read_manifest("results.zip"))  # doctest: +SKIP
    """
    location = os.fspath(src)
    with open_source(location, storage_options) as source:
        return manifest_of(source, location)


# -- export ----------------------------------------------------------------------------------
def _relative(storage: Storage, path: str) -> str:
    prefix = storage.root.rstrip("/") + "/"
    if not path.startswith(prefix):
        raise BundleError(f"{path} is not below its root {storage.root}; cannot place it in a bundle")
    return path[len(prefix) :]


def _chosen(tasks: luigi.Task | Iterable[luigi.Task], upstream: bool) -> list[Task]:
    """The flowlib tasks to export, dependencies first; all must be complete and in files."""
    plan = build_plan(tasks)
    roots = {n.task_id: n for n in plan.roots}
    nodes = plan.nodes if upstream else list(roots.values())
    for node in nodes:
        if not isinstance(node.task, Task):
            logger.warning("%s is a plain luigi task: flowlib cannot export its outputs; it is left out", node.task)
        elif not node.task.target_class.is_file:
            hint = "" if node.task_id in roots else ", or export with upstream=False"
            raise BundleError(
                f"cannot export {node.task}: its outputs are memory targets, which live only in this process; "
                f"persist it to files (e.g. TaskPickle){hint}"
            )
    waiting = [n for n in nodes if isinstance(n.task, Task) and n.status is not Status.COMPLETE]
    if waiting:
        names = "; ".join(f"{n.task} ({n.reason or n.status.value})" for n in waiting)
        raise BundleError(f"cannot export: {len(waiting)} task(s) not complete: {names}; run the flow first")
    return [n.task for n in nodes if isinstance(n.task, Task)]


def export(
    tasks: luigi.Task | Iterable[luigi.Task],
    dest: str | os.PathLike[str],
    *,
    upstream: bool = True,
    storage_options: dict[str, Any] | None = None,
) -> BundleManifest:
    """Write the outputs and records of ``tasks`` (and, with ``upstream``, all they require) to ``dest``.

    ``dest`` is a new folder, a ``.zip`` / ``.tar`` / ``.tar.gz`` file or an fsspec URL of either
    (``storage_options`` go to fsspec). Every task must be COMPLETE; memory targets cannot be exported.

    Example:
        >>> manifest = export(Evaluate(C=0.1), "results.tar.gz")  # doctest: +SKIP
        >>> print(manifest)  # doctest: +SKIP
    """
    chosen = _chosen(tasks, upstream)
    location = os.fspath(dest)
    entries = []
    with open_sink(location, storage_options) as sink:
        for task in chosen:
            storage = task.storage()
            record = read_record(task)
            if record is None:  # removed since the plan looked
                raise BundleError(f"cannot export {task}: its record disappeared; run the flow again")
            outputs, files = {}, []
            for key, target in task.output().items():
                outputs[key] = _relative(storage, target.path)
                found = [target.path] if storage.stat(target.path) is not None else storage.list_files(target.path)
                for path in sorted(p for p in found if is_bundle_file(p)):
                    name = _relative(storage, path)
                    with local_copy(storage, path) as local:
                        files.append(BundleFile(name, os.path.getsize(local), hash_file(local)))
                        sink.add_file(name, local)
            data = record.to_json()
            entry = BundleFile(_relative(storage, key_for(task).path), len(data), hash_file(io.BytesIO(data)))
            sink.add_bytes(entry.path, data)
            entries.append(
                BundleTask(
                    task.task_id, task.get_task_family(), dict(record.params), record.code, outputs, entry, tuple(files)
                )
            )
        created = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        manifest = BundleManifest(tuple(entries), __version__, created, FORMAT, location)
        sink.add_bytes(MANIFEST, manifest.to_json())
    logger.info("exported %d tasks (%s) to %s", len(entries), human_size(manifest.total_bytes), location)
    return manifest


# -- import ----------------------------------------------------------------------------------
def _check(source: BundleSource, manifest: BundleManifest, f: BundleFile, *, keep: bool = False) -> bytes:
    """Check one file's size and fingerprint (in one read); its content when ``keep``."""
    size = source.size(f.path)
    if size is None:
        raise BundleError(f"{manifest.location} is missing {f.path}; nothing was imported")
    if size != f.bytes:
        raise BundleError(
            f"{manifest.location}: {f.path} is truncated or changed ({size} bytes, the manifest says "
            f"{f.bytes}); nothing was imported"
        )
    try:
        with source.open(f.path) as handle:
            data = handle.read() if keep else b""
            fingerprint = hash_file(io.BytesIO(data) if keep else handle)
    except Exception as exc:  # zipfile's BadZipFile (CRC), tarfile, zlib and OS errors
        raise BundleError(f"{manifest.location}: {f.path} cannot be read ({exc}); nothing was imported") from exc
    if fingerprint != f.fingerprint:
        raise BundleError(
            f"{manifest.location}: {f.path} is corrupted (its content fingerprint differs from the "
            "manifest's); nothing was imported"
        )
    return data


def _verify(source: BundleSource, manifest: BundleManifest) -> dict[str, Record]:
    """Check every file's size and fingerprint, in the bundle's order; the records, parsed, by task id."""
    records = {}
    for task in manifest.tasks:
        for f in task.files:
            _check(source, manifest, f)
        record = Record.from_json(_check(source, manifest, task.record, keep=True))
        if record.task_id != task.task_id:
            raise BundleError(f"{manifest.location}: {task.record.path} is not the record of {task.task_id}")
        unknown = sorted(set(record.outputs) - set(task.outputs))
        if unknown:
            raise BundleError(f"{manifest.location}: {task.record.path} names outputs {unknown} the manifest lacks")
        records[task.task_id] = record
    return records


def _differs(storage: Storage, task: BundleTask, record: Record) -> bool:
    """Whether ``task`` already has outputs or a record in ``storage`` that differ from the bundle's."""
    for f in task.files:
        found = storage.stat(f"{storage.root}/{f.path}")
        if found is not None:
            if found.size != f.bytes:
                return True
            with local_copy(storage, f"{storage.root}/{f.path}") as local:
                if hash_file(local) != f.fingerprint:
                    return True
    try:
        existing = records_for(storage).read(_key(storage, task))
    except NewerRecordError:
        return True
    if existing is None:  # none, or a damaged one: replacing it loses nothing
        return False
    return existing.code != record.code or existing.output_fingerprints() != record.output_fingerprints()


def _key(storage: Storage, task: BundleTask) -> RecordKey:
    return RecordKey(storage, task.family, task.task_id)


def _copy(source: BundleSource, storage: Storage, f: BundleFile, mtime_ns: int | None) -> None:
    with storage.atomic_write(f"{storage.root}/{f.path}") as tmp:
        with source.open(f.path) as handle, open(tmp, "wb") as out:
            shutil.copyfileobj(handle, out)
        if hash_file(tmp) != f.fingerprint:
            raise BundleError(f"{f.path} changed while it was imported; import the bundle again")
        if mtime_ns is not None and storage.is_local:
            os.utime(tmp, ns=(mtime_ns, mtime_ns))  # the time the record says: the plan sees no change


def import_bundle(
    src: str | os.PathLike[str],
    *,
    root: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    storage_options: dict[str, Any] | None = None,
) -> BundleManifest:
    """Verify every file of the bundle at ``src``, then copy it into ``root`` (default ``flowlib.settings.dir``).

    Nothing is copied if any file is missing, truncated or corrupted, or (without ``overwrite``) if a
    task already has different outputs there. Outputs are copied first, records last, each atomically;
    records are rewritten for the new root. ``storage_options`` go to fsspec for ``src``; a ``root`` URL
    connects with ``flowlib.settings.storage_options`` (see :func:`flowlib.set_dir`).

    Example:
        >>> flowlib.import_bundle("results.zip")  # doctest: +SKIP
        >>> flowlib.run(Evaluate(C=0.1))  # doctest: +SKIP  (runs nothing)
    """
    location = os.fspath(src)
    storage = get_storage(settings.dir if root is None else os.fspath(root), settings.storage_options)
    with open_source(location, storage_options) as source, contextlib.ExitStack() as locks:
        manifest = manifest_of(source, location)
        records = _verify(source, manifest)
        if storage.is_local and locking_available():  # no run of these tasks writes while they are imported
            for task in manifest.tasks:
                directory = storage.family_dir(task.family)
                locks.enter_context(
                    task_lock(directory, task.task_id, timeout=settings.lock_timeout, poll=settings.lock_poll_interval)
                )
        conflicts = [t for t in manifest.tasks if _differs(storage, t, records[t.task_id])]
        if conflicts and not overwrite:
            names = ", ".join(str(t) for t in conflicts)
            raise BundleError(
                f"cannot import {location}: {names} already has different outputs in {storage.root}; "
                "pass overwrite=True (flowlib bundle import --overwrite) to replace them"
            )
        for task in conflicts:  # replaced: not complete until the new record is written
            records_for(storage).remove(_key(storage, task))
        for task in manifest.tasks:  # outputs first...
            recorded = {info.path.rpartition("/")[2]: info.mtime_ns for info in records[task.task_id].outputs.values()}
            for f in task.files:
                _copy(source, storage, f, recorded.get(f.path.rpartition("/")[2]))
        for task in manifest.tasks:  # ...records last: a task is complete only when its record is there
            record = records[task.task_id]
            outputs = {}
            for key, info in record.outputs.items():
                path = f"{storage.root}/{task.outputs[key]}"
                found = storage.stat(path)
                outputs[key] = replace(info, path=path, mtime_ns=info.mtime_ns if found is None else found.mtime_ns)
            records_for(storage).write(_key(storage, task), replace(record, outputs=outputs))
    logger.info("imported %d tasks from %s into %s", len(manifest.tasks), location, storage.root)
    return manifest
