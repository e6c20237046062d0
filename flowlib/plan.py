"""The plan: one walk of the DAG that decides every task's status, and why.

``build_plan`` walks ``requires()`` once, iteratively (no recursion, so chains of
any depth work), checks each task's outputs and record once, and gives each node
a status: COMPLETE, PENDING (no output for these parameters) or STALE (code or
upstream data changed, upstream will rerun, or forced). Preview, run and
invalidate all read this one plan, so they never disagree.

Example:
    >>> plan = build_plan([Train()])  # doctest: +SKIP
    >>> [(n.task, n.status.value) for n in plan.nodes]  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import enum
import gc
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import luigi
from luigi.task import flatten

from flowlib.completion import completion_cache, content_matches
from flowlib.errors import DependencyCycleError, FlowlibError
from flowlib.fingerprint import code_fingerprint
from flowlib.record import Record, read_record
from flowlib.settings import settings
from flowlib.storage import FileStat
from flowlib.task import Task, hooks

__all__ = [
    "Status",
    "Node",
    "Plan",
    "build_plan",
    "refresh",
    "is_complete",
    "as_task",
    "as_task_list",
    "output_fingerprints",
]


class Status(str, enum.Enum):
    """A task's state in a plan."""

    COMPLETE = "COMPLETE"
    PENDING = "PENDING"
    STALE = "STALE"

    def __str__(self) -> str:
        return self.value


@dataclass(eq=False)
class Node:
    """One task of a plan with its requirements, status and reason."""

    task: luigi.Task
    deps: list[Node] = field(default_factory=list)
    status: Status = Status.PENDING
    reason: str = ""
    #: STALE only because upstream tasks will rerun: skipped if their new outputs match.
    cutoff: bool = False
    forced: bool = False
    record: Record | None = None
    #: What ``stat`` said of each output when the plan checked it.
    stats: dict[str, FileStat | None] | None = None
    task_id: str = field(init=False)

    def __post_init__(self) -> None:
        self.task_id = str(self.task.task_id)  # asked many times per task: an attribute, not a property

    @property
    def family(self) -> str:
        return str(self.task.get_task_family())

    @property
    def complete(self) -> bool:
        return self.status is Status.COMPLETE


@dataclass
class Plan:
    """Every task reachable from ``roots``; ``nodes`` lists dependencies before dependents."""

    roots: list[Node]
    nodes: list[Node]
    by_id: dict[str, Node]
    rerun_stale: bool

    def to_run(self) -> list[Node]:
        """Nodes that are not complete, dependencies first."""
        return [n for n in self.nodes if n.status is not Status.COMPLETE]

    def counts(self) -> dict[str, int]:
        counts = {s.value: 0 for s in Status}
        for node in self.nodes:
            counts[node.status.value] += 1
        return counts

    def node(self, task: luigi.Task) -> Node:
        try:
            return self.by_id[task.task_id]
        except KeyError:
            raise FlowlibError(f"{task} is not part of this flow; pass a task that the flow requires") from None

    def dependents(self) -> dict[str, list[Node]]:
        """``task_id -> nodes that require it``."""
        result: dict[str, list[Node]] = {n.task_id: [] for n in self.nodes}
        for node in self.nodes:
            for dep in node.deps:
                result[dep.task_id].append(node)
        return result

    def upstream_of(self, nodes: Iterable[Node]) -> list[Node]:
        """The given nodes and everything they require, dependencies first."""
        return self._closure(nodes, lambda node: node.deps)

    def downstream_of(self, nodes: Iterable[Node]) -> list[Node]:
        """The given nodes and everything that requires them, dependencies first."""
        dependents = self.dependents()
        return self._closure(nodes, lambda node: dependents[node.task_id])

    def _closure(self, nodes: Iterable[Node], neighbours: Callable[[Node], list[Node]]) -> list[Node]:
        seen: set[str] = set()
        stack = list(nodes)
        while stack:
            node = stack.pop()
            if node.task_id not in seen:
                seen.add(node.task_id)
                stack.extend(neighbours(node))
        return [n for n in self.nodes if n.task_id in seen]


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many long-lived objects.

    Walking a large DAG creates objects that all survive; each automatic collection would
    rescan them all, making big plans grow faster than linearly.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _not_a_task(value: Any, what: str) -> FlowlibError:
    """The error for a value given where tasks belong: it says what was given and what to pass."""
    if isinstance(value, type) and issubclass(value, luigi.Task):
        return FlowlibError(f"{what} got the class {value.__name__}; pass a task object, e.g. {value.__name__}()")
    if isinstance(value, str):
        example = f"{value}()" if value.isidentifier() else "Train(scale=2.0)"
        return FlowlibError(f"{what} got the string {value!r}; pass a task object, e.g. {example}")
    return FlowlibError(
        f"{what} got {value!r} ({type(value).__name__}); pass a task object (e.g. Train(scale=2.0)) or a list of them"
    )


def as_task(value: Any, what: str = "this function") -> luigi.Task:
    """``value`` if it is one task object, else a :class:`FlowlibError` saying what was given."""
    if not isinstance(value, luigi.Task):
        raise _not_a_task(value, what)
    return value


def as_task_list(tasks: luigi.Task | Iterable[luigi.Task] | None, what: str = "flowlib.run()") -> list[luigi.Task]:
    """Accept one task or an iterable of tasks (``None`` is none); ``what`` names the argument in errors.

    Example:
        >>> as_task_list("Train", "forced=")
        Traceback (most recent call last):
        ...
        flowlib.errors.FlowlibError: forced= got the string 'Train'; pass a task object, e.g. Train()
    """
    if tasks is None:
        return []
    if isinstance(tasks, luigi.Task):
        return [tasks]
    if isinstance(tasks, (str, bytes, dict, type)) or not isinstance(tasks, Iterable):
        raise _not_a_task(tasks, what)
    result = list(tasks)
    for task in result:
        if not isinstance(task, luigi.Task):
            raise _not_a_task(task, what)
    return result


def output_fingerprints(record: Record | None) -> dict[str, str]:
    """``{output key: fingerprint}`` from a record (empty without one)."""
    return {} if record is None else record.output_fingerprints()


def _walk(
    roots: Sequence[luigi.Task], known_complete: set[str] | None
) -> tuple[list[Node], list[Node], dict[str, Node]]:
    """Depth-first, iterative: nodes in post-order (dependencies first); detects cycles."""
    by_id: dict[str, Node] = {}
    order: list[Node] = []
    root_nodes: list[Node] = []
    for root in roots:
        if root.task_id in by_id:
            root_nodes.append(by_id[root.task_id])
            continue
        first = Node(root)
        by_id[root.task_id] = first
        root_nodes.append(first)
        on_path: dict[str, int] = {root.task_id: 0}
        path: list[Node] = [first]
        stack: list[Any] = [iter(_requirements(root, known_complete))]
        while stack:
            node = path[-1]
            dep = next(stack[-1], None)
            if dep is None:
                stack.pop()
                path.pop()
                del on_path[node.task_id]
                order.append(node)
                continue
            dep_id = dep.task_id
            if dep_id in on_path:
                cycle = [n.task for n in path[on_path[dep_id] :]] + [dep]
                raise DependencyCycleError(
                    "dependency cycle: " + " -> ".join(map(str, cycle)) + "; a task cannot require itself, "
                    "directly or through other tasks: change requires() or a parameter so the chain ends"
                )
            known = by_id.get(dep_id)
            if known is not None:
                node.deps.append(known)
                continue
            child = Node(dep)
            by_id[dep_id] = child
            node.deps.append(child)
            on_path[dep_id] = len(path)
            path.append(child)
            stack.append(iter(_requirements(dep, known_complete)))
    return root_nodes, order, by_id


def _requirements(task: luigi.Task, known_complete: set[str] | None) -> list[luigi.Task]:
    if known_complete is not None and task.task_id in known_complete:
        return []
    deps = flatten(task.requires())
    for dep in deps:
        if not isinstance(dep, luigi.Task):
            raise FlowlibError(f"{task}.requires() returned {dep!r}; return tasks, lists or dicts of tasks")
    if isinstance(task, Task):
        task.planned_requirements = deps  # the run reads upstream records through these
    return deps


def _own_status(node: Node, rerun_stale: bool) -> tuple[Status, str]:
    """Status from this task's own outputs and record (upstream not yet considered)."""
    task = node.task
    if not isinstance(task, Task):
        return (Status.COMPLETE, "") if task.complete() else (Status.PENDING, "not complete (luigi task)")
    targets = task.output()
    node.stats = stats = {key: target.stat() for key, target in targets.items()}
    missing = [key for key, found in stats.items() if found is None]
    if missing:
        if len(missing) == len(targets):
            return Status.PENDING, "no output"
        return Status.PENDING, f"output {', '.join(missing)} missing"
    # Read even when only existence counts: the runner compares it to tell whether another process reran the task.
    node.record = record = read_record(task)
    if not rerun_stale:
        return Status.COMPLETE, ""
    if record is None:
        return Status.PENDING, "no record (an interrupted run?)"
    if record.code != code_fingerprint(type(task)):
        return Status.STALE, "code changed"
    changed = _changed_on_disk(targets, stats, record) if task.target_class.is_file else []
    if changed:
        return Status.STALE, f"output {', '.join(changed)} changed on disk"
    data = task.data_fingerprint()
    if data is not None and data != record.data:
        return Status.STALE, "source data changed"
    return Status.COMPLETE, ""


def _changed_on_disk(targets: dict[str, Any], stats: dict[str, FileStat | None], record: Record) -> list[str]:
    """Outputs whose size, or time and content, differ from what the record says was written."""
    changed = []
    for key, found in stats.items():
        info = record.outputs.get(key)
        if found is None or info is None or found.size != info.bytes:
            changed.append(key)
        elif info.mtime_ns is not None and found.mtime_ns is not None and found.mtime_ns != info.mtime_ns:
            # Touched, copied or replaced: unchanged only if the content still has the recorded fingerprint.
            if not content_matches(targets[key], found, info.fingerprint):
                changed.append(key)
    return changed


def _decide(node: Node, rerun_stale: bool) -> None:
    status, reason = _own_status(node, rerun_stale)
    if status is not Status.COMPLETE:
        node.status, node.reason = status, reason
        return
    waiting = [dep for dep in node.deps if dep.status is not Status.COMPLETE]
    if not rerun_stale:
        if waiting:
            node.status, node.reason = Status.PENDING, f"upstream {waiting[0].family} pending"
        else:
            node.status = Status.COMPLETE
        return
    consumed = node.record.inputs if node.record is not None else {}
    for dep in node.deps:
        if dep.status is Status.COMPLETE and isinstance(dep.task, Task):
            if consumed.get(dep.task_id) != output_fingerprints(dep.record):
                node.status, node.reason = Status.STALE, f"upstream {dep.family} changed"
                return
    if waiting:
        names = sorted({dep.family for dep in waiting})
        node.status, node.reason, node.cutoff = Status.STALE, f"upstream {', '.join(names)} will rerun", True
        return
    node.status = Status.COMPLETE


def build_plan(
    tasks: luigi.Task | Iterable[luigi.Task],
    *,
    rerun_stale: bool | None = None,
    forced: luigi.Task | Iterable[luigi.Task] | None = None,
    forced_all: bool = False,
    forced_all_upstream: bool = False,
    _known_complete: set[str] | None = None,
) -> Plan:
    """Walk the flow once and decide the status of every task.

    ``forced`` tasks (one task or several; and everything downstream of them) are STALE even if complete;
    ``forced_all`` forces the given tasks, ``forced_all_upstream`` every task.
    """
    with gc_paused():
        return _build_plan(tasks, rerun_stale, forced, forced_all, forced_all_upstream, _known_complete)


def _build_plan(
    tasks: luigi.Task | Iterable[luigi.Task],
    rerun_stale: bool | None,
    forced: luigi.Task | Iterable[luigi.Task] | None,
    forced_all: bool,
    forced_all_upstream: bool,
    _known_complete: set[str] | None,
) -> Plan:
    roots = as_task_list(tasks, "flowlib.build_plan()")
    forced_tasks = as_task_list(forced, "forced=")
    stale_mode = settings.rerun_stale if rerun_stale is None else rerun_stale
    root_nodes, order, by_id = _walk(roots, _known_complete)
    forced_ids = {t.task_id for t in forced_tasks}
    for task in forced_tasks:
        if task.task_id not in by_id:
            raise FlowlibError(f"forced task {task} is not part of this flow; force a task the flow requires")
    if forced_all:
        forced_ids.update(t.task_id for t in roots)
    for node in order:
        if _known_complete is not None and node.task_id in _known_complete:
            node.status = Status.COMPLETE
            if stale_mode and isinstance(node.task, Task):
                node.record = read_record(node.task)
            continue
        _decide(node, stale_mode)
        upstream_forced = [d for d in node.deps if d.forced]
        if forced_all_upstream or node.task_id in forced_ids or upstream_forced:
            # A forced node reruns whatever its own state; say "forced" unless it lacks outputs anyway.
            if node.status is Status.COMPLETE or node.cutoff:
                why = (
                    "forced"
                    if forced_all_upstream or node.task_id in forced_ids or not upstream_forced
                    else f"upstream {upstream_forced[0].family} forced"
                )
                node.status, node.reason = Status.STALE, why
            node.forced, node.cutoff = True, False
    return Plan(root_nodes, order, by_id, stale_mode)


def is_complete(task: luigi.Task) -> bool:
    """``task.complete()`` for luigi: the plan's verdict, reusing earlier verdicts only while they hold.

    A remembered COMPLETE verdict is reused after stat-ing the files it rests on (see
    :mod:`flowlib.completion`); otherwise the task is planned again.
    """
    stale_mode = settings.rerun_stale
    holds, known = completion_cache.valid(task, stale_mode)
    if holds:
        return True
    plan = build_plan([task], rerun_stale=stale_mode, _known_complete=known)
    completion_cache.remember(plan.nodes, stale_mode, known)
    return plan.roots[0].status is Status.COMPLETE


def refresh(node: Node, rerun_stale: bool) -> bool:
    """Decide ``node`` again from the records on disk now (after upstream tasks ran); ``True`` if complete."""
    if rerun_stale:
        for dep in node.deps:
            if isinstance(dep.task, Task):
                dep.record = read_record(dep.task)
    node.record, node.cutoff, node.reason = None, False, ""
    _decide(node, rerun_stale)
    return node.status is Status.COMPLETE


hooks.complete = is_complete
