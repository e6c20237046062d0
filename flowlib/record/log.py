"""Records appended to one JSON-lines file per task family: ``<root>/<TaskFamily>/.flowlib-records.jsonl``.

A run writes one output file per output and then its record; with one record file per
task that second file costs as much as a small output (create, write, rename in a big
folder). Here a record is one line appended to its family's log with a single
``write`` on a file opened with ``O_APPEND``, which local filesystems apply whole and in
order even from several processes at once. The newest line of a task wins; a
``{"task_id": ..., "removed": true}`` line removes it.

Crash safety. Each line is written as ``"\\n" + json + "\\n"``, so a line torn by a
crash is always followed by a line break before the next one: the torn line reads as a
damaged record (its task reruns) and nothing after it is lost. A record is written
after its outputs, so "the record is written last" holds as with record files.

Concurrency. Appenders hold a shared ``flock`` on the log while they write; compaction
(rewriting the log with only the newest line per task, when superseded lines
outnumber live ones) holds it exclusively and replaces the file atomically; an
appender that finds the file replaced under it reopens it. Readers keep what they
parsed and read only the lines added since (a ``stat`` says whether any were).

Records written by older flowlib versions (``<task_id>.record.json``) are still read
when the log has no line for the task; removing a record removes that file too.

Example:
    >>> import tempfile
    >>> from flowlib.storage import LocalStorage
    >>> store, key = LogRecordStore(), RecordKey(LocalStorage(tempfile.mkdtemp()), "A", "A_1")
    >>> store.write(key, Record(family="A", task_id="A_1"))
    >>> store.read(key).task_id
    'A_1'
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import threading
from dataclasses import dataclass
from typing import Any

from flowlib import layout
from flowlib.errors import StorageError
from flowlib.record.file import FileRecordStore
from flowlib.record.model import NewerRecordError, Record, RecordFormatError
from flowlib.record.store import RecordKey, RecordStore
from flowlib.settings import settings
from flowlib.storage import FileStat

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: the file store is used instead
    fcntl = None  # type: ignore[assignment]

__all__ = ["LogRecordStore", "log_supported", "forget_logs"]

logger = logging.getLogger(__name__)

_PREFIX = b'{"task_id":"'
_REMOVED = b',"removed":true}'
#: Compact a log once it holds this many lines and more than twice as many as it has live records.
COMPACT_AFTER = 4096
#: How many bytes before the read offset are checked again when a log has grown (see ``_Log.refresh``).
TAIL_BYTES = 512


def log_supported() -> bool:
    """Whether this platform has what the log needs (``O_APPEND`` and ``flock``)."""
    return fcntl is not None


@dataclass
class _Entry:
    """The newest line of one task: where it is in the log, and its content (raw until first read)."""

    offset: int
    length: int
    content: bytes | Record | None  # None: removed, or damaged


_DAMAGED = b""


class _Log:
    """What this process knows of one log file, and its append descriptor."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.lock = threading.Lock()
        self.inode: int | None = None
        self.offset = 0  # bytes parsed so far
        self.tail = b""  # the last bytes before ``offset``: a file replaced under the same inode differs there
        self.mtime: int | None = None  # the time the file had at ``offset`` (None: unknown, after an append)
        self.lines = 0  # lines parsed so far (superseded ones included)
        self.entries: dict[str, _Entry] = {}
        self.append_fd: int | None = None
        self.append_inode = 0  # the inode of ``append_fd``

    def clear(self, inode: int | None) -> None:
        self.inode, self.offset, self.lines, self.entries, self.tail, self.mtime = inode, 0, 0, {}, b"", None

    def close(self) -> None:
        if self.append_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self.append_fd)
            self.append_fd = None

    # -- reading ---------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Take in the lines added since the last look (all of them when the file was replaced)."""
        try:
            found = os.stat(self.path)
        except (FileNotFoundError, NotADirectoryError):
            if self.inode is not None or self.entries:
                self.clear(None)
            return
        if found.st_ino != self.inode or found.st_size < self.offset:
            self.clear(found.st_ino)
        if found.st_size == self.offset:
            if self.mtime is not None and found.st_mtime_ns != self.mtime:  # rewritten in place, same size
                self.clear(found.st_ino)
            else:
                self.mtime = found.st_mtime_ns
                return
        # Inode numbers are reused: a log removed or compacted away and a new one at the same inode must not
        # be read from the old offset. The bytes before it are read again and must be what they were.
        start = self.offset - len(self.tail)
        try:
            with open(self.path, "rb") as handle:
                if os.fstat(handle.fileno()).st_ino != found.st_ino:  # replaced between stat and open
                    self.clear(None)
                    return
                handle.seek(start)
                data = handle.read(found.st_size - start)
        except FileNotFoundError:
            self.clear(None)
            return
        if not data.startswith(self.tail):
            logger.debug("%s was replaced under the same inode: read again", self.path)
            self.clear(found.st_ino)
            self.refresh()
            return
        self.mtime = found.st_mtime_ns
        self.take(data[len(self.tail) :], self.offset)

    def take(self, data: bytes, start: int) -> None:
        """Parse the complete lines of ``data`` (read at ``start``); a line still being written waits."""
        end = data.rfind(b"\n")
        if end < 0:
            return
        position = start
        for line in data[:end].split(b"\n"):
            if line:
                self.lines += 1
                task_id = _task_id(line)
                if task_id is None:
                    logger.warning("%s: skipped a damaged line at byte %d", self.path, position)
                else:
                    removed = line.endswith(_REMOVED) and line == _line(task_id, None)
                    self.entries[task_id] = _Entry(position, len(line), None if removed else line)
            position += len(line) + 1
        self.offset = start + end + 1
        last = data[max(0, end + 1 - TAIL_BYTES) : end + 1]
        self.tail = last if len(last) == TAIL_BYTES else (self.tail + last)[-TAIL_BYTES:]

    def compactable(self) -> bool:
        return self.lines >= COMPACT_AFTER and self.lines > 2 * len(self.entries)

    # -- writing ---------------------------------------------------------------------------------
    def append(self, line: bytes) -> int:
        """Append one line; the offset it starts at.

        The write holds a shared ``flock`` on the file, and goes to the file that is at the path now
        (a compaction replaces it under an exclusive lock).
        """
        assert fcntl is not None
        data = b"\n" + line + b"\n"
        for _ in range(100):
            if self.append_fd is None:
                os.makedirs(os.path.dirname(self.path), exist_ok=True)
                self.append_fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
                self.append_inode = os.fstat(self.append_fd).st_ino
            fd, inode = self.append_fd, self.append_inode
            fcntl.flock(fd, fcntl.LOCK_SH)
            try:
                try:
                    current = os.stat(self.path).st_ino
                except FileNotFoundError:
                    current = None
                if current == inode:
                    written = os.write(fd, data)
                    if written != len(data):
                        raise OSError(errno.ENOSPC, f"short write ({written} of {len(data)} bytes)")
                    if settings.fsync:
                        os.fsync(fd)
                    end = os.lseek(fd, 0, os.SEEK_CUR)
                    break
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
            self.close()  # compacted or removed under us: open the file that is there now
        else:
            raise StorageError(f"{self.path} keeps being replaced; is another program rewriting it?")
        start = end - len(data)
        fresh_file = self.inode is None and self.offset == 0 and not self.entries
        if start == self.offset and (self.inode == inode or fresh_file):  # nothing else was appended meanwhile
            self.inode, self.offset, self.mtime = inode, end, None
            self.tail = (self.tail + data)[-TAIL_BYTES:]
            self.lines += 1
        return start + 1

    def compact(self, drop: frozenset[str] = frozenset(), *, wait: bool = False) -> bool:
        """Rewrite the log with the newest line of each live task (without ``drop``); whether it did."""
        assert fcntl is not None
        try:
            fd = os.open(self.path, os.O_RDWR)
        except FileNotFoundError:
            return False
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False  # appenders are busy: another time
            try:
                if os.stat(self.path).st_ino != os.fstat(fd).st_ino:
                    return False  # compacted by someone else meanwhile
            except FileNotFoundError:
                return False
            with os.fdopen(os.dup(fd), "rb") as handle:
                data = handle.read()
            fresh = _Log(self.path)
            fresh.take(data, 0)
            keep = [
                (task_id, entry)
                for task_id, entry in fresh.entries.items()
                if entry.content is not None and task_id not in drop
            ]
            if not keep:  # nothing left: no log (appenders waiting on the old one create a new one)
                os.remove(self.path)
                self.close()
                self.clear(None)
                return True
            tmp = layout.temp_name(self.path)
            try:
                with open(tmp, "wb") as out:
                    for _task_id, entry in keep:
                        out.write(b"\n" + data[entry.offset : entry.offset + entry.length] + b"\n")
                    if settings.fsync:
                        out.flush()
                        os.fsync(out.fileno())
                os.replace(tmp, self.path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.remove(tmp)
                raise
            logger.debug("compacted %s: %d lines to %d", self.path, fresh.lines, len(keep))
            self.close()
            self.clear(None)
            return True
        finally:
            os.close(fd)


def _task_id(line: bytes) -> str | None:
    """The task a line belongs to (also for a damaged line, when its start is intact)."""
    if not line.startswith(_PREFIX):
        return None
    end = line.find(b'"', len(_PREFIX))
    if end < 0:
        return None
    raw = line[len(_PREFIX) : end]
    if b"\\" in raw:  # an escaped character: let json decode the whole line
        try:
            return str(json.loads(line)["task_id"])
        except (ValueError, KeyError, TypeError):
            return None
    return raw.decode("utf-8", "replace")


def _line(task_id: str, record: Record | None) -> bytes:
    # luigi's task ids are letters, digits, "_" and the namespace's ".": no JSON escaping needed.
    plain = task_id.isascii() and task_id.replace("_", "a").replace(".", "a").isalnum()
    head = b'{"task_id":"' + task_id.encode("ascii") + b'"' if plain else b'{"task_id":' + json.dumps(task_id).encode()
    if record is None:
        return head + _REMOVED
    return head + b',"record":' + record.to_json() + b"}"


_logs: dict[str, _Log] = {}
_logs_lock = threading.Lock()


def forget_logs() -> None:
    """Drop what this process knows of every log and close its descriptors (``flowlib.caches.reset`` calls it)."""
    global _logs_lock
    for log in list(_logs.values()):
        log.close()
    _logs.clear()
    _logs_lock = threading.Lock()


def _after_fork_in_child() -> None:
    """A forked worker keeps what its parent had read (a ``stat`` re-checks it), with locks and descriptors of its own.

    The parent's append descriptor shares its ``flock`` with the child, so the child opens its own; a
    log that another thread of the parent was changing at the fork is read again from the start.
    """
    global _logs_lock
    _logs_lock = threading.Lock()
    for log in _logs.values():
        busy = log.lock.locked()
        log.lock = threading.Lock()
        log.close()
        if busy:
            log.clear(None)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class LogRecordStore(RecordStore):
    """Records of local storages, one appended line each in the family's log (see the module docstring)."""

    def __init__(self) -> None:
        self._legacy = FileRecordStore()

    def location(self, key: RecordKey) -> str:
        return layout.record_log_path(key.storage.root, key.family)

    def _log(self, key: RecordKey) -> _Log:
        path = layout.record_log_path(key.storage.root, key.family)
        log = _logs.get(path)
        if log is None:
            with _logs_lock:
                log = _logs.setdefault(path, _Log(path))
        return log

    def _entry(self, log: _Log, task_id: str) -> _Entry | None:
        log.refresh()
        if log.compactable() and log.compact():
            log.refresh()
        return log.entries.get(task_id)

    def read(self, key: RecordKey) -> Record | None:
        log = self._log(key)
        with log.lock:
            entry = self._entry(log, key.task_id)
            if entry is None:
                return self._legacy.read(key)
            content = entry.content
            if content is None or isinstance(content, Record):
                return content
            if not content:  # _DAMAGED: found and said once already (raw lines are never empty)
                return None
            try:
                record = _parse(content)
            except NewerRecordError:
                raise
            except RecordFormatError:
                logger.warning("%s: the record of %s is damaged; the task will run again", log.path, key.task_id)
                entry.content = _DAMAGED
                return None
            entry.content = record
            return record

    def write(self, key: RecordKey, record: Record) -> None:
        log = self._log(key)
        with log.lock:
            self._append(log, key.task_id, record)

    def remove(self, key: RecordKey) -> None:
        log = self._log(key)
        with log.lock:
            entry = self._entry(log, key.task_id)
            if entry is not None and entry.content is not None:
                self._append(log, key.task_id, None)
        self._legacy.remove(key)

    @staticmethod
    def _append(log: _Log, task_id: str, record: Record | None) -> None:
        """Append ``task_id``'s record (``None``: its removal), and know it without reading it back."""
        line = _line(task_id, record)
        try:
            offset = log.append(line)
        except OSError as exc:
            raise _storage_error(log.path, exc) from exc
        if log.offset == offset + len(line) + 1:  # appended right after what this process had read
            log.entries[task_id] = _Entry(offset, len(line), record)

    def stat(self, key: RecordKey) -> FileStat | None:
        log = self._log(key)
        with log.lock:
            entry = self._entry(log, key.task_id)
            if entry is None:
                return self._legacy.stat(key)
            if entry.content is None:
                return None
            return FileStat(entry.length, None, f"log:{log.inode}:{entry.offset}")

    def task_ids(self, storage: Any, family: str) -> list[str]:
        """The tasks with a record in ``family``'s log."""
        log = self._log(RecordKey(storage, family, ""))
        with log.lock:
            log.refresh()
            return sorted(task_id for task_id, entry in log.entries.items() if entry.content is not None)

    def drop(self, storage: Any, family: str, task_ids: set[str]) -> None:
        """Remove the records of ``task_ids`` from ``family``'s log and compact it (``clean`` calls this)."""
        log = self._log(RecordKey(storage, family, ""))
        with log.lock:
            try:
                log.compact(frozenset(task_ids), wait=True)
            except OSError as exc:
                raise _storage_error(log.path, exc) from exc
            log.refresh()


def _parse(content: bytes | Record) -> Record:
    if isinstance(content, Record):
        return content
    if not content:
        raise RecordFormatError("damaged")
    try:
        data = json.loads(content)
    except ValueError as exc:
        raise RecordFormatError(f"not a flowlib record (damaged JSON: {exc})") from exc
    body = data.get("record") if isinstance(data, dict) else None
    if not isinstance(body, dict):
        raise RecordFormatError("not a flowlib record line")
    return Record.from_dict(body)


def _storage_error(path: str, exc: OSError) -> StorageError:
    return StorageError(
        f"could not write the record log {path!r} ({exc.strerror or exc}); the task's outputs are discarded. "
        "Free space or fix permissions and run again, or set flowlib.settings.record_store = 'files'"
    )
