"""Records as JSON files beside the outputs: ``<root>/<TaskFamily>/<task_id>.record.json``."""

from __future__ import annotations

from flowlib.record.model import NewerRecordError, Record, RecordFormatError
from flowlib.record.store import RecordKey, RecordStore
from flowlib.storage import FileStat

__all__ = ["FileRecordStore"]


class FileRecordStore(RecordStore):
    """One JSON file per task in the task's storage, written through its atomic write."""

    def read(self, key: RecordKey) -> Record | None:
        try:
            data = key.storage.read_bytes(key.path)
        except FileNotFoundError:
            return None
        try:
            return Record.from_json(data)
        except NewerRecordError:
            raise
        except RecordFormatError:
            return None  # a damaged record counts as none: the task reruns

    def write(self, key: RecordKey, record: Record) -> None:
        key.storage.write_bytes(key.path, record.to_json())

    def remove(self, key: RecordKey) -> None:
        key.storage.remove(key.path)

    def stat(self, key: RecordKey) -> FileStat | None:
        return key.storage.stat(key.path)
