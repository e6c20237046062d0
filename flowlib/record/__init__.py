"""Records: what produced each task's outputs, typed, and the stores that keep them.

:class:`Record` is the typed record; :class:`RecordStore` the interface of its stores
(:class:`LogRecordStore`, one appended line per record in a log per family, on local disks;
:class:`FileRecordStore`, one file per task, on object stores or with
``settings.record_store = "files"``; :class:`MemoryRecordStore` for memory targets). The
functions below pick a task's store and are what the rest of flowlib calls.

Example:
    >>> Record(family="A", task_id="A_1").output_fingerprints()
    {}
"""

from __future__ import annotations

from typing import Any

from flowlib.errors import FlowlibError
from flowlib.layout import RECORD_SUFFIX
from flowlib.record.file import FileRecordStore
from flowlib.record.log import LogRecordStore, forget_logs, log_supported
from flowlib.record.memory import MemoryRecordStore
from flowlib.record.model import FORMAT_VERSION, NewerRecordError, Record, RecordFormatError, versions
from flowlib.record.store import RecordKey, RecordStore
from flowlib.settings import settings
from flowlib.storage import FileStat, Storage

__all__ = [
    "Record",
    "RecordFormatError",
    "NewerRecordError",
    "RecordKey",
    "RecordStore",
    "FileRecordStore",
    "LogRecordStore",
    "MemoryRecordStore",
    "FORMAT_VERSION",
    "RECORD_SUFFIX",
    "file_records",
    "log_records",
    "records_for",
    "forget_logs",
    "memory_records",
    "store_for",
    "key_for",
    "record_path",
    "record_stat",
    "read_record",
    "write_record",
    "remove_record",
    "versions",
]

#: The file store (stateless), the log store and this process's memory store.
file_records = FileRecordStore()
log_records = LogRecordStore()
memory_records = MemoryRecordStore()
_STORES = ("log", "files")


def records_for(storage: Storage) -> RecordStore:
    """The store for records of tasks whose outputs are in ``storage`` (``settings.record_store``).

    Local disks keep a log per family unless ``settings.record_store`` is ``"files"``; object
    stores, which cannot append, keep a file per task.
    """
    choice = settings.record_store
    if choice == "log":
        return log_records if storage.is_local and log_supported() else file_records
    if choice == "files":
        return file_records
    raise FlowlibError(f"settings.record_store is {choice!r}; set it to one of {list(_STORES)}")


def _located(task: Any) -> tuple[RecordStore, RecordKey]:
    """:func:`store_for` and :func:`key_for` together (the storage looked up once)."""
    storage = task.storage()
    key = RecordKey(storage, task.get_task_family(), task.task_id)
    return (records_for(storage) if task.target_class.is_file else memory_records), key


def store_for(task: Any) -> RecordStore:
    """The store that keeps ``task``'s record: beside its files, or in memory for memory targets."""
    return _located(task)[0]


def key_for(task: Any) -> RecordKey:
    """Which record belongs to ``task``."""
    return _located(task)[1]


def record_path(task: Any) -> str:
    """The file that holds ``task``'s record (on local disks: its family's log, shared with the family)."""
    store, key = _located(task)
    return store.location(key)


def record_stat(task: Any) -> FileStat | None:
    """Size, time and replacement token of ``task``'s record (``None`` when it has none)."""
    store, key = _located(task)
    return store.stat(key)


def read_record(task: Any) -> Record | None:
    """``task``'s record, or ``None`` when it has none (or it is damaged)."""
    store, key = _located(task)
    return store.read(key)


def write_record(task: Any, record: Record) -> None:
    """Store ``task``'s record (atomically)."""
    store, key = _located(task)
    store.write(key, record)


def remove_record(task: Any) -> None:
    """Remove ``task``'s record, if any."""
    store, key = _located(task)
    store.remove(key)
