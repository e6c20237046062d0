"""Running one task: the lock, the skip checks, the call to ``run()``, the captured error.

The same function runs in the main process, in a thread, or in a worker process
(the task travels there pickled with cloudpickle).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import cloudpickle
import luigi

from flowlib.fingerprint import pin_fingerprint
from flowlib.locks import pid_alive, task_lock
from flowlib.record import read_record, record_stat
from flowlib.settings import Settings, settings
from flowlib.storage import TEMP_SUFFIX, temp_owner
from flowlib.task import Task

logger = logging.getLogger(__name__)

__all__ = ["Attempt", "execute", "max_attempts", "execute_pickled", "sweep_temp_files", "runs_in_main_process"]


@dataclass
class Attempt:
    """What one execution did: ``ran``, ``skipped`` (another process completed it) or failed."""

    ran: bool = False
    skipped: bool = False
    error: str = ""
    exception: BaseException | None = None
    duration: float = 0.0


def _in_memory(task: luigi.Task) -> bool:
    if not isinstance(task, Task):
        return False
    return not task.target_class.is_file or getattr(task.storage(), "protocol", "") == "memory"


def runs_in_main_process(task: luigi.Task) -> bool:
    """Tasks that save or load in-memory outputs (memory targets, ``memory://`` roots) run where those live."""
    return _in_memory(task) or any(_in_memory(dep) for dep in luigi.task.flatten(task.requires()))


@contextlib.contextmanager
def _lock_for(task: luigi.Task) -> Iterator[bool]:
    if not isinstance(task, Task) or not task.target_class.is_file or not task.storage().is_local:
        yield False
        return
    directory = task.storage().family_dir(task.get_task_family())
    with task_lock(directory, task.task_id, timeout=settings.lock_timeout, poll=settings.lock_poll_interval) as waited:
        yield waited


def max_attempts(task: luigi.Task) -> int:
    """How often a failing task is tried: luigi's ``retry_count`` when it is a positive int, else once."""
    count = getattr(task, "retry_count", None)
    return count if isinstance(count, int) and not isinstance(count, bool) and count > 0 else 1


def record_changed(task: luigi.Task, planned_record: dict[str, Any] | None) -> bool:
    """Whether another process wrote or removed this task's record since the plan read it."""
    if not isinstance(task, Task):
        return False
    if planned_record is None and task.target_class.is_file:
        return record_stat(task) is not None  # still no record file (a stat, not a failed open, per task)
    return read_record(task) != planned_record


def execute(task: luigi.Task, still_needed: Any = None) -> Attempt:
    """Run ``task`` under its lock, up to ``max_attempts(task)`` times.

    Once the lock is held, ``still_needed()`` is asked: another process may have completed
    the task since the plan was made (while we waited for its lock, or just before).
    """
    started = time.perf_counter()
    attempt = Attempt()
    tries = max_attempts(task)
    for number in range(1, tries + 1):
        attempt = Attempt()
        try:
            with _lock_for(task):
                if still_needed is not None and not still_needed():
                    attempt.skipped = True
                else:
                    task.run()
                    attempt.ran = True
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # noqa: BLE001 - reported by the runner
            attempt.error = traceback.format_exc()
            attempt.exception = exc
            if number < tries:
                logger.warning("%s failed (attempt %d of %d), retrying: %s", task, number, tries, exc)
                continue
        break
    attempt.duration = time.perf_counter() - started
    return attempt


def execute_pickled(payload: bytes) -> tuple[bool, bool, str, bytes, float]:
    """Worker-process entry: unpickle the task and what the plan knew of it, execute, summarise."""
    snapshot, task, planned_record, forced, rerun_stale, codes = cloudpickle.loads(payload)
    if isinstance(snapshot, Settings):
        settings.__dict__.update(snapshot.__dict__)
    if isinstance(task, Task) and task.get_task_family() in codes:
        # Record the fingerprint the plan judged by (a source file may have been edited since).
        pin_fingerprint(type(task), codes[task.get_task_family()])

    def still_needed() -> bool:
        if forced or not record_changed(task, planned_record):
            return True
        from flowlib.plan import build_plan

        return not build_plan([task], rerun_stale=rerun_stale).roots[0].complete

    attempt = execute(task, still_needed)
    try:
        exc_bytes = cloudpickle.dumps(attempt.exception) if attempt.exception is not None else b""
    except Exception:  # noqa: BLE001 - an unpicklable exception is reported by its text
        exc_bytes = b""
    return attempt.ran, attempt.skipped, attempt.error, exc_bytes, attempt.duration


def sweep_temp_files(directories: set[str]) -> int:
    """Remove temporary files left by dead processes (``.<name>.<pid>.<rand>.tmp``); returns how many."""
    removed = 0
    for directory in directories:
        try:
            names = os.listdir(directory)
        except OSError:  # missing, or not a folder: the save itself will say what is wrong
            continue
        for name in names:
            if not (name.startswith(".") and name.endswith(TEMP_SUFFIX)):
                continue
            pid = temp_owner(name)
            if pid is not None and (pid == os.getpid() or pid_alive(pid)):
                continue  # still being written
            with contextlib.suppress(FileNotFoundError):
                os.remove(os.path.join(directory, name))
                removed += 1
    return removed
