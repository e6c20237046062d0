"""Running one task: its lock, the check under the lock, retries, and the captured error.

:func:`attempt` runs in the main process, in a thread, or in a worker process (where
the task travels pickled with cloudpickle, see :func:`attempt_pickled`). Under the
task's lock, :func:`still_needed` asks the one question every backend must ask: did
another process complete this task since the plan was made?
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass

import cloudpickle
import luigi
from luigi.task import flatten

from flowlib.fingerprint import pin_fingerprint
from flowlib.layout import is_temp, temp_owner
from flowlib.locks import pid_alive, task_lock
from flowlib.plan import Node, build_plan, refresh
from flowlib.record import Record, read_record, record_stat
from flowlib.settings import Settings, settings
from flowlib.task import Task

logger = logging.getLogger(__name__)

__all__ = [
    "Attempt",
    "attempt",
    "attempt_pickled",
    "max_attempts",
    "still_needed",
    "sweep_temp_files",
    "runs_in_main_process",
]


@dataclass
class Attempt:
    """What one execution did: ``ran``, ``skipped`` (another process completed it) or failed."""

    ran: bool = False
    skipped: bool = False
    error: str = ""
    exception: BaseException | None = None
    duration: float = 0.0
    #: The record the run wrote (flowlib tasks that ran).
    record: Record | None = None


def _in_memory(task: luigi.Task) -> bool:
    if not isinstance(task, Task):
        return False
    return not task.target_class.is_file or getattr(task.storage(), "protocol", "") == "memory"


def runs_in_main_process(task: luigi.Task) -> bool:
    """Tasks that save or load in-memory outputs (memory targets, ``memory://`` roots) run where those live."""
    return _in_memory(task) or any(_in_memory(dep) for dep in flatten(task.requires()))


_UNLOCKED = contextlib.nullcontext(False)


def _lock_for(task: luigi.Task) -> contextlib.AbstractContextManager[bool]:
    """The lock a run of ``task`` holds: its task lock on local disks, else none (``with`` gives ``False``)."""
    if not isinstance(task, Task) or not task.target_class.is_file:
        return _UNLOCKED
    storage = task.storage()
    if not storage.is_local:
        return _UNLOCKED
    directory = storage.family_dir(task.get_task_family())
    return task_lock(directory, task.task_id, timeout=settings.lock_timeout, poll=settings.lock_poll_interval)


def max_attempts(task: luigi.Task) -> int:
    """How often a failing task is tried: luigi's ``retry_count`` when it is a positive int, else once."""
    count = getattr(task, "retry_count", None)
    return count if isinstance(count, int) and not isinstance(count, bool) and count > 0 else 1


def still_needed(
    task: luigi.Task, planned: Record | None, *, forced: bool, rerun_stale: bool, node: Node | None = None
) -> bool:
    """Asked under the task's lock: must it still run, or did another process complete it since the plan?

    Unchanged record: the plan's verdict stands. Changed: decide again, from ``node`` (the plan's,
    with its upstream) when the caller has it, else from a new plan of the task.
    """
    if forced or not isinstance(task, Task):
        return True
    if planned is None and task.target_class.is_file:
        unchanged = task.unrecorded = record_stat(task) is None  # still none: a stat, not a failed open
    else:
        unchanged = read_record(task) == planned
    if unchanged:
        return True
    if node is not None:
        return not refresh(node, rerun_stale)
    return not build_plan([task], rerun_stale=rerun_stale).roots[0].complete


def attempt(task: luigi.Task, needed: Callable[[], bool] | None = None) -> Attempt:
    """Run ``task`` under its lock, up to ``max_attempts(task)`` times; ``needed()`` is asked under the lock."""
    started = time.perf_counter()
    result = Attempt()
    tries = max_attempts(task)
    for number in range(1, tries + 1):
        if number > 1:
            result = Attempt()
        try:
            with _lock_for(task):
                if needed is not None and not needed():
                    result.skipped = True
                else:
                    value = task.run()
                    result.ran = True
                    result.record = value if isinstance(value, Record) else None
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # noqa: BLE001 - reported by the backend
            result.error = traceback.format_exc()
            result.exception = exc
            if number < tries:
                logger.warning("%s failed (attempt %d of %d), retrying: %s", task, number, tries, exc)
                continue
        break
    result.duration = time.perf_counter() - started
    return result


def attempt_pickled(payload: bytes) -> bytes:
    """Worker-process entry: unpickle the task and what the plan knew of it, attempt it, pickle the result."""
    snapshot, task, planned, forced, rerun_stale, codes, inputs = cloudpickle.loads(payload)
    if isinstance(snapshot, Settings):
        settings.__dict__.update(snapshot.__dict__)
    if isinstance(task, Task):
        if task.get_task_family() in codes:
            # Record the fingerprint the plan judged by (a source file may have been edited since).
            pin_fingerprint(type(task), codes[task.get_task_family()])
        task.planned_inputs = inputs
    result = attempt(task, lambda: still_needed(task, planned, forced=forced, rerun_stale=rerun_stale))
    try:
        return bytes(cloudpickle.dumps(result))
    except Exception:  # noqa: BLE001 - an unpicklable exception is reported by its text
        result.exception = None
        return bytes(cloudpickle.dumps(result))


def sweep_temp_files(directories: set[str]) -> int:
    """Remove temporary files and folders left by dead processes (``.<name>.<pid>.<rand>.tmp``); how many."""
    removed = 0
    for directory in directories:
        try:
            names = os.listdir(directory)
        except OSError:  # missing, or not a folder: the save itself will say what is wrong
            continue
        for name in names:
            if not is_temp(name):
                continue
            pid = temp_owner(name)
            if pid is not None and (pid == os.getpid() or pid_alive(pid)):
                continue  # still being written
            path = os.path.join(directory, name)
            with contextlib.suppress(FileNotFoundError):
                if os.path.isdir(path):  # a dataset folder being written (flowlib.targets.dataset)
                    shutil.rmtree(path)
                else:
                    os.remove(path)
                removed += 1
    return removed
