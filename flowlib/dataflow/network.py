"""One context's input network and redundancy checker, and the stages it moves through.

The input network holds, per definition, each distinct value once, in the order first produced, and
an index of them (value -> position). When a new value arrives only the *new* permutations are made:
the new value in one slot of each operation it feeds, times the values already present in the other
slots (slots of the same definition before it take only older values, so no permutation is made
twice). The redundancy checker keeps, per operation, the set of permutations (tuples of value
positions) already run, so none runs twice. A value produced again adds nothing: a self-feeding
flow stops when nothing new appears. Values are the same when they are equal (hashable values, and
lists, dicts, sets and tuples by their repr) or, for other unhashable objects, when they are one object.

This module is the orchestrator's engine room; users call :func:`flowlib.dataflow.run`.

Example:
    >>> from flowlib.dataflow import get_multi
    >>> plan = FlowPlan(DataFlow(get_multi(Definition("x", int))))
    >>> [len(plans) for plans in plan.by_stage]  # processing, cleanup, output
    [0, 0, 1]
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable
from itertools import product
from typing import Any, Protocol

from flowlib.dataflow.errors import DataFlowError, OperationError
from flowlib.dataflow.flow import DataFlow
from flowlib.dataflow.op import Operation
from flowlib.dataflow.types import STAGES, Definition

__all__ = ["STAGES", "OperationPlan", "FlowPlan", "ContextState", "Scheduler", "describe_inputs"]

_LAST = len(STAGES) - 1
_BY_REPR = (list, dict, set, tuple, bytearray)  # unhashable values whose repr is exact and complete


class OperationPlan:
    """An operation as the orchestrator runs it: slot names, slot definitions, and whether it runs inline."""

    __slots__ = ("operation", "name", "func", "names", "defs", "inline", "outputs", "gather", "stage")

    def __init__(self, operation: Operation) -> None:
        self.operation = operation
        self.name = operation.name
        self.func = operation.func
        self.names = tuple(operation.inputs)
        self.defs = tuple(definition.name for definition in operation.inputs.values())
        # Plain quick functions run inline, in batches; async, executor and locking operations get a task.
        self.inline = not operation.is_async and operation.executor is None and not operation.locked
        self.outputs: dict[str, Definition] = dict(operation.outputs)
        self.gather = operation.gather
        self.stage = STAGES.index(operation.stage)


class FlowPlan:
    """A flow compiled for running: its operation plans, and per stage which plans each definition feeds."""

    def __init__(self, flow: DataFlow) -> None:
        self.flow = flow
        self.plans = [OperationPlan(operation) for operation in flow.operations.values()]
        self.by_stage: list[list[OperationPlan]] = [[p for p in self.plans if p.stage == i] for i in range(len(STAGES))]
        self.active: list[dict[str, list[tuple[OperationPlan, tuple[int, ...]]]]] = []
        for plans in self.by_stage:
            fed: dict[str, list[tuple[OperationPlan, tuple[int, ...]]]] = {}
            for plan in plans:
                if plan.gather:
                    continue
                for def_name in dict.fromkeys(plan.defs):
                    positions = tuple(i for i, d in enumerate(plan.defs) if d == def_name)
                    fed.setdefault(def_name, []).append((plan, positions))
            self.active.append(fed)
        self.seed = [(item.definition.name, item.value) for item in flow.seed]


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def describe_inputs(kwargs: dict[str, Any]) -> str:
    """``a=1, b=10`` for an error message (long values shortened)."""
    return ", ".join(f"{name}={_shown(value)}" for name, value in kwargs.items()) or "(no inputs)"


class Scheduler(Protocol):
    """What a context asks of the runner that drives it (the orchestrator's ``Runner`` is the one there is)."""

    def submit(self, context: ContextState, plan: OperationPlan, kwargs: dict[str, Any]) -> None:
        """Run one invocation that needs an asyncio task (async, on an executor, or holding a lock)."""

    def finished(self, context: ContextState) -> None:
        """Called by a context when it finishes or fails."""


class ContextState:
    """One context: its input network, redundancy checker, queue of permutations to run, and stage."""

    __slots__ = (
        "name", "runner", "plan", "values", "index", "seen", "pending", "inflight", "stage", "active",
        "results", "error", "done",
    )  # fmt: skip

    def __init__(self, name: Hashable, runner: Scheduler, plan: FlowPlan) -> None:
        self.name = name
        self.runner = runner
        self.plan = plan
        self.values: dict[str, list[Any]] = {}  # the input network: definition -> distinct values in order
        self.index: dict[str, dict[Any, int]] = {}  # definition -> {value key: position}
        self.seen: dict[OperationPlan, set[tuple[int, ...]]] = {}  # the redundancy checker
        self.pending: deque[tuple[OperationPlan, tuple[int, ...] | None]] = deque()
        self.inflight = 0
        self.stage = 0
        self.active = plan.active[0]
        self.results: dict[str, Any] = {}
        self.error: DataFlowError | None = None
        self.done = False

    # -- the input network --------------------------------------------------------------------
    def add(self, def_name: str, value: Any) -> None:
        """Add a value; queue the permutations it makes new for the operations of the current stage."""
        index = self.index.get(def_name)
        if index is None:
            index = self.index[def_name] = {}
            values = self.values[def_name] = []
        else:
            values = self.values[def_name]
        try:
            key: Any = (value.__class__, value)
            if key in index:
                return
        except TypeError:  # unhashable: builtin containers are equal by their (exact) repr, others by identity
            key = (value.__class__, "repr", repr(value)) if type(value) in _BY_REPR else (value.__class__, id(value))
            if key in index:
                return
        position = index[key] = len(values)
        values.append(value)
        consumers = self.active.get(def_name)
        if consumers:
            for plan, positions in consumers:
                self._new_permutations(plan, positions, def_name, position)

    def _new_permutations(self, plan: OperationPlan, positions: tuple[int, ...], def_name: str, position: int) -> None:
        seen = self.seen.get(plan)
        if seen is None:
            seen = self.seen[plan] = set()
        pending = self.pending
        if len(plan.defs) == 1:
            combo = (position,)
            if combo not in seen:
                seen.add(combo)
                pending.append((plan, combo))
            return
        values = self.values
        for slot in positions:
            ranges: list[Any] = []
            for other, other_def in enumerate(plan.defs):
                if other == slot:
                    ranges.append((position,))
                elif other_def == def_name:  # the same definition: earlier slots take only older values
                    ranges.append(range(position) if other < slot else range(position + 1))
                else:
                    ranges.append(range(len(values.get(other_def, ()))))
            for combo in product(*ranges):
                if combo not in seen:
                    seen.add(combo)
                    pending.append((plan, combo))

    def _all_permutations(self, plan: OperationPlan) -> None:
        if plan.gather:
            self.pending.append((plan, None))
            return
        seen = self.seen.setdefault(plan, set())
        for combo in product(*(range(len(self.values.get(d, ()))) for d in plan.defs)):
            if combo not in seen:
                seen.add(combo)
                self.pending.append((plan, combo))

    def kwargs(self, plan: OperationPlan, combo: tuple[int, ...] | None) -> dict[str, Any]:
        """The keyword arguments of one permutation (for a gathering operation: every value, as lists)."""
        values = self.values
        if combo is None:
            return {name: list(values.get(d, ())) for name, d in zip(plan.names, plan.defs)}
        return {name: values[d][i] for name, d, i in zip(plan.names, plan.defs, combo)}

    # -- running ------------------------------------------------------------------------------
    def start(self, given: list[tuple[str, Any]]) -> None:
        """Add the seeds and the context's inputs, then run what they make runnable."""
        for def_name, value in self.plan.seed:
            self.add(def_name, value)
        for def_name, value in given:
            self.add(def_name, value)
        self.drain()

    def drain(self) -> None:
        """Run queued permutations (plain functions inline, the rest handed to the runner); move on through stages."""
        pending = self.pending
        while not self.done:
            while pending:
                plan, combo = pending.popleft()
                kwargs = self.kwargs(plan, combo)
                if plan.inline:
                    try:
                        result = plan.func(**kwargs)
                    except Exception as exc:  # noqa: BLE001 - every operation failure is reported
                        self.fail(plan, kwargs, exc)
                        return
                    if result is not None:
                        self.deliver(plan, kwargs, result)
                        if self.done:
                            return
                else:
                    self.runner.submit(self, plan, kwargs)
            if self.inflight:
                return
            if self.stage == _LAST:
                self.done = True
                self.runner.finished(self)
                return
            self.stage += 1
            self.active = self.plan.active[self.stage]
            for plan in self.plan.by_stage[self.stage]:
                self._all_permutations(plan)

    def deliver(self, plan: OperationPlan, kwargs: dict[str, Any], result: Any) -> None:
        """Check an operation's outputs and add them to the network (output stage: to the results)."""
        if not isinstance(result, dict):
            problem = f"returned {type(result).__name__}; return a dict of its outputs {list(plan.outputs)} or None"
            self.fail(plan, kwargs, OperationError(problem))
            return
        outputs = plan.outputs
        for key, value in result.items():
            definition = outputs.get(key)
            if definition is None:
                problem = f"returned output {key!r}, which it does not declare; its outputs are {list(outputs)}"
                self.fail(plan, kwargs, OperationError(problem))
                return
            if self.stage == _LAST:
                continue
            if not definition.accepts(value):
                try:
                    definition.check(value)
                except Exception as exc:  # noqa: BLE001 - the DefinitionError names value and definition
                    self.fail(plan, kwargs, exc)
                    return
            self.add(definition.name, value)
        if self.stage == _LAST:
            self.results.update(result)

    def fail(self, plan: OperationPlan, kwargs: dict[str, Any], exc: BaseException) -> None:
        """Stop this context with a :class:`DataFlowError` naming the operation, the context and the inputs."""
        error = DataFlowError(
            f"operation {plan.name!r} failed in context {self.name!r} with inputs {describe_inputs(kwargs)}: "
            f"{type(exc).__name__}: {exc}",
            operation=plan.name,
            context=str(self.name),
            inputs=kwargs,
        )
        error.__cause__ = exc
        self.error = error
        self.done = True
        self.pending.clear()
        self.runner.finished(self)
