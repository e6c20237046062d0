"""Operation dataflows: typed definitions, operations that run on every new permutation of their inputs,
a redundancy checker, locks and stages, run concurrently by an orchestrator, alone or as a flowlib task.

Example:
    >>> from flowlib.dataflow import DataFlow, Definition, Input, get_single, op, run
    >>> n = Definition("n", int)
    >>> @op(inputs={"n": n}, outputs={"n": n})
    ... def decrement(n):
    ...     return {"n": n - 1} if n > 0 else None
    >>> run(DataFlow(decrement, get_single(n)), [Input(3, n)])
    {'default': {'n': 0}}
"""

from flowlib.dataflow.collect import get_multi, get_single
from flowlib.dataflow.errors import DataFlowError, DefinitionError, OperationError, WiringError
from flowlib.dataflow.flow import DataFlow
from flowlib.dataflow.op import Operation, http_op, op, subprocess_op
from flowlib.dataflow.orchestrator import DEFAULT_CONTEXT, arun, run
from flowlib.dataflow.task import DataFlowTask
from flowlib.dataflow.types import Definition, Input, Stage

__all__ = [
    "Definition",
    "Input",
    "Stage",
    "Operation",
    "op",
    "subprocess_op",
    "http_op",
    "get_single",
    "get_multi",
    "DataFlow",
    "run",
    "arun",
    "DEFAULT_CONTEXT",
    "DataFlowTask",
    "DataFlowError",
    "DefinitionError",
    "WiringError",
    "OperationError",
]
