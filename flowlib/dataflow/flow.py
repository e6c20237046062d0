"""DataFlow: operations wired by definitions (an output feeds every input of the same definition), plus seeds.

Example:
    >>> from flowlib.dataflow import get_single, op
    >>> A, C = Definition("a", int), Definition("c", int)
    >>> @op(inputs={"a": A}, outputs={"c": C})
    ... def double(a):
    ...     return {"c": 2 * a}
    >>> flow = DataFlow(double, get_single(C), seed=[Input(21, A)])
    >>> sorted(flow.definitions)
    ['a', 'c']
"""

from __future__ import annotations

from collections.abc import Iterable

from flowlib.dataflow.errors import OperationError, WiringError
from flowlib.dataflow.op import Operation
from flowlib.dataflow.pictures import to_dot, to_mermaid
from flowlib.dataflow.types import Definition, Input, Stage
from flowlib.hashing import hash_bytes

__all__ = ["DataFlow"]


class DataFlow:
    """Operations wired by definitions, and seed inputs every context starts with.

    ``operations`` maps name -> :class:`Operation`; ``definitions`` maps name -> :class:`Definition`
    (one definition per name across the flow); ``consumers[name]`` lists ``(operation, input names)``
    fed by that definition; ``producers[name]`` the operations that output it.

    Example:
        >>> from flowlib.dataflow import get_single
        >>> n = Definition("n", int)
        >>> DataFlow(get_single(n), seed=[Input(1, n)]).seed
        [Input(1, 'n')]
    """

    def __init__(self, *operations: Operation, seed: Iterable[Input] = ()) -> None:
        self.operations: dict[str, Operation] = {}
        for operation in operations:
            if not isinstance(operation, Operation):
                raise OperationError(
                    f"DataFlow takes operations (made with @op, subprocess_op, http_op, get_single ...), "
                    f"got {operation!r}"
                )
            if operation.name in self.operations:
                raise WiringError(f"two operations are named {operation.name!r}; pass name=... to one of them")
            self.operations[operation.name] = operation
        self.seed: list[Input] = list(seed)
        for item in self.seed:
            if not isinstance(item, Input):
                raise WiringError(f"seed holds Inputs, got {item!r}; write Input(value, definition)")
        self.definitions: dict[str, Definition] = {}
        self.consumers: dict[str, list[tuple[Operation, tuple[str, ...]]]] = {}
        self.producers: dict[str, list[Operation]] = {}
        for operation in self.operations.values():
            fed: dict[str, list[str]] = {}
            for input_name, definition in operation.inputs.items():
                self._register(definition, f"input {input_name!r} of operation {operation.name!r}")
                fed.setdefault(definition.name, []).append(input_name)
            for def_name, input_names in fed.items():
                self.consumers.setdefault(def_name, []).append((operation, tuple(input_names)))
            for output_name, definition in operation.outputs.items():
                self._register(definition, f"output {output_name!r} of operation {operation.name!r}")
                if operation.stage is not Stage.OUTPUT:
                    self.producers.setdefault(definition.name, []).append(operation)
        for item in self.seed:
            self._register(item.definition, f"seed {item!r}")

    def _register(self, definition: Definition, where: str) -> None:
        known = self.definitions.setdefault(definition.name, definition)
        if known != definition:
            raise WiringError(
                f"{where} uses {definition!r}, but the flow already has {known!r} under that name; "
                "one name, one definition: rename one of them"
            )

    def check(self, given: Iterable[Definition]) -> None:
        """Raise :class:`WiringError` if an operation input can never be supplied, or a given definition clashes.

        Suppliers are the outputs of processing and cleanup operations, the flow's seeds and ``given``
        (the definitions of the inputs handed to ``run``).
        """
        supplied = set(self.producers) | {item.definition.name for item in self.seed}
        for definition in given:
            known = self.definitions.get(definition.name)
            if known is not None and known != definition:
                raise WiringError(
                    f"an input of {definition!r} was given, but the flow defines {known!r} under that name; "
                    "use the flow's definition"
                )
            supplied.add(definition.name)
        for operation in self.operations.values():
            for input_name, definition in operation.inputs.items():
                if definition.name not in supplied:
                    raise WiringError(
                        f"operation {operation.name!r}: input {input_name!r} ({definition!r}) can never be supplied: "
                        "no operation outputs it, no seed has it and no input given to run does; "
                        f"add an Input of {definition.name!r} to the seed or the inputs, or an operation outputting it"
                    )

    def stage(self, stage: Stage) -> list[Operation]:
        """The operations of one stage, in the order given."""
        return [operation for operation in self.operations.values() if operation.stage is stage]

    def fingerprint(self) -> str:
        """A hash of every operation's definition and code, and of the seeds: changes when any is edited."""
        parts = [f"{name}={operation.fingerprint()}" for name, operation in sorted(self.operations.items())]
        parts += [f"seed:{item.definition.name}={item.value!r}" for item in self.seed]
        return hash_bytes("\n".join(parts).encode("utf-8"))[:16]

    def to_mermaid(self) -> str:
        """A Mermaid flowchart: definitions, operations by stage, and which feeds which."""
        return to_mermaid(self)

    def to_dot(self) -> str:
        """A Graphviz DOT graph: definitions, operations by stage, and which feeds which."""
        return to_dot(self)

    def __repr__(self) -> str:
        return f"DataFlow({', '.join(self.operations)}; seed={len(self.seed)})"
