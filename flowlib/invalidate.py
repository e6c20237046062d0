"""Remove outputs so tasks run again: one task, everything upstream, or a path between two tasks."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

import luigi

from flowlib.errors import FlowlibError
from flowlib.plan import build_plan

__all__ = ["invalidate_tasks", "invalidate_upstream", "invalidate_downstream"]

logger = logging.getLogger(__name__)


def invalidate_tasks(tasks: Sequence[luigi.Task], *, confirm: bool = False) -> bool:
    """Remove the outputs and records of ``tasks``; ``False`` when the user declined."""
    from flowlib.task import Task

    plain = [t for t in tasks if not isinstance(t, Task)]
    if plain:
        raise FlowlibError(f"{plain[0]} is not a flowlib task; flowlib only removes outputs it persists")
    if confirm:
        from flowlib.preview import ask

        names = "\n".join(f"  {t}" for t in tasks)
        if not ask(f"Remove the outputs of {len(tasks)} task(s)?\n{names}\n[y/N] "):
            return False
    for task in tasks:
        if isinstance(task, Task):
            task._discard_outputs()
            logger.info("invalidated %s", task)
    return True


def invalidate_upstream(task: luigi.Task, *, confirm: bool = False) -> bool:
    """Remove ``task``'s outputs and those of everything upstream of it."""
    plan = build_plan([task], rerun_stale=False)
    return invalidate_tasks(_flowlib_tasks(n.task for n in plan.nodes), confirm=confirm)


def invalidate_downstream(task: luigi.Task, downstream_task: luigi.Task, *, confirm: bool = False) -> bool:
    """Remove ``task``, ``downstream_task`` and every task on a path between them."""
    plan = build_plan([downstream_task], rerun_stale=False)
    start = plan.node(task)
    between = {n.task_id for n in plan.downstream_of([start])} & {n.task_id for n in plan.upstream_of([plan.roots[0]])}
    return invalidate_tasks(_flowlib_tasks(n.task for n in plan.nodes if n.task_id in between), confirm=confirm)


def _flowlib_tasks(tasks: Iterable[luigi.Task]) -> list[luigi.Task]:
    from flowlib.task import Task

    return [t for t in tasks if isinstance(t, Task)]
