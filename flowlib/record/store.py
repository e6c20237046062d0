"""The ``RecordStore`` interface: where records are kept, and how they are read and written.

A store is asked about a task by the little a record needs of it (:class:`RecordKey`:
where its storage is, its family and ``task_id``). Two backends, one module each:
:mod:`flowlib.record.log` (local disks: one appended line per record in the family's log),
:mod:`flowlib.record.file` (object stores, or on request: one JSON file per task) and
:mod:`flowlib.record.memory` (this process only, for memory targets). All pass the
contract tests in ``tests/test_record_store.py``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from flowlib.record.model import Record
from flowlib.storage import FileStat, Storage

__all__ = ["RecordKey", "RecordStore"]


@dataclass(frozen=True)
class RecordKey:
    """Which record: the storage holding the task's outputs, its family and ``task_id``."""

    storage: Storage
    family: str
    task_id: str

    @property
    def path(self) -> str:
        """Where the record lives (a file path, or the name a memory store keys it by)."""
        return self.storage.record_path(self.family, self.task_id)


class RecordStore(ABC):
    """Reads, writes and removes task records; writes are atomic."""

    def location(self, key: RecordKey) -> str:
        """The file (or memory name) that holds the record: ``key.path``, or a log shared by the family."""
        return key.path

    @abstractmethod
    def read(self, key: RecordKey) -> Record | None:
        """The record, or ``None`` when there is none or it is damaged (the task then reruns).

        A record written by a newer flowlib raises :class:`~flowlib.record.RecordFormatError`.
        """

    @abstractmethod
    def write(self, key: RecordKey, record: Record) -> None:
        """Store ``record`` atomically: readers see the old record or the new one."""

    @abstractmethod
    def remove(self, key: RecordKey) -> None:
        """Remove the record if there is one."""

    @abstractmethod
    def stat(self, key: RecordKey) -> FileStat | None:
        """What changes when the record is replaced (size, time, token); ``None`` without a record."""
