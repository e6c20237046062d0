"""The orchestrator: runs a :class:`DataFlow` over contexts, each in isolation, concurrently on asyncio.

Plain functions run inline, in batches, as their permutations appear (no asyncio task each); async
operations, operations on an executor and operations that hold a lock each run as an asyncio task,
at most ``max_concurrency`` at once. The lock network makes sure two operations never hold the same
value of a ``lock=True`` definition at once.

Example:
    >>> from flowlib.dataflow import Definition, get_multi, op
    >>> A, B, C = Definition("a", int), Definition("b", int), Definition("c", int)
    >>> @op(inputs={"a": A, "b": B}, outputs={"c": C})
    ... def combine(a, b):
    ...     return {"c": a * 100 + b}
    >>> flow = DataFlow(combine, get_multi(C))
    >>> results = run(flow, {"only": [Input(1, A), Input(2, A), Input(10, B), Input(20, B)]})
    >>> sorted(results["only"]["c"])
    [110, 120, 210, 220]
"""

from __future__ import annotations

import asyncio
import functools
import logging
import multiprocessing
from collections import deque
from collections.abc import AsyncIterator, Callable, Hashable, Iterable, Mapping
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any

import cloudpickle

from flowlib.dataflow.errors import DataFlowError, WiringError
from flowlib.dataflow.flow import DataFlow
from flowlib.dataflow.network import ContextState, FlowPlan, OperationPlan
from flowlib.dataflow.types import Input

__all__ = ["run", "arun", "Runner", "LockNetwork", "Results", "DEFAULT_CONTEXT"]

logger = logging.getLogger(__name__)

#: The context name used when ``inputs`` is a plain list of Inputs (one context).
DEFAULT_CONTEXT = "default"

Results = dict[str, Any]
Contexts = Mapping[Hashable, Iterable[Input]] | Iterable[Input] | None


class LockNetwork:
    """One ``asyncio.Lock`` per value of each ``lock=True`` definition, acquired in a fixed order (no deadlock).

    Example:
        >>> LockNetwork().keys({"x": 1}, {})
        []
    """

    def __init__(self) -> None:
        self._locks: dict[tuple[str, Any], asyncio.Lock] = {}

    def keys(self, kwargs: dict[str, Any], locked: dict[str, str]) -> list[tuple[str, Any]]:
        """The sorted lock keys ``(definition, value key)`` of an invocation; ``locked``: input -> definition."""
        found: dict[tuple[str, Any], None] = {}
        for input_name, def_name in locked.items():
            value = kwargs[input_name]
            try:
                hash(value)
                key: Any = (type(value).__qualname__, value)
            except TypeError:
                key = ("id", id(value))
            found[(def_name, key)] = None
        return sorted(found, key=repr)

    async def acquire(self, keys: list[tuple[str, Any]]) -> list[asyncio.Lock]:
        """Acquire the locks of ``keys`` in order; returns them for :meth:`release`."""
        held: list[asyncio.Lock] = []
        try:
            for key in keys:
                lock = self._locks.get(key)
                if lock is None:
                    lock = self._locks[key] = asyncio.Lock()
                await lock.acquire()
                held.append(lock)
        except BaseException:
            self.release(held)
            raise
        return held

    @staticmethod
    def release(held: list[asyncio.Lock]) -> None:
        """Release locks taken by :meth:`acquire`, last first."""
        for lock in reversed(held):
            lock.release()


_CHILD_FUNCTIONS: dict[bytes, Callable[..., Any]] = {}


def call_pickled(payload: bytes, kwargs: dict[str, Any]) -> Any:
    """In a worker process: load a cloudpickled function (cached) and call it with ``kwargs``."""
    func = _CHILD_FUNCTIONS.get(payload)
    if func is None:
        func = _CHILD_FUNCTIONS[payload] = cloudpickle.loads(payload)
    return func(**kwargs)


class Runner:
    """Schedules the invocations that need an asyncio task, across the contexts of a run; collects finished contexts."""

    def __init__(self, plan: FlowPlan, *, max_concurrency: int, strict: bool) -> None:
        if not isinstance(max_concurrency, int) or max_concurrency < 1:
            raise WiringError(f"max_concurrency is a positive int, got {max_concurrency!r}")
        self.plan = plan
        self.limit = max_concurrency
        self.strict = strict
        self.running = 0
        self.waiting: deque[tuple[ContextState, OperationPlan, dict[str, Any]]] = deque()
        self.tasks: set[asyncio.Task[None]] = set()
        self.done: deque[ContextState] = deque()
        self.wakeup = asyncio.Event()
        self.locks = LockNetwork()
        self.locked_inputs = {p: {name: d.name for name, d in p.operation.inputs.items() if d.lock} for p in plan.plans}
        self.threads: ThreadPoolExecutor | None = None
        self.processes: ProcessPoolExecutor | None = None
        self.payloads: dict[OperationPlan, bytes] = {}

    def submit(self, context: ContextState, plan: OperationPlan, kwargs: dict[str, Any]) -> None:
        """Run one invocation as a task now, or when a slot of ``max_concurrency`` frees up."""
        context.inflight += 1
        if self.running < self.limit:
            self._start(context, plan, kwargs)
        else:
            self.waiting.append((context, plan, kwargs))

    def _start(self, context: ContextState, plan: OperationPlan, kwargs: dict[str, Any]) -> None:
        self.running += 1
        task = asyncio.get_running_loop().create_task(self._invoke(context, plan, kwargs))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _invoke(self, context: ContextState, plan: OperationPlan, kwargs: dict[str, Any]) -> None:
        error: BaseException | None = None
        result: Any = None
        try:
            held = await self.locks.acquire(self.locks.keys(kwargs, self.locked_inputs[plan]))
            try:
                result = await self._call(plan, kwargs)
            finally:
                self.locks.release(held)
        except Exception as exc:  # noqa: BLE001 - every operation failure is reported
            error = exc
        finally:
            self.running -= 1
            context.inflight -= 1
            while self.waiting and self.running < self.limit:
                self._start(*self.waiting.popleft())
        if context.done:  # the context failed meanwhile
            return
        if error is not None:
            context.fail(plan, kwargs, error)
            return
        if result is not None:
            context.deliver(plan, kwargs, result)
        try:
            context.drain()
        except Exception as exc:  # pragma: no cover - drain reports operation errors itself
            logger.exception("dataflow context %r failed", context.name)
            context.fail(plan, kwargs, exc)

    async def _call(self, plan: OperationPlan, kwargs: dict[str, Any]) -> Any:
        operation = plan.operation
        if operation.is_async:
            return await plan.func(**kwargs)
        if operation.executor is None:
            return plan.func(**kwargs)
        loop = asyncio.get_running_loop()
        if operation.executor == "thread":
            return await loop.run_in_executor(self._threads(), functools.partial(plan.func, **kwargs))
        payload = self.payloads.get(plan)
        if payload is None:
            payload = self.payloads[plan] = cloudpickle.dumps(plan.func)
        return await loop.run_in_executor(self._processes(), call_pickled, payload, kwargs)

    def _threads(self) -> Executor:
        if self.threads is None:
            self.threads = ThreadPoolExecutor(max_workers=min(self.limit, 32), thread_name_prefix="flowlib-dataflow")
        return self.threads

    def _processes(self) -> Executor:
        if self.processes is None:
            methods = multiprocessing.get_all_start_methods()
            context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
            workers = min(self.limit, multiprocessing.cpu_count() or 1)
            self.processes = ProcessPoolExecutor(max_workers=workers, mp_context=context)
        return self.processes

    def finished(self, context: ContextState) -> None:
        """Called by a context when it finishes or fails."""
        self.done.append(context)
        self.wakeup.set()

    async def close(self) -> None:
        """Cancel what still runs (after a failure or an early exit) and shut the pools down."""
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)
        for pool in (self.threads, self.processes):
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)


def _contexts(inputs: Contexts) -> dict[Hashable, list[Input]]:
    if inputs is None:
        return {DEFAULT_CONTEXT: []}
    if isinstance(inputs, Mapping):
        contexts = {name: list(given) for name, given in inputs.items()}
    else:
        contexts = {DEFAULT_CONTEXT: list(inputs)}
    for name, given in contexts.items():
        for item in given:
            if not isinstance(item, Input):
                raise WiringError(f"context {name!r}: inputs are Input(value, definition) objects, got {item!r}")
    return contexts


async def arun(
    flow: DataFlow, inputs: Contexts = None, *, max_concurrency: int = 64, strict: bool = True
) -> AsyncIterator[tuple[Hashable, Results | DataFlowError]]:
    """Run ``flow`` over each context; yield ``(context, results)`` as each context finishes.

    ``inputs``: ``{context name: [Input, ...]}``, or a list of Inputs for one context (named
    ``"default"``). With ``strict=True`` the first failing operation raises :class:`DataFlowError`;
    with ``strict=False`` a failed context yields its :class:`DataFlowError` and the others go on.

    Example:
        >>> async def main(flow, inputs):
        ...     return {name: results async for name, results in arun(flow, inputs)}
    """
    if not isinstance(flow, DataFlow):
        raise WiringError(f"arun() runs a DataFlow, got {flow!r}")
    contexts = _contexts(inputs)
    flow.check({item.definition for given in contexts.values() for item in given})
    runner = Runner(FlowPlan(flow), max_concurrency=max_concurrency, strict=strict)
    remaining = len(contexts)
    try:
        started = 0
        for name, given in contexts.items():
            context = ContextState(name, runner, runner.plan)
            context.start([(item.definition.name, item.value) for item in given])
            started += 1
            while runner.done:
                remaining -= 1
                yield _outcome(runner, runner.done.popleft())
            if runner.tasks and started % 64 == 0:
                await asyncio.sleep(0)  # let the tasks of earlier contexts progress
        while remaining:
            if not runner.done:
                if not runner.tasks:  # pragma: no cover - a context neither finished nor waits on anything
                    raise DataFlowError(f"{remaining} dataflow contexts stalled; this is a bug in flowlib.dataflow")
                runner.wakeup.clear()
                await runner.wakeup.wait()
            while runner.done:
                remaining -= 1
                yield _outcome(runner, runner.done.popleft())
    finally:
        await runner.close()


def _outcome(runner: Runner, context: ContextState) -> tuple[Hashable, Results | DataFlowError]:
    if context.error is not None:
        if runner.strict:
            raise context.error
        logger.warning("%s", context.error)
        return context.name, context.error
    return context.name, context.results


def run(
    flow: DataFlow, inputs: Contexts = None, *, max_concurrency: int = 64, strict: bool = True
) -> dict[Hashable, Results | DataFlowError]:
    """Run ``flow`` over each context in isolation and return ``{context: results}`` (see :func:`arun`).

    Example:
        >>> run(flow, [Input("add 40 and 2", text)])  # doctest: +SKIP
        {'default': {'result': 42}}
    """

    async def collect() -> dict[Hashable, Results | DataFlowError]:
        return {
            name: results async for name, results in arun(flow, inputs, max_concurrency=max_concurrency, strict=strict)
        }

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(collect())
    raise DataFlowError(
        "flowlib.dataflow.run() was called inside a running event loop (e.g. a notebook cell or async code); "
        "use `async for context, results in flowlib.dataflow.arun(flow, inputs)` there"
    )
