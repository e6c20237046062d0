"""Remove outputs so tasks run again: one task, everything upstream, or a path between two tasks."""

from __future__ import annotations

import logging
from collections.abc import Iterable

import luigi

from flowlib.errors import FlowlibError
from flowlib.execution.transaction import discard_outputs
from flowlib.plan import as_task, as_task_list, build_plan
from flowlib.preview import ask
from flowlib.task import Task, hooks

__all__ = ["invalidate_tasks", "invalidate_upstream", "invalidate_downstream"]

logger = logging.getLogger(__name__)


def invalidate_tasks(tasks: luigi.Task | Iterable[luigi.Task], *, confirm: bool = False) -> bool:
    """Remove the outputs and records of ``tasks`` (one task or several); ``False`` when the user declined."""
    tasks = as_task_list(tasks, "invalidate")
    plain = [t for t in tasks if not isinstance(t, Task)]
    if plain:
        raise FlowlibError(f"{plain[0]} is not a flowlib task; flowlib only removes outputs it persists")
    if confirm:
        names = "\n".join(f"  {t}" for t in tasks)
        if not ask(f"Remove the outputs of {len(tasks)} task(s)?\n{names}\n[y/N] "):
            return False
    for task in tasks:
        if isinstance(task, Task):
            discard_outputs(task)
            logger.info("invalidated %s", task)
    return True


def invalidate_upstream(tasks: luigi.Task | Iterable[luigi.Task], *, confirm: bool = False) -> bool:
    """Remove the outputs of ``tasks`` (one task or several) and those of everything upstream of them.

    Example:
        >>> flowlib.invalidate_upstream(Train(scale=2.0))  # doctest: +SKIP
    """
    plan = build_plan(as_task_list(tasks, "flowlib.invalidate_upstream()"), rerun_stale=False)
    return invalidate_tasks(_flowlib_tasks(n.task for n in plan.nodes), confirm=confirm)


def invalidate_downstream(task: luigi.Task, downstream_task: luigi.Task, *, confirm: bool = False) -> bool:
    """Remove ``task``, ``downstream_task`` and every task on a path between them.

    Example:
        >>> flowlib.invalidate_downstream(GetData(), Train(scale=2.0))  # doctest: +SKIP
    """
    start_task = as_task(task, "flowlib.invalidate_downstream() (its first argument)")
    end_task = as_task(downstream_task, "flowlib.invalidate_downstream() (its downstream_task)")
    plan = build_plan([end_task], rerun_stale=False)
    start = plan.node(start_task)
    between = {n.task_id for n in plan.downstream_of([start])} & {n.task_id for n in plan.upstream_of([plan.roots[0]])}
    return invalidate_tasks(_flowlib_tasks(n.task for n in plan.nodes if n.task_id in between), confirm=confirm)


def _flowlib_tasks(tasks: Iterable[luigi.Task]) -> list[luigi.Task]:
    from flowlib.task import Task

    return [t for t in tasks if isinstance(t, Task)]


hooks.invalidate = lambda task, confirm: invalidate_tasks([task], confirm=confirm)
