"""The execution backend interface, and the one place a failure becomes an error.

``flowlib.run`` makes one plan and hands it to a :class:`Backend`: ``local`` (the lean
executor, threads or processes) or ``luigid`` (luigi's worker against a central
scheduler). Both return an :class:`Execution`: one :class:`~flowlib.result.TaskOutcome`
per node of the plan, dependencies first, and the first failure.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Literal

from flowlib.errors import RemoteTaskError, TaskFailedError
from flowlib.plan import Plan
from flowlib.result import Outcome, RunResult, TaskOutcome, last_line

__all__ = ["RunOptions", "Execution", "Backend", "failure_error"]


@dataclass(frozen=True)
class RunOptions:
    """How to run a plan: ``workers`` at once, on processes or threads, stopping at the first failure."""

    workers: int = 1
    executor: Literal["process", "thread"] = "process"
    abort: bool = True
    progress: bool | None = None


@dataclass
class Execution:
    """What a backend did with a plan: an outcome per node, the first failure and its exception."""

    outcomes: tuple[TaskOutcome, ...]
    first_failure: TaskOutcome | None = None
    first_exception: BaseException | None = None
    scheduler: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Backend(ABC):
    """Runs the incomplete nodes of a plan, each after what it requires."""

    #: ``"local"`` or ``"luigid"`` (shown in results and logs).
    name: str = ""

    @abstractmethod
    def execute(self, plan: Plan, options: RunOptions) -> Execution:
        """Run ``plan.to_run()`` and report every node's outcome (never raises for a failing task)."""


def all_outcomes(plan: Plan, decided: dict[str, TaskOutcome]) -> tuple[TaskOutcome, ...]:
    """One outcome per node: the decided ones, else complete (if it was) or not run."""
    return tuple(
        decided.get(n.task_id) or TaskOutcome(n.task, Outcome.COMPLETE if n.complete else Outcome.NOT_RUN)
        for n in plan.nodes
    )


def failure_error(failure: TaskOutcome, result: RunResult, exception: BaseException | None = None) -> TaskFailedError:
    """The error raised for the first failure; its cause carries the task's traceback, shown once.

    Raise it with ``raise error from error.__cause__``: the task's own exception when it has its
    frames (it failed in this process), else that exception (or, from luigid, its text) chained to a
    :class:`RemoteTaskError` with the traceback text from the process where it ran.
    """
    params = failure.task.to_str_params(only_significant=True)
    error = TaskFailedError(
        f"{failure.task} failed (parameters {params}): {last_line(failure.error) or failure.outcome}. "
        "Its outputs were removed; tasks that succeeded keep theirs. Fix it and run again: flowlib resumes "
        "from there. The task's own traceback is this error's cause (printed above it) and its .traceback.",
        task=failure.task,
        traceback=failure.error,
    )
    error.result = result  # type: ignore[attr-defined]
    cause: BaseException | None = exception
    if cause is None:
        cause = RemoteTaskError(failure.error) if failure.error else None
    elif cause.__traceback__ is None and cause.__cause__ is None and failure.error:
        cause.__cause__ = RemoteTaskError(failure.error)  # from a worker process: its frames came as text
    error.__cause__ = cause
    return error
