"""The dataflow's errors, all in flowlib's one exception family.

Example:
    >>> issubclass(DataFlowError, flowlib.errors.FlowlibError)
    True
"""

from __future__ import annotations

from typing import Any

import flowlib.errors

__all__ = ["DataFlowError", "DefinitionError", "WiringError", "OperationError"]


class DataFlowError(flowlib.errors.FlowlibError, RuntimeError):
    """An operation failed while a dataflow ran; names the operation, the context and the inputs.

    Attributes: ``operation`` (its name), ``context`` (the context's name), ``inputs``
    (``{input name: value}`` it was called with); the original exception is ``__cause__``.
    """

    def __init__(
        self, message: str, *, operation: str = "", context: str = "", inputs: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.operation = operation
        self.context = context
        self.inputs = dict(inputs or {})


class DefinitionError(flowlib.errors.FlowlibError, TypeError):
    """A value does not fit its definition's primitive, or a definition is malformed."""


class WiringError(flowlib.errors.FlowlibError, ValueError):
    """A dataflow cannot run as wired: e.g. an operation input that nothing can ever supply."""


class OperationError(flowlib.errors.FlowlibError, TypeError):
    """An operation is declared in a way the dataflow cannot use (bad inputs, outputs, stage or executor)."""
