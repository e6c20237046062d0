"""What a run returns: every task of the plan with what happened to it."""

from __future__ import annotations

import enum
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Outcome", "TaskOutcome", "RunResult"]


class Outcome(str, enum.Enum):
    """What a run did with one task."""

    RAN = "ran"
    COMPLETE = "already complete"
    FAILED = "failed"
    UPSTREAM_FAILED = "not run: upstream failed"
    NOT_RUN = "not run: run aborted"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class TaskOutcome:
    """One task's outcome; ``error`` holds the traceback text of a failure."""

    task: Any
    outcome: Outcome
    reason: str = ""
    error: str = ""
    duration: float = 0.0


@dataclass(frozen=True)
class RunResult:
    """The result of ``flowlib.run``: truthy exactly when no task failed.

    Example:
        >>> result = flowlib.run(Train())  # doctest: +SKIP
        >>> bool(result), result.ran  # doctest: +SKIP
    """

    outcomes: tuple[TaskOutcome, ...] = ()
    cancelled: bool = False
    scheduler: str | None = None
    elapsed: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def _tasks(self, *kinds: Outcome) -> list[Any]:
        return [o.task for o in self.outcomes if o.outcome in kinds]

    @property
    def success(self) -> bool:
        return not self.cancelled and not self._tasks(Outcome.FAILED, Outcome.UPSTREAM_FAILED, Outcome.NOT_RUN)

    @property
    def ran(self) -> list[Any]:
        return self._tasks(Outcome.RAN)

    @property
    def complete(self) -> list[Any]:
        """Tasks that were already complete (including those an unchanged upstream left complete)."""
        return self._tasks(Outcome.COMPLETE)

    @property
    def failed(self) -> list[Any]:
        return self._tasks(Outcome.FAILED)

    @property
    def not_run(self) -> list[Any]:
        return self._tasks(Outcome.UPSTREAM_FAILED, Outcome.NOT_RUN)

    def outcome(self, task: Any) -> TaskOutcome:
        """The outcome of one task of the plan."""
        for item in self.outcomes:
            if item.task.task_id == task.task_id:
                return item
        raise KeyError(f"{task} is not part of this run")

    def __bool__(self) -> bool:
        return self.success

    def __str__(self) -> str:
        counts = Counter(o.outcome for o in self.outcomes)
        verdict = "cancelled" if self.cancelled else ("succeeded" if self.success else "FAILED")
        lines = [f"flowlib run {verdict}: {len(self.outcomes)} tasks in {self.elapsed:.2f}s"]
        for kind in Outcome:
            if counts[kind]:
                names = [str(o.task) for o in self.outcomes if o.outcome is kind]
                shown = ", ".join(names[:5]) + (f", ... ({len(names) - 5} more)" if len(names) > 5 else "")
                lines.append(f"  {counts[kind]} {kind}: {shown}")
        for item in self.outcomes:
            if item.outcome is Outcome.FAILED:
                last = item.error.strip().splitlines()[-1] if item.error.strip() else ""
                lines.append(f"  {item.task} failed: {last}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (
            f"RunResult(success={self.success}, ran={len(self.ran)}, "
            f"complete={len(self.complete)}, failed={len(self.failed)})"
        )
