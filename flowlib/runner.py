"""``flowlib.run``: plan once, then run what is not complete, dependencies first.

The plan goes to one execution backend (:mod:`flowlib.execution`): locally, flowlib's
lean executor (in this process, or on ``workers`` processes or threads); with a
scheduler URL, luigi's worker against a central ``luigid``. Both report outcomes the
same way, and this module turns them into one :class:`~flowlib.result.RunResult`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any, Literal

import luigi

from flowlib import display
from flowlib.errors import FlowlibError
from flowlib.execution import RunOptions, backend_for, failure_error
from flowlib.execution.backend import all_outcomes
from flowlib.plan import as_task_list, build_plan
from flowlib.preview import ask, render
from flowlib.result import RunResult
from flowlib.settings import settings

__all__ = ["run"]

logger = logging.getLogger(__name__)


def run(
    tasks: luigi.Task | Iterable[luigi.Task],
    *,
    workers: int = 1,
    forced: luigi.Task | Iterable[luigi.Task] | None = None,
    forced_all: bool = False,
    forced_all_upstream: bool = False,
    confirm: bool = False,
    abort: bool = True,
    rerun_stale: bool | None = None,
    executor: Literal["process", "thread"] = "process",
    scheduler: str | None = None,
    progress: bool | None = None,
    execution_summary: bool | None = None,
    dask_scheduler: str | None = None,
) -> RunResult:
    """Run every task of the flow that is not complete, each after what it requires.

    Args:
        workers: how many tasks run at once (processes by default, ``executor="thread"`` for threads).
        forced: a task or tasks to rerun even if complete, with everything downstream of them.
        forced_all: rerun the given tasks; ``forced_all_upstream``: rerun every task of the flow.
        confirm: show the plan and ask on stdin before running.
        abort: raise :class:`TaskFailedError` on the first failure (else return a failed result).
        rerun_stale: rerun tasks whose code or upstream data changed (default: ``settings.rerun_stale``).
        scheduler: URL of a luigid (default: ``settings.scheduler``); ``None`` runs locally.
        progress: show a progress bar (default: only when stderr is a terminal or in a notebook).
        execution_summary: show what ran and why (default: ``settings.execution_summary``, on): printed
            in a script, while a notebook or prompt shows the returned :class:`RunResult` itself.
        dask_scheduler: address of a ``dask.distributed`` scheduler (``"tcp://host:port"``) that
            ``TaskDask`` tasks compute on during this run (default: ``settings.dask_scheduler``).

    Example:
        >>> result = flowlib.run(Train(scale=2.0))  # doctest: +SKIP
        >>> print(result)  # doctest: +SKIP
    """
    if not isinstance(workers, int) or workers < 1:
        raise FlowlibError(f"workers must be a positive int, got {workers!r}")
    if executor not in ("process", "thread"):
        raise FlowlibError(f"executor must be 'process' or 'thread', got {executor!r}")
    started = time.perf_counter()
    roots = as_task_list(tasks, "flowlib.run()")
    forced_tasks = as_task_list(forced, "flowlib.run(forced=...)")
    summary = settings.execution_summary if execution_summary is None else execution_summary
    plan = build_plan(
        roots,
        rerun_stale=rerun_stale,
        forced=forced_tasks,
        forced_all=forced_all,
        forced_all_upstream=forced_all_upstream,
    )
    if confirm:
        todo = plan.to_run()
        if todo and not ask(render(plan).text + f"\nRun {len(todo)} task(s)? [y/N] "):
            result = RunResult(all_outcomes(plan, {}), cancelled=True, elapsed=time.perf_counter() - started)
            return _shown(result, summary)
    backend = backend_for(scheduler if scheduler is not None else settings.scheduler)
    options = RunOptions(workers=workers, executor=executor, abort=abort, progress=progress)
    before = settings.dask_scheduler_override
    if dask_scheduler is not None:  # read by TaskDask.run_context, in this process and in worker processes
        settings.dask_scheduler_override = dask_scheduler
    try:
        done = backend.execute(plan, options)
    finally:
        settings.dask_scheduler_override = before
    result = RunResult(done.outcomes, scheduler=done.scheduler, elapsed=time.perf_counter() - started, extra=done.extra)
    logger.info("%s", result)
    _shown(result, summary)
    if abort and done.first_failure is not None:
        error = failure_error(done.first_failure, result, done.first_exception)
        raise error from error.__cause__
    return result


def _shown(result: Any, summary: bool) -> Any:
    """Print the execution summary where no notebook or prompt will show the result itself."""
    if result is not None and summary:
        display.show(str(result))
    return result
