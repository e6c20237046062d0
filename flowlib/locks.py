"""Per-task lock files, so two processes never run the same task at once.

``<root>/<TaskFamily>/<task_id>.lock`` is created exclusively and holds the
owner's host and pid. A lock whose owner process is gone (same host) is stale
and is taken over. Remote roots (fsspec) are not locked: use luigid there.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Iterator

from flowlib.errors import LockTimeoutError

__all__ = ["task_lock", "pid_alive", "LOCK_SUFFIX"]

LOCK_SUFFIX = ".lock"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _owner(path: str) -> dict[str, object] | None:
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
        return data if isinstance(data, dict) else None
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}  # being written right now, or damaged


def _is_stale(path: str) -> bool:
    owner = _owner(path)
    if owner is None:
        return False
    if not owner:  # unreadable: stale once it is old
        try:
            return time.time() - os.stat(path).st_mtime > 5.0
        except FileNotFoundError:
            return False
    pid = owner.get("pid")
    return owner.get("host") == socket.gethostname() and isinstance(pid, int) and not pid_alive(pid)


def _try_create(path: str) -> bool:
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump({"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}, handle)
    return True


@contextlib.contextmanager
def task_lock(path: str, *, timeout: float, poll: float = 0.05) -> Iterator[bool]:
    """Hold the lock at ``path``; yields ``True`` if another process held it first (we waited)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    waited = False
    deadline = time.monotonic() + timeout
    while not _try_create(path):
        if _is_stale(path):
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)
            continue
        waited = True
        if time.monotonic() > deadline:
            raise LockTimeoutError(
                f"waited {timeout:.0f}s for {path} held by {_owner(path)}; "
                "if no process runs this task, delete the lock file"
            )
        time.sleep(poll)
    try:
        yield waited
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)
