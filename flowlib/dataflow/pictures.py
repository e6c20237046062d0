"""Pictures of a dataflow: definitions (rounded), operations (boxes) grouped by stage, and which feeds which.

``DataFlow.to_mermaid()`` and ``DataFlow.to_dot()`` call these; they draw anything shaped like a flow
(:class:`FlowShape`), so this module does not import the flow it draws.

Example:
    >>> from flowlib.dataflow import DataFlow, Definition, get_single
    >>> print(to_mermaid(DataFlow(get_single(Definition("n", int)))).splitlines()[1])
        def_n(["n: int"])
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Protocol

from flowlib.dataflow.op import Operation
from flowlib.dataflow.types import STAGES, Definition, Stage

__all__ = ["to_mermaid", "to_dot", "FlowShape"]


class FlowShape(Protocol):
    """What a picture reads of a flow (:class:`flowlib.dataflow.DataFlow` has it)."""

    @property
    def definitions(self) -> Mapping[str, Definition]:
        """Every definition of the flow, by name."""

    @property
    def operations(self) -> Mapping[str, Operation]:
        """Every operation of the flow, by name, in the order given."""

    def stage(self, stage: Stage) -> list[Operation]:
        """The operations of one stage, in the order given."""


def _ident(prefix: str, name: str) -> str:
    return prefix + re.sub(r"\W", "_", name)


def _edges(flow: FlowShape) -> list[tuple[str, str, str]]:
    """``(from id, to id, label)``: definition -> operation (input name), operation -> definition (output name)."""
    edges = []
    for operation in flow.operations.values():
        op_id = _ident("op_", operation.name)
        for input_name, definition in operation.inputs.items():
            edges.append((_ident("def_", definition.name), op_id, input_name))
        for output_name, definition in operation.outputs.items():
            target = _ident("out_", f"{operation.name}_{output_name}") if operation.gather else None
            edges.append((op_id, target or _ident("def_", definition.name), output_name))
    return edges


def to_mermaid(flow: FlowShape) -> str:
    """A Mermaid flowchart (``flowchart LR``) of the flow, one subgraph per stage."""
    lines = ["flowchart LR"]
    for definition in flow.definitions.values():
        lock = " 🔒" if definition.lock else ""
        lines.append(f'    {_ident("def_", definition.name)}(["{definition.name}: {definition.label}{lock}"])')
    for stage in STAGES:
        operations = flow.stage(stage)
        if not operations:
            continue
        lines.append(f"    subgraph {stage.value}")
        for operation in operations:
            lines.append(f'        {_ident("op_", operation.name)}["{operation.name}"]')
        lines.append("    end")
    for operation in flow.operations.values():
        if operation.gather:
            for output_name in operation.outputs:
                lines.append(f'    {_ident("out_", f"{operation.name}_{output_name}")}[/"result {output_name}"/]')
    for source, target, label in _edges(flow):
        lines.append(f"    {source} -->|{label}| {target}")
    return "\n".join(lines) + "\n"


def to_dot(flow: FlowShape) -> str:
    """A Graphviz DOT digraph of the flow, one cluster per stage."""
    lines = ["digraph dataflow {", "    rankdir=LR;", '    node [fontname="Helvetica"];']
    for definition in flow.definitions.values():
        lock = "\\nlock" if definition.lock else ""
        lines.append(
            f'    {_ident("def_", definition.name)} [label="{definition.name}\\n{definition.label}{lock}", '
            "shape=ellipse, style=rounded];"
        )
    for stage in STAGES:
        operations = flow.stage(stage)
        if not operations:
            continue
        lines.append(f"    subgraph cluster_{stage.value} {{")
        lines.append(f'        label="{stage.value}";')
        for operation in operations:
            lines.append(f'        {_ident("op_", operation.name)} [label="{operation.name}", shape=box];')
        lines.append("    }")
    for operation in flow.operations.values():
        if operation.gather:
            for output_name in operation.outputs:
                node = _ident("out_", f"{operation.name}_{output_name}")
                lines.append(f'    {node} [label="result {output_name}", shape=note];')
    for source, target, label in _edges(flow):
        lines.append(f'    {source} -> {target} [label="{label}"];')
    lines.append("}")
    return "\n".join(lines) + "\n"
