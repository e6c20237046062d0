"""Objects kept in this process's memory: no file, no copy.

Memory outputs live as long as the Python process; other processes (workers of
``run(workers=N)``, luigi workers) cannot see them, so flowlib runs tasks that
save or load memory targets in the main process.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

from flowlib.errors import FlowlibError
from flowlib.storage import FileStat
from flowlib.targets.base import OutputInfo, Target, describe, register_target

__all__ = ["MemoryTarget", "clear_memory"]

_store: dict[str, Any] = {}
_lock = threading.Lock()


def clear_memory() -> None:
    """Forget every memory output of this process."""
    with _lock:
        _store.clear()


@register_target
class MemoryTarget(Target):
    """An object held in memory, keyed by its would-be path; saved and loaded without a copy."""

    name = "memory"
    suffix = ".mem"
    is_file = False

    def exists(self) -> bool:
        return self.path in _store

    def stat(self) -> FileStat | None:
        """The stored object's identity stands in for a file's size and time."""
        try:
            obj = _store[self.path]
        except KeyError:
            return None
        return FileStat(0, None, f"object-{id(obj)}")

    def save(self, obj: Any) -> OutputInfo:
        with _lock:
            _store[self.path] = obj
        rows, schema = describe(obj)
        # Hashing a large object would cost what the memory target saves: each save is "new".
        return OutputInfo(self.path, "memory-" + uuid.uuid4().hex[:24], 0, rows, schema)

    def load(self) -> Any:
        try:
            return _store[self.path]
        except KeyError:
            raise FlowlibError(f"no memory output at {self.path!r} in this process; run the task first") from None

    def remove(self) -> None:
        with _lock:
            _store.pop(self.path, None)
