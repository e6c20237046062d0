"""The local backend: flowlib's lean executor, in this process or on worker threads or processes.

Ready tasks run in dependency order, at most ``workers`` at a time; a task whose
upstream reran and produced exactly what it consumed is not run at all (early
cutoff). What each task consumed is taken from the plan and from the records the
runs in this process wrote, so a running task reads no record twice.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import multiprocessing
import traceback
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import cloudpickle
import luigi

from flowlib.execution.attempt import (
    Attempt,
    attempt,
    attempt_pickled,
    runs_in_main_process,
    still_needed,
    sweep_temp_files,
)
from flowlib.execution.backend import Backend, Execution, RunOptions, all_outcomes
from flowlib.execution.progress import Progress
from flowlib.fingerprint import code_fingerprint
from flowlib.plan import Node, Plan, Status, refresh
from flowlib.record import read_record
from flowlib.result import Outcome, TaskOutcome, last_line
from flowlib.settings import settings
from flowlib.task import Task

__all__ = ["LocalBackend"]

logger = logging.getLogger(__name__)


class LocalBackend(Backend):
    """Runs a plan here: sequentially, or on ``workers`` threads or processes."""

    name = "local"

    def execute(self, plan: Plan, options: RunOptions) -> Execution:
        run = _LocalRun(plan, options)
        decided = run.execute()
        return Execution(all_outcomes(plan, decided), run.first_failure, run.first_exception)


def _known_inputs(node: Node) -> dict[str, dict[str, str]]:
    """Output fingerprints of the node's flowlib requirements, from the plan and this run's records."""
    return {
        dep.task_id: dep.record.output_fingerprints()
        for dep in node.deps
        if isinstance(dep.task, Task) and dep.record is not None
    }


def _codes(task: luigi.Task) -> dict[str, str]:
    """The code fingerprint this process planned with, by task family (the worker records the same)."""
    return {task.get_task_family(): code_fingerprint(type(task))} if isinstance(task, Task) else {}


@contextlib.contextmanager
def _long_lived_frozen() -> Iterator[None]:
    """Keep the objects that exist now (the plan, its tasks and records: they outlive the run) out of the
    collector's full scans while tasks run, as ``gc.freeze`` does; left alone when the program froze some itself."""
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


class _LocalRun:
    """One execution of a plan."""

    def __init__(self, plan: Plan, options: RunOptions) -> None:
        self.plan = plan
        self.workers = options.workers
        self.executor = options.executor
        self.abort = options.abort
        self.todo = plan.to_run()
        self.outcomes: dict[str, TaskOutcome] = {}
        self.first_failure: TaskOutcome | None = None
        self.first_exception: BaseException | None = None
        self.progress = Progress(len(self.todo), enabled=options.progress)

    # -- decisions shared by both loops -----------------------------------------------
    def _blocked(self, node: Node) -> Outcome | None:
        """Why ``node`` cannot run now (an upstream failed, or the run is aborting), else ``None``."""
        for dep in node.deps:
            done = self.outcomes.get(dep.task_id)
            if done is not None and done.outcome in (Outcome.FAILED, Outcome.UPSTREAM_FAILED, Outcome.NOT_RUN):
                return Outcome.UPSTREAM_FAILED
        if self.abort and self.first_failure is not None:
            return Outcome.NOT_RUN
        return None

    def _unchanged(self, node: Node) -> bool:
        """Early cutoff: stale only because upstream reran, and upstream produced what it consumed."""
        return node.cutoff and refresh(node, self.plan.rerun_stale)

    def _record(self, node: Node, result: Attempt) -> None:
        if result.error:
            outcome = TaskOutcome(node.task, Outcome.FAILED, node.reason, result.error, result.duration)
            if self.first_failure is None:
                self.first_failure, self.first_exception = outcome, result.exception
            logger.error("%s failed: %s", node.task, last_line(result.error))
        elif result.skipped:
            node.status = Status.COMPLETE
            node.record = read_record(node.task) if isinstance(node.task, Task) else None
            outcome = TaskOutcome(node.task, Outcome.COMPLETE, "completed by another process", duration=result.duration)
        else:
            node.status = Status.COMPLETE
            if result.record is not None:
                node.record = result.record
            elif isinstance(node.task, Task):
                node.record = read_record(node.task)
            outcome = TaskOutcome(node.task, Outcome.RAN, node.reason, duration=result.duration)
        self.outcomes[node.task_id] = outcome
        self.progress.done(node.task, failed=bool(result.error))

    def _settle(self, node: Node) -> bool:
        """Decide a node without running it, if possible; ``True`` when decided."""
        blocked = self._blocked(node)
        if blocked is not None:
            self.outcomes[node.task_id] = TaskOutcome(node.task, blocked, node.reason)
            self.progress.done(node.task, failed=True)
            return True
        if self._unchanged(node):
            node.status = Status.COMPLETE
            self.outcomes[node.task_id] = TaskOutcome(node.task, Outcome.COMPLETE, "upstream outputs unchanged")
            self.progress.done(node.task)
            return True
        return False

    def _needed(self, node: Node) -> bool:
        return still_needed(node.task, node.record, forced=node.forced, rerun_stale=self.plan.rerun_stale, node=node)

    def _attempt_here(self, node: Node) -> Attempt:
        if isinstance(node.task, Task):
            node.task.planned_inputs = _known_inputs(node)
        return attempt(node.task, lambda: self._needed(node))

    # -- loops ----------------------------------------------------------------------------
    def execute(self) -> dict[str, TaskOutcome]:
        if not self.todo:
            return {}
        folders = {
            (task.storage(), task.storage().family_dir(task.get_task_family()))
            for task in (n.task for n in self.todo)
            if isinstance(task, Task) and task.target_class.is_file and task.storage().is_local
        }
        for storage, folder in folders:
            storage.makedirs(folder)  # fail fast, naming the folder, when the root is not writable
        sweep_temp_files({folder for _, folder in folders})
        try:
            with _long_lived_frozen():
                if self.workers == 1:
                    self._sequential()
                else:
                    self._parallel()
        finally:
            self.progress.close()
        return self.outcomes

    def _sequential(self) -> None:
        for node in self.todo:
            if self._settle(node):
                continue
            self.progress.start(node.task)
            self._record(node, self._attempt_here(node))

    def _submit_to_process(self, processes: Executor, node: Node) -> Future[Any]:
        payload = cloudpickle.dumps(
            (
                settings,
                node.task,
                node.record,
                node.forced,
                self.plan.rerun_stale,
                _codes(node.task),
                _known_inputs(node),
            )
        )
        return processes.submit(attempt_pickled, payload)

    def _parallel(self) -> None:
        waiting = {n.task_id: sum(1 for d in n.deps if not d.complete) for n in self.todo}
        dependents: dict[str, list[Node]] = {n.task_id: [] for n in self.todo}
        for node in self.todo:
            for dep in node.deps:
                if dep.task_id in dependents:
                    dependents[dep.task_id].append(node)
        ready = [n for n in self.todo if waiting[n.task_id] == 0]
        running: dict[Future[Any], Node] = {}
        threads = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="flowlib")
        processes: Executor | None = None

        def finished(node: Node) -> None:
            for child in dependents[node.task_id]:
                waiting[child.task_id] -= 1
                if waiting[child.task_id] == 0:
                    ready.append(child)

        try:
            while ready or running:
                while ready and len(running) < self.workers:
                    node = ready.pop(0)
                    if self._settle(node):
                        finished(node)
                        continue
                    self.progress.start(node.task)
                    if self.executor == "thread" or runs_in_main_process(node.task):
                        future: Future[Any] = threads.submit(self._attempt_here, node)
                    else:
                        if processes is None:
                            processes = _process_pool(self.workers)
                        future = self._submit_to_process(processes, node)
                    running[future] = node
                if not running:
                    continue
                done, _ = wait(list(running), return_when=FIRST_COMPLETED)
                for future in done:
                    node = running.pop(future)
                    self._record(node, _attempt_from(future))
                    finished(node)
        finally:
            threads.shutdown(wait=True)
            if processes is not None:
                processes.shutdown(wait=True, cancel_futures=True)


def _process_pool(workers: int) -> ProcessPoolExecutor:
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    return ProcessPoolExecutor(max_workers=workers, mp_context=context)


def _attempt_from(future: Future[Any]) -> Attempt:
    try:
        value = future.result()
    except BrokenProcessPool as exc:
        return Attempt(error=f"the worker process running this task died: {exc}", exception=exc)
    except BaseException as exc:  # noqa: BLE001 - an error while shipping the task
        return Attempt(error="".join(traceback.format_exception(exc)), exception=exc)
    if isinstance(value, Attempt):
        return value
    result = cloudpickle.loads(value)
    return result if isinstance(result, Attempt) else Attempt(error=f"a worker returned {result!r}")
