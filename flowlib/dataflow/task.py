"""DataFlowTask: a flowlib task that runs an operation dataflow and persists its results as its output.

Example:
    >>> import flowlib
    >>> from flowlib.dataflow import DataFlow, Definition, Input, get_single, op
    >>> n = Definition("n", int)
    >>> @op(inputs={"n": n}, outputs={"n": n})
    ... def decrement(n):
    ...     return {"n": n - 1} if n > 0 else None
    >>> class Countdown(flowlib.DataFlowTask):
    ...     start = flowlib.IntParameter(default=3)
    ...     dataflow = DataFlow(decrement, get_single(n))
    ...     def inputs(self):
    ...         return {"countdown": [Input(self.start, n)]}
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any, ClassVar

import pandas as pd

from flowlib.dataflow.flow import DataFlow
from flowlib.dataflow.orchestrator import Contexts, run
from flowlib.errors import TaskDefinitionError
from flowlib.targets import CSVTarget, ParquetTarget
from flowlib.task import Task

__all__ = ["DataFlowTask"]


class DataFlowTask(Task):
    """A task whose ``run()`` runs ``dataflow`` over the contexts ``inputs()`` gives, and saves the results.

    Class attributes: ``dataflow`` (a :class:`~flowlib.dataflow.DataFlow`), ``max_concurrency``.
    The output is ``{context: results}``, pickled by default; a class that also derives from
    ``flowlib.TaskJSON`` stores it as JSON, one deriving from ``flowlib.TaskParquet`` (or
    ``TaskCSV``) as a DataFrame with one row per context (see :meth:`to_output`). Its code
    fingerprint covers the class and, through :meth:`code_parts`, the code and wiring of every
    operation in the flow, so editing an operation makes the task STALE ("code changed").
    Setting ``version`` yourself replaces it.
    """

    dataflow: ClassVar[DataFlow | None] = None
    max_concurrency: ClassVar[int] = 64

    def __init_subclass__(cls, **kwargs: Any) -> None:
        flow = getattr(cls, "dataflow", None)
        if flow is not None:
            if not isinstance(flow, DataFlow):
                raise TaskDefinitionError(f"{cls.__name__}.dataflow must be a flowlib.dataflow.DataFlow, got {flow!r}")
        super().__init_subclass__(**kwargs)

    @classmethod
    def code_parts(cls) -> list[str]:
        """The dataflow's operations (code, commands, URLs and wiring): part of the task's code fingerprint."""
        flow = getattr(cls, "dataflow", None)
        return [flow.fingerprint()] if isinstance(flow, DataFlow) else []

    def inputs(self) -> Contexts:
        """The contexts to run: ``{name: [Input, ...]}`` or one list of Inputs; default: one context of seeds only.

        Build them from the task's parameters and ``self.input_load()``.
        """
        return None

    def to_output(self, results: dict[Hashable, dict[str, Any]]) -> Any:
        """What to save: the results as they are, or (Parquet / CSV tasks) a DataFrame, one row per context."""
        if issubclass(self.target_class, (ParquetTarget, CSVTarget)):
            frame = pd.DataFrame.from_dict({str(name): row for name, row in results.items()}, orient="index")
            frame.index.name = "context"
            return frame
        return {name: dict(row) for name, row in results.items()}

    def run(self) -> None:
        """Run the dataflow (strictly: a failing operation fails the task) and save its results."""
        flow = type(self).dataflow
        if flow is None:
            raise TaskDefinitionError(f"{type(self).__name__} has no dataflow; set dataflow = DataFlow(...)")
        results = run(flow, self.inputs(), max_concurrency=self.max_concurrency, strict=True)
        self.save(self.to_output(results))  # type: ignore[arg-type]
