"""The flowlib side of the dataflow benchmark: the same two flows as ``benchmarks/dffml_flows.py``.

Run in a fresh process by ``python -m benchmarks.dataflow`` (through ``benchmarks.child``); the time
is CPU time (``time.process_time``) of ``flowlib.dataflow.run``, building the inputs included.

Example:
    >>> measure(case="chain", size=10)["invocations"]
    20
"""

from __future__ import annotations

import time
from typing import Any

from flowlib.dataflow import DataFlow, Definition, Input, get_multi, get_single, op, run

__all__ = ["measure", "chain_flow", "fan_flow"]

X, Y, Z = Definition("x", int), Definition("y", int), Definition("z", int)
A, B, C = Definition("a", int), Definition("b", int), Definition("c", int)


def chain_flow(use_async: bool = False) -> DataFlow:
    """Two chained trivial operations, x -> y -> z, and get_single(z)."""
    if use_async:

        async def step1(x: int) -> dict[str, int]:
            return {"y": x + 1}

        async def step2(y: int) -> dict[str, int]:
            return {"z": y * 2}

    else:

        def step1(x: int) -> dict[str, int]:  # type: ignore[misc]
            return {"y": x + 1}

        def step2(y: int) -> dict[str, int]:  # type: ignore[misc]
            return {"z": y * 2}

    first = op(step1, inputs={"x": X}, outputs={"y": Y})
    second = op(step2, inputs={"y": Y}, outputs={"z": Z})
    return DataFlow(first, second, get_single(Z))


def fan_flow() -> DataFlow:
    """One operation combining every a with every b, and get_multi(c)."""

    @op(inputs={"a": A, "b": B}, outputs={"c": C})
    def combine(a: int, b: int) -> dict[str, int]:
        return {"c": a * 1000 + b}

    return DataFlow(combine, get_multi(C))


def measure(case: str, size: int, use_async: bool = False, warmup: bool = False) -> dict[str, Any]:
    """``chain``: ``size`` contexts of one seed each (2 invocations each); ``fan``: one context of size x size.

    ``warmup``: run the case once untimed first (one-off costs such as the first full garbage
    collection over the imported modules then fall outside the timed run).
    """
    if warmup:
        measure(case, size, use_async)
    if case == "chain":
        flow = chain_flow(use_async)
        started = time.process_time()
        results = run(flow, {str(i): [Input(i, X)] for i in range(size)})
        seconds = time.process_time() - started
        assert len(results) == size and results["7" if size > 7 else "0"]["z"] == 2 * ((7 if size > 7 else 0) + 1)
        invocations = 2 * size
    elif case == "fan":
        flow = fan_flow()
        started = time.process_time()
        given = [Input(i, A) for i in range(size)] + [Input(i, B) for i in range(size)]
        results = run(flow, {"fan": given})
        seconds = time.process_time() - started
        assert len(results["fan"]["c"]) == size * size
        invocations = size * size
    else:
        raise ValueError(f"unknown case {case!r}; use 'chain' or 'fan'")
    return {"seconds": seconds, "invocations": invocations}
