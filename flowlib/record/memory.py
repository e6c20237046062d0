"""Records kept in this process's memory (tasks whose outputs are memory targets)."""

from __future__ import annotations

import threading

from flowlib.record.model import Record
from flowlib.record.store import RecordKey, RecordStore
from flowlib.storage import FileStat

__all__ = ["MemoryRecordStore"]


class MemoryRecordStore(RecordStore):
    """A dict from record path to :class:`Record`, safe from several threads."""

    def __init__(self) -> None:
        self._records: dict[str, Record] = {}
        self._lock = threading.Lock()

    def read(self, key: RecordKey) -> Record | None:
        return self._records.get(key.path)

    def write(self, key: RecordKey, record: Record) -> None:
        with self._lock:
            self._records[key.path] = record

    def remove(self, key: RecordKey) -> None:
        with self._lock:
            self._records.pop(key.path, None)

    def stat(self, key: RecordKey) -> FileStat | None:
        record = self._records.get(key.path)
        return None if record is None else FileStat(0, None, f"object-{id(record)}")

    def clear(self) -> None:
        """Forget every record."""
        with self._lock:
            self._records.clear()
