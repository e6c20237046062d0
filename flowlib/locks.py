"""Per-task locks, so two processes never run the same task at once.

Each task family's folder holds one lock file, ``.flowlib.lock``; a task is
locked by an exclusive POSIX byte-range lock (``fcntl.lockf``) on one byte of
that file, at an offset derived from its ``task_id``. The kernel releases a
lock when its process exits, however it exits (``kill -9`` included), so a lock
can never be left stale, and no file is created per task. Where ``fcntl`` is
missing (Windows) or the root is remote (fsspec), tasks are not locked: use a
luigid central scheduler there.

Example:
    >>> with task_lock("/tmp/flowlib-doc/Train", "Train_abc", timeout=5) as waited:  # doctest: +SKIP
    ...     pass
"""

from __future__ import annotations

import hashlib
import os
import threading
import time

from flowlib.errors import LockTimeoutError
from flowlib.layout import LOCK_FILE

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["task_lock", "TaskLock", "pid_alive", "LOCK_FILE", "locking_available"]

_fds: dict[tuple[int, str], int] = {}
_fds_lock = threading.Lock()
_thread_locks: dict[tuple[int, str, str], threading.Lock] = {}


def locking_available() -> bool:
    return fcntl is not None


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _lock_fd(directory: str) -> int:
    """One open lock file per folder and process (closing it would drop this process's locks)."""
    key = (os.getpid(), directory)
    fd = _fds.get(key)
    if fd is not None and os.fstat(fd).st_nlink == 0:
        # The folder was deleted by hand: lock a fresh file, or other processes would not see our locks.
        # The old descriptor stays open: another thread may still hold a lock through it.
        with _fds_lock:
            if _fds.get(key) == fd:
                del _fds[key]
        fd = None
    if fd is None:
        with _fds_lock:
            fd = _fds.get(key)
            if fd is None:
                os.makedirs(directory, exist_ok=True)
                fd = os.open(os.path.join(directory, LOCK_FILE), os.O_RDWR | os.O_CREAT, 0o644)
                _fds[key] = fd
    return fd


def _offset(task_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(task_id.encode("utf-8"), digest_size=7).digest(), "big")


class TaskLock:
    """``task_id``'s lock in ``directory``, held inside a ``with`` block (see :func:`task_lock`).

    A class, not a generator: it is taken once per task run, where every call counts.
    """

    __slots__ = ("directory", "task_id", "timeout", "poll", "fd", "offset", "in_process")

    def __init__(self, directory: str, task_id: str, *, timeout: float, poll: float = 0.05) -> None:
        self.directory, self.task_id, self.timeout, self.poll = directory, task_id, timeout, poll
        self.fd = -1
        self.offset = 0
        self.in_process: threading.Lock | None = None

    def __enter__(self) -> bool:
        """Wait for the lock; ``True`` if another run held it first (we waited)."""
        key = (os.getpid(), self.directory, self.task_id)
        in_process = _thread_locks.get(key)
        if in_process is None:
            with _fds_lock:
                in_process = _thread_locks.setdefault(key, threading.Lock())
        fd = self.fd = _lock_fd(self.directory) if fcntl is not None else -1
        offset = self.offset = _offset(self.task_id)
        waited = False
        deadline = time.monotonic() + self.timeout
        while True:
            if in_process.acquire(blocking=False):
                if fcntl is None:
                    break
                try:
                    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, offset, os.SEEK_SET)
                    break
                except (BlockingIOError, PermissionError):
                    in_process.release()
            waited = True
            if time.monotonic() > deadline:
                raise LockTimeoutError(
                    f"waited {self.timeout:.0f}s for another run of {self.task_id} (lock in "
                    f"{self.directory}/{LOCK_FILE}); raise flowlib.settings.lock_timeout, or stop the other run"
                )
            time.sleep(self.poll)
        self.in_process = in_process
        return waited

    def __exit__(self, *exc: object) -> None:
        in_process, self.in_process = self.in_process, None
        if in_process is None:
            return
        try:
            if fcntl is not None:
                fcntl.lockf(self.fd, fcntl.LOCK_UN, 1, self.offset, os.SEEK_SET)
        finally:
            in_process.release()


def task_lock(directory: str, task_id: str, *, timeout: float, poll: float = 0.05) -> TaskLock:
    """Hold ``task_id``'s lock in ``directory``; ``with`` it yields ``True`` if another run held it first.

    POSIX byte-range locks belong to a process, so threads of one process are kept apart by an
    in-process lock taken first.
    """
    return TaskLock(directory, task_id, timeout=timeout, poll=poll)
