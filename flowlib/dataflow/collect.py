"""The built-in output operations: :func:`get_single` (the last value) and :func:`get_multi` (every value).

Both gather: they run once per context, after processing and cleanup, and see every value of their
definitions in the order produced. Their results are keyed by definition name.

Example:
    >>> c = Definition("c", int)
    >>> get_multi(c).func(c=[110, 120])
    {'c': [110, 120]}
    >>> get_single(c).func(c=[110, 120])
    {'c': 120}
"""

from __future__ import annotations

from typing import Any

from flowlib.dataflow.errors import OperationError
from flowlib.dataflow.op import Operation
from flowlib.dataflow.types import Definition, Stage

__all__ = ["get_single", "get_multi"]


def _check(kind: str, definitions: tuple[Definition, ...]) -> dict[str, Definition]:
    if not definitions:
        raise OperationError(f"{kind}() needs at least one Definition, e.g. {kind}(result)")
    named: dict[str, Definition] = {}
    for definition in definitions:
        if not isinstance(definition, Definition):
            raise OperationError(f"{kind}() takes Definitions, got {definition!r}")
        named[definition.name] = definition
    return named


def get_single(*definitions: Definition, name: str | None = None) -> Operation:
    """An output operation: the last value of each definition, keyed by definition name (absent if none).

    Example:
        >>> get_single(Definition("c", int)).name
        'get_single'
    """
    named = _check("get_single", definitions)

    def last(**values: list[Any]) -> dict[str, Any]:
        return {key: found[-1] for key, found in values.items() if found}

    code = "get_single:" + ",".join(named)
    return Operation(
        name or "get_single", last, inputs=named, outputs=named, stage=Stage.OUTPUT, gather=True, code=code
    )


def get_multi(*definitions: Definition, name: str | None = None) -> Operation:
    """An output operation: every value of each definition in the order produced, keyed by definition name.

    Example:
        >>> get_multi(Definition("c", int)).stage
        <Stage.OUTPUT: 'output'>
    """
    named = _check("get_multi", definitions)

    def every(**values: list[Any]) -> dict[str, Any]:
        return {key: list(found) for key, found in values.items()}

    code = "get_multi:" + ",".join(named)
    return Operation(
        name or "get_multi", every, inputs=named, outputs=named, stage=Stage.OUTPUT, gather=True, code=code
    )
