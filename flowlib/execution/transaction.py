"""The run transaction: every ``run()`` of a flowlib task is all-or-nothing.

Outputs are saved first (each atomically), the record last; if ``run()`` raises or
forgets an output, every output it saved and the old record are removed, so a task is
either complete with a record that describes its outputs, or has nothing. The same
transaction runs however ``run()`` is called: by flowlib's executor, by luigi's
worker (``python -m luigi``, luigid) or by hand.

Example:
    >>> import flowlib
    >>> class Once(flowlib.TaskPickle):
    ...     def run(self):
    ...         self.save(1)
    >>> flowlib.run(Once(), execution_summary=False).ran  # doctest: +SKIP
    [Once()]
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from luigi.task import flatten

from flowlib.errors import PersistKeyError
from flowlib.fingerprint import code_fingerprint
from flowlib.record import Record, read_record, remove_record, versions, write_record
from flowlib.task import RunState, Task, hooks

__all__ = ["run_transaction", "discard_outputs", "consumed_inputs", "make_record"]

logger = logging.getLogger(__name__)


def consumed_inputs(task: Task) -> dict[str, dict[str, str]]:
    """The output fingerprints of each upstream flowlib task, as the executor knows them or their records say."""
    known = task.planned_inputs
    deps = task.planned_requirements
    if deps is None:
        deps = flatten(task.requires())
    consumed: dict[str, dict[str, str]] = {}
    for dep in deps:
        if not isinstance(dep, Task):
            continue
        if known is not None and dep.task_id in known:
            consumed[dep.task_id] = known[dep.task_id]
            continue
        record = read_record(dep)
        consumed[dep.task_id] = record.output_fingerprints() if record is not None else {}
    return consumed


_last_stamp: tuple[int, str] = (-1, "")


def _stamp(seconds: float) -> str:
    """Local time with its offset, to the second (the text of the last second is reused: tasks are quick)."""
    global _last_stamp
    whole = int(seconds)
    last = _last_stamp
    if last[0] != whole:
        last = _last_stamp = (whole, time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(whole)))
    return last[1]


def make_record(
    task: Task, state: RunState, started: float, consumed: dict[str, dict[str, str]], data: str | None
) -> Record:
    """The record of a run that saved ``state``."""
    return Record(
        family=task.get_task_family(),
        task_id=task.task_id,
        params=task.to_str_params(only_significant=True, only_public=True),
        code=code_fingerprint(type(task)),
        outputs=dict(state.saved),
        inputs=consumed,
        started=_stamp(started),
        duration=round(time.time() - started, 6),
        versions=versions(),
        metadata=dict(state.metadata),
        data=data,
    )


def discard_outputs(task: Task) -> None:
    """Remove every output of ``task`` and its record (best effort on a failing disk)."""
    for target in task.output().values():
        try:
            target.remove()
        except OSError:  # pragma: no cover - best effort on a failing disk
            logger.warning("could not remove %s of %s", target.path, task)
    remove_record(task)


def run_transaction(task: Task, body: Callable[[], Any]) -> Record:
    """Run ``body`` (the task's own ``run()``) all-or-nothing; the record it wrote."""
    state = task.begin_run()
    started = time.time()
    try:
        consumed = consumed_inputs(task)
        data = task.data_fingerprint()  # before reading: a change while it runs shows next time
        if not task.unrecorded:  # found without a record under the lock just now: nothing to remove
            remove_record(task)
        with task.run_context():
            body()
        missing = [key for key in task.persist if key not in state.saved]
        if missing:
            raise PersistKeyError(
                f"{task}.run() returned without saving {missing}; call self.save(...) for every output in persist"
            )
        record = make_record(task, state, started, consumed, data)
        write_record(task, record)
        return record
    except BaseException:
        discard_outputs(task)
        raise
    finally:
        task.end_run()
        task.planned_inputs = None
        task.unrecorded = False


hooks.run = run_transaction
