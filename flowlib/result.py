"""What a run returns: every task of the plan with what happened to it."""

from __future__ import annotations

import enum
import html
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Outcome", "TaskOutcome", "RunResult", "last_line"]

#: Beyond this many tasks, the summary groups the tasks that ran by family and reason.
_LIST_EACH = 20


class Outcome(str, enum.Enum):
    """What a run did with one task."""

    RAN = "ran"
    COMPLETE = "already complete"
    FAILED = "failed"
    UPSTREAM_FAILED = "not run: upstream failed"
    NOT_RUN = "not run: run aborted"

    def __str__(self) -> str:
        return self.value


_OUTCOME_COLOURS = {
    Outcome.RAN: "#1a7f37",
    Outcome.COMPLETE: "#57606a",
    Outcome.FAILED: "#cf222e",
    Outcome.UPSTREAM_FAILED: "#9a6700",
    Outcome.NOT_RUN: "#9a6700",
}


def last_line(error: str) -> str:
    """The last line of a traceback text: the exception and its message."""
    lines = error.strip().splitlines()
    return lines[-1].strip() if lines else ""


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
        """The execution summary: the verdict, each task that ran (or failed) with why, then the others."""
        counts = Counter(o.outcome for o in self.outcomes)
        verdict = "cancelled" if self.cancelled else ("succeeded" if self.success else "FAILED")
        lines = [f"flowlib run {verdict}: {len(self.outcomes)} tasks in {self.elapsed:.2f}s"]
        for kind in Outcome:
            chosen = [o for o in self.outcomes if o.outcome is kind]
            if not chosen:
                continue
            if kind in (Outcome.RAN, Outcome.FAILED):
                lines.append(f"  {counts[kind]} {kind}:")
                lines.extend(f"    {row}" for row in _listed(chosen))
                continue
            names = [str(o.task) for o in chosen]
            shown = ", ".join(names[:5]) + (f", ... ({len(names) - 5} more)" if len(names) > 5 else "")
            lines.append(f"  {counts[kind]} {kind}: {shown}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        """Notebooks: the summary as a table (task, outcome, reason, duration)."""
        verdict = "cancelled" if self.cancelled else ("succeeded" if self.success else "FAILED")
        colour = "#1a7f37" if self.success else "#cf222e"
        rows = []
        for item in self.outcomes:
            duration = f"{item.duration:.2f}s" if item.outcome in (Outcome.RAN, Outcome.FAILED) else ""
            rows.append(
                "<tr>"
                f'<td style="text-align:left"><code>{html.escape(str(item.task))}</code></td>'
                f'<td style="text-align:left;color:{_OUTCOME_COLOURS[item.outcome]}">'
                f"{html.escape(str(item.outcome))}</td>"
                f'<td style="text-align:left">{html.escape(_why(item))}</td>'
                f'<td style="text-align:right">{duration}</td>'
                "</tr>"
            )
        return (
            f'<div><b style="color:{colour}">flowlib run {verdict}</b>: '
            f"{len(self.outcomes)} tasks in {self.elapsed:.2f}s</div>"
            '<table><thead><tr><th style="text-align:left">task</th><th style="text-align:left">outcome</th>'
            '<th style="text-align:left">reason</th><th style="text-align:right">duration</th></tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>"
        )

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """IPython's terminal shows the summary, as a script prints it."""
        printer.text(str(self))

    def __repr__(self) -> str:
        return (
            f"RunResult(success={self.success}, ran={len(self.ran)}, "
            f"complete={len(self.complete)}, failed={len(self.failed)})"
        )


def _why(item: TaskOutcome) -> str:
    """Why a task ran or did not; for a failure also its error's last line."""
    parts = [item.reason] + ([last_line(item.error)] if item.outcome is Outcome.FAILED else [])
    return "; ".join(p for p in parts if p)


def _listed(outcomes: list[TaskOutcome]) -> list[str]:
    """One line per task with its reason; past ``_LIST_EACH`` tasks, one line per family and reason."""
    if len(outcomes) <= _LIST_EACH:
        return [f"{item.task}  ({_why(item)})" if _why(item) else str(item.task) for item in outcomes]
    groups: Counter[tuple[str, str]] = Counter()
    for item in outcomes:
        family = item.task.get_task_family() if hasattr(item.task, "get_task_family") else type(item.task).__name__
        groups[(family, _why(item))] += 1
    return [f"{n} x {family}  ({reason})" if reason else f"{n} x {family}" for (family, reason), n in groups.items()]
