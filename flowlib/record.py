"""The record a task leaves beside its outputs when it completes.

``<root>/<TaskFamily>/<task_id>.record.json`` holds the task's parameters, code
fingerprint, a fingerprint of each output, the upstream fingerprints it consumed,
timings, versions and user metadata. It is written last, atomically: a task
without a record is not complete.
"""

from __future__ import annotations

import json
import platform
import socket
import threading
from typing import Any

from flowlib.errors import FlowlibError
from flowlib.storage import FileStat

__all__ = ["RECORD_SUFFIX", "record_path", "record_stat", "read_record", "write_record", "remove_record", "versions"]

RECORD_SUFFIX = ".record.json"
_memory_records: dict[str, dict[str, Any]] = {}
_lock = threading.Lock()
_versions: dict[str, str] = {}


def versions() -> dict[str, str]:
    """Versions of flowlib, luigi, pandas, pyarrow and Python (for records)."""
    if not _versions:
        import luigi
        import pandas
        import pyarrow

        from flowlib import __version__

        _versions.update(
            flowlib=__version__,
            luigi=getattr(luigi, "__version__", "unknown"),
            pandas=pandas.__version__,
            pyarrow=pyarrow.__version__,
            python=platform.python_version(),
        )
    return dict(_versions)


def host() -> str:
    return socket.gethostname()


def record_path(task: Any) -> str:
    storage = task.storage()
    return f"{storage.family_dir(task.get_task_family())}/{task.task_id}{RECORD_SUFFIX}"


def record_stat(task: Any) -> FileStat | None:
    """Size, time and replacement token of the task's record (``None`` when it has none)."""
    path = record_path(task)
    if not task.target_class.is_file:
        record = _memory_records.get(path)
        return None if record is None else FileStat(0, None, f"object-{id(record)}")
    return task.storage().stat(path)


def read_record(task: Any) -> dict[str, Any] | None:
    """The task's record, or ``None`` when it has none (or it cannot be parsed)."""
    path = record_path(task)
    if not task.target_class.is_file:
        return _memory_records.get(path)
    try:
        data = task.storage().read_bytes(path)
    except FileNotFoundError:
        return None
    try:
        record = json.loads(data)
    except ValueError:
        return None  # a damaged record counts as none: the task reruns
    return record if isinstance(record, dict) else None


def write_record(task: Any, record: dict[str, Any]) -> None:
    path = record_path(task)
    if not task.target_class.is_file:
        with _lock:
            _memory_records[path] = record
        return
    try:
        data = json.dumps(record, separators=(",", ":"), default=str).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise FlowlibError(
            f"{task}: metadata cannot be stored as JSON ({exc}); save_metadata takes plain values"
        ) from exc
    task.storage().write_bytes(path, data)


def remove_record(task: Any) -> None:
    path = record_path(task)
    if not task.target_class.is_file:
        with _lock:
            _memory_records.pop(path, None)
        return
    task.storage().remove(path)
