"""``flowlib.run``: plan once, then run what is not complete, dependencies first.

Locally, flowlib runs the plan on its own lean executor (in this process, or on
``workers`` processes or threads). With a scheduler URL it hands the tasks to
luigi's worker and a central ``luigid``.
"""

from __future__ import annotations

import logging
import multiprocessing
import time
from collections.abc import Iterable
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Literal

import cloudpickle
import luigi

from flowlib.errors import FlowlibError, TaskFailedError
from flowlib.executor import (
    Attempt,
    execute,
    execute_pickled,
    record_changed,
    runs_in_main_process,
    sweep_temp_files,
)
from flowlib.fingerprint import code_fingerprint
from flowlib.plan import Node, Plan, Status, build_plan, refresh
from flowlib.progress import Progress
from flowlib.record import read_record
from flowlib.result import Outcome, RunResult, TaskOutcome
from flowlib.settings import settings
from flowlib.task import Task

__all__ = ["run"]

logger = logging.getLogger(__name__)


def run(
    tasks: luigi.Task | Iterable[luigi.Task],
    *,
    workers: int = 1,
    forced: Iterable[luigi.Task] | None = None,
    forced_all: bool = False,
    forced_all_upstream: bool = False,
    confirm: bool = False,
    abort: bool = True,
    rerun_stale: bool | None = None,
    executor: Literal["process", "thread"] = "process",
    scheduler: str | None = None,
    progress: bool | None = None,
) -> RunResult:
    """Run every task of the flow that is not complete, each after what it requires.

    Args:
        workers: how many tasks run at once (processes by default, ``executor="thread"`` for threads).
        forced: tasks to rerun even if complete, with everything downstream of them.
        forced_all: rerun the given tasks; ``forced_all_upstream``: rerun every task of the flow.
        confirm: show the plan and ask on stdin before running.
        abort: raise :class:`TaskFailedError` on the first failure (else return a failed result).
        rerun_stale: rerun tasks whose code or upstream data changed (default: ``settings.rerun_stale``).
        scheduler: URL of a luigid (default: ``settings.scheduler``); ``None`` runs locally.
        progress: show a progress bar (default: only when stderr is a terminal).

    Example:
        >>> result = flowlib.run(Train(scale=2.0))  # doctest: +SKIP
        >>> print(result)  # doctest: +SKIP
    """
    if not isinstance(workers, int) or workers < 1:
        raise FlowlibError(f"workers must be a positive int, got {workers!r}")
    if executor not in ("process", "thread"):
        raise FlowlibError(f"executor must be 'process' or 'thread', got {executor!r}")
    started = time.perf_counter()
    plan = build_plan(
        tasks, rerun_stale=rerun_stale, forced=forced, forced_all=forced_all, forced_all_upstream=forced_all_upstream
    )
    if confirm:
        from flowlib.preview import ask, render

        todo = plan.to_run()
        if todo and not ask(render(plan).text + f"\nRun {len(todo)} task(s)? [y/N] "):
            return RunResult(_all_outcomes(plan, {}), cancelled=True, elapsed=time.perf_counter() - started)
    url = scheduler if scheduler is not None else settings.scheduler
    if url:
        from flowlib.central import run_on_scheduler

        return run_on_scheduler(plan, url=url, workers=workers, abort=abort, started=started)
    local = _LocalRun(plan, workers=workers, executor=executor, abort=abort, progress=progress)
    outcomes = local.execute()
    result = RunResult(_all_outcomes(plan, outcomes), elapsed=time.perf_counter() - started)
    logger.info("%s", result)
    if abort and local.first_failure is not None:
        raise _failure_error(local.first_failure, result) from local.first_exception
    return result


def _all_outcomes(plan: Plan, outcomes: dict[str, TaskOutcome]) -> tuple[TaskOutcome, ...]:
    return tuple(
        outcomes.get(n.task_id) or TaskOutcome(n.task, Outcome.COMPLETE if n.complete else Outcome.NOT_RUN)
        for n in plan.nodes
    )


def _failure_error(failure: TaskOutcome, result: RunResult) -> TaskFailedError:
    params = failure.task.to_str_params(only_significant=True)
    error = TaskFailedError(
        f"{failure.task} failed (parameters {params}); its outputs were removed, tasks that succeeded keep theirs. "
        f"Fix it and run again: flowlib resumes from there.\n\nOriginal traceback:\n{failure.error}",
        task=failure.task,
        traceback=failure.error,
    )
    error.result = result  # type: ignore[attr-defined]
    return error


class _LocalRun:
    """Executes a plan: ready tasks in dependency order, at most ``workers`` at a time."""

    def __init__(self, plan: Plan, *, workers: int, executor: str, abort: bool, progress: bool | None) -> None:
        self.plan = plan
        self.workers = workers
        self.executor = executor
        self.abort = abort
        self.todo = plan.to_run()
        self.outcomes: dict[str, TaskOutcome] = {}
        self.first_failure: TaskOutcome | None = None
        self.first_exception: BaseException | None = None
        self.progress = Progress(len(self.todo), enabled=progress)

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

    def _record(self, node: Node, attempt: Attempt) -> None:
        if attempt.error:
            outcome = TaskOutcome(node.task, Outcome.FAILED, node.reason, attempt.error, attempt.duration)
            if self.first_failure is None:
                self.first_failure, self.first_exception = outcome, attempt.exception
            logger.error("%s failed:\n%s", node.task, attempt.error)
        elif attempt.skipped:
            node.status = Status.COMPLETE
            outcome = TaskOutcome(
                node.task, Outcome.COMPLETE, "completed by another process", duration=attempt.duration
            )
        else:
            node.status = Status.COMPLETE
            outcome = TaskOutcome(node.task, Outcome.RAN, node.reason, duration=attempt.duration)
        if isinstance(node.task, Task):
            node.task.__dict__.pop("_flowlib_upstream", None)  # unused when the task was skipped or failed early
            if not attempt.error:
                self._keep_record(node)
        self.outcomes[node.task_id] = outcome
        self.progress.done(node.task, failed=bool(attempt.error))

    @staticmethod
    def _hand_over(node: Node) -> None:
        """Give the task the upstream records this run holds, so it does not read them again."""
        task = node.task
        if isinstance(task, Task):
            task.__dict__.pop("_flowlib_record", None)
            task.__dict__["_flowlib_upstream"] = {d.task_id: d.record for d in node.deps if isinstance(d.task, Task)}

    @staticmethod
    def _keep_record(node: Node) -> None:
        """After ``node`` completed: hold its record as written (in this process), else as stored."""
        written = node.task.__dict__.get("_flowlib_record")
        node.record = written if written is not None else read_record(node.task)

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

    def _still_needed(self, node: Node) -> bool:
        """Asked under the task's lock: did another process complete it since we planned?"""
        if node.forced or not record_changed(node.task, node.record):
            return True
        return not refresh(node, self.plan.rerun_stale)

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
            self._hand_over(node)
            self._record(node, execute(node.task, lambda n=node: self._still_needed(n)))

    def _parallel(self) -> None:
        waiting = {n.task_id: sum(1 for d in n.deps if not d.complete) for n in self.todo}
        dependents = {n.task_id: [] for n in self.todo}  # type: dict[str, list[Node]]
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
                    self._hand_over(node)
                    if self.executor == "thread" or runs_in_main_process(node.task):
                        future: Future[Any] = threads.submit(execute, node.task, lambda n=node: self._still_needed(n))
                    else:
                        if processes is None:
                            processes = _process_pool(self.workers)
                        payload = cloudpickle.dumps(
                            (settings, node.task, node.record, node.forced, self.plan.rerun_stale, _codes(node.task))
                        )
                        future = processes.submit(execute_pickled, payload)
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


def _codes(task: luigi.Task) -> dict[str, str]:
    """The code fingerprint this process planned with, by task family (the worker records the same)."""
    return {task.get_task_family(): code_fingerprint(type(task))} if isinstance(task, Task) else {}


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
        import traceback

        return Attempt(error="".join(traceback.format_exception(exc)), exception=exc)
    if isinstance(value, Attempt):
        return value
    ran, skipped, error, exc_bytes, duration = value
    exception = cloudpickle.loads(exc_bytes) if exc_bytes else None
    return Attempt(ran=ran, skipped=skipped, error=error, exception=exception, duration=duration)
