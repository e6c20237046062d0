# ruff: noqa: UP006, UP007, UP035, UP045
"""The benchmark's two dataflows written for DFFML 0.4, run by ``python -m benchmarks.dataflow`` in a Python 3.8 venv.

DFFML 0.4 imports only on Python 3.8 or older, so this module runs in its own venv
(``python3.8 -m venv dffml-venv && dffml-venv/bin/pip install dffml``), in a child process started
by ``benchmarks.harness.run_child(..., python=...)``. It must run on Python 3.8 and import nothing
from flowlib. The time is CPU time (``time.process_time``) of DFFML's ``run``, building the inputs
included, as on the flowlib side (``benchmarks/dataflow_cases.py``).
"""

import asyncio
import sys
import time

from dffml import DataFlow, Definition, GetMulti, GetSingle, Input, op, run
from dffml.version import VERSION

X = Definition(name="x", primitive="int")
Y = Definition(name="y", primitive="int")
Z = Definition(name="z", primitive="int")
A = Definition(name="a", primitive="int")
B = Definition(name="b", primitive="int")
C = Definition(name="c", primitive="int")


@op(inputs={"x": X}, outputs={"y": Y})
def step1(x):
    return {"y": x + 1}


@op(inputs={"y": Y}, outputs={"z": Z})
def step2(y):
    return {"z": y * 2}


@op(inputs={"a": A, "b": B}, outputs={"c": C})
def combine(a, b):
    return {"c": a * 1000 + b}


def chain_flow():
    flow = DataFlow.auto(step1, step2, GetSingle)
    flow.seed.append(Input(value=[Z.name], definition=GetSingle.op.inputs["spec"]))
    return flow


def fan_flow():
    flow = DataFlow.auto(combine, GetMulti)
    flow.seed.append(Input(value=[C.name], definition=GetMulti.op.inputs["spec"]))
    return flow


async def collect(flow, contexts):
    found = {}
    async for ctx, results in run(flow, contexts):
        found[(await ctx.handle()).as_string()] = results
    return found


def measure(case, size, warmup=False):
    """``chain``: ``size`` contexts of one seed each (2 invocations each); ``fan``: one context of size x size.

    ``warmup``: run the case once untimed first, as on the flowlib side.
    """
    if warmup:
        measure(case, size)
    if case == "chain":
        flow = chain_flow()
        started = time.process_time()
        inputs = {str(i): [Input(value=i, definition=X)] for i in range(size)}
        found = asyncio.run(collect(flow, inputs))
        seconds = time.process_time() - started
        probe = "7" if size > 7 else "0"
        assert len(found) == size and found[probe] == {"z": 2 * (int(probe) + 1)}, found.get(probe)
        invocations = 2 * size
    elif case == "fan":
        flow = fan_flow()
        started = time.process_time()
        given = [Input(value=i, definition=A) for i in range(size)]
        given += [Input(value=i, definition=B) for i in range(size)]
        found = asyncio.run(collect(flow, {"fan": given}))
        seconds = time.process_time() - started
        assert len(found["fan"]["c"]) == size * size, len(found["fan"]["c"])
        invocations = size * size
    else:
        raise ValueError(f"unknown case {case!r}; use 'chain' or 'fan'")
    return {"seconds": seconds, "invocations": invocations, "version": VERSION, "python": sys.version.split()[0]}
