"""Pictures of a flow: its DAG as Graphviz DOT, Mermaid or SVG, each task coloured by status.

``flowlib.graph(tasks)`` plans the flow once (the same plan as ``preview`` and
``run``) and returns a :class:`FlowGraph`. Edges point the way data flows, from
a task to the tasks that require it.

Example:
    >>> print(flowlib.graph(Train(scale=2.0)).to_mermaid())  # doctest: +SKIP
    flowchart LR
      n0["GetData()<br/>COMPLETE"]:::complete
      ...
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import luigi

from flowlib.errors import FlowlibError
from flowlib.plan import Node, Plan, Status, as_task_list, build_plan

__all__ = ["FlowGraph", "graph"]

#: (border, fill) per status; the borders are the colours of the HTML preview.
_COLOURS = {
    Status.COMPLETE: ("#1a7f37", "#dafbe1"),
    Status.PENDING: ("#9a6700", "#fff8c5"),
    Status.STALE: ("#cf222e", "#ffebe9"),
}
_MAX_LABEL = 80


def _label_lines(node: Node) -> list[str]:
    name = str(node.task)
    if len(name) > _MAX_LABEL:
        name = name[: _MAX_LABEL - 1] + "…"
    status = node.status.value
    if node.reason and node.status is not Status.COMPLETE:
        status += f" ({node.reason})"
    return [name, status]


def _dot_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _mermaid_text(text: str) -> str:
    for raw, entity in (("#", "#35;"), ('"', "#quot;"), ("<", "#lt;"), (">", "#gt;")):
        text = text.replace(raw, entity)
    return text


@dataclass(frozen=True, repr=False)
class FlowGraph:
    """The DAG of a flow with every task's status; ``to_dot()``, ``to_mermaid()``, ``to_svg()``."""

    plan: Plan

    @classmethod
    def from_tasks(cls, tasks: luigi.Task | Iterable[luigi.Task], *, rerun_stale: bool | None = None) -> FlowGraph:
        return cls(build_plan(as_task_list(tasks, "flowlib.graph()"), rerun_stale=rerun_stale))

    def _ids(self) -> dict[str, str]:
        return {node.task_id: f"n{i}" for i, node in enumerate(self.plan.nodes)}

    def edges(self) -> list[tuple[Node, Node]]:
        """``(dependency, dependent)`` pairs, each once."""
        seen: set[tuple[str, str]] = set()
        pairs = []
        for node in self.plan.nodes:
            for dep in node.deps:
                key = (dep.task_id, node.task_id)
                if key not in seen:
                    seen.add(key)
                    pairs.append((dep, node))
        return pairs

    def to_dot(self, *, rankdir: str = "LR") -> str:
        """Graphviz DOT source; render with ``dot -Tsvg`` or :meth:`to_svg`."""
        ids = self._ids()
        lines = [
            "digraph flow {",
            f"  rankdir={rankdir};",
            '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=10];',
            '  edge [color="#57606a"];',
        ]
        for node in self.plan.nodes:
            border, fill = _COLOURS[node.status]
            label = "\\n".join(_dot_text(line) for line in _label_lines(node))
            lines.append(f'  {ids[node.task_id]} [label="{label}", color="{border}", fillcolor="{fill}"];')
        lines.extend(f"  {ids[dep.task_id]} -> {ids[node.task_id]};" for dep, node in self.edges())
        lines.append("}")
        return "\n".join(lines) + "\n"

    def to_mermaid(self, *, direction: str = "LR") -> str:
        """Mermaid flowchart source (GitHub, GitLab and JupyterLab render it in Markdown)."""
        ids = self._ids()
        lines = [f"flowchart {direction}"]
        for node in self.plan.nodes:
            label = "<br/>".join(_mermaid_text(line) for line in _label_lines(node))
            lines.append(f'  {ids[node.task_id]}["{label}"]:::{node.status.value.lower()}')
        lines.extend(f"  {ids[dep.task_id]} --> {ids[node.task_id]}" for dep, node in self.edges())
        for status, (border, fill) in _COLOURS.items():
            lines.append(f"  classDef {status.value.lower()} fill:{fill},stroke:{border},color:#1f2328;")
        return "\n".join(lines) + "\n"

    def to_svg(self) -> str:
        """SVG text, drawn by Graphviz (needs ``pip install graphviz`` and Graphviz's ``dot`` program)."""
        try:
            import graphviz
        except ImportError as exc:
            raise FlowlibError(
                "to_svg() needs the graphviz Python package and Graphviz's dot program: "
                "pip install 'flowlib[graph]' and install Graphviz (e.g. apt-get install graphviz); "
                "to_dot() and to_mermaid() need neither"
            ) from exc
        try:
            svg: str = graphviz.Source(self.to_dot()).pipe(format="svg", encoding="utf-8")
        except graphviz.ExecutableNotFound as exc:
            raise FlowlibError(
                "to_svg() needs Graphviz's dot program on PATH (e.g. apt-get install graphviz, brew install graphviz)"
            ) from exc
        return svg

    def save(self, path: str | Path) -> Path:
        """Write the picture; the suffix picks the format: ``.dot``/``.gv``, ``.mmd``/``.mermaid`` or ``.svg``."""
        target = Path(path)
        writers = {
            ".dot": self.to_dot,
            ".gv": self.to_dot,
            ".mmd": self.to_mermaid,
            ".mermaid": self.to_mermaid,
            ".svg": self.to_svg,
        }
        writer = writers.get(target.suffix.lower())
        if writer is None:
            raise FlowlibError(f"cannot save a graph as {target.name!r}; use a .dot, .mmd or .svg file name")
        target.write_text(writer(), encoding="utf-8")
        return target

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        """Notebooks: the picture (SVG) when Graphviz is installed, else the coloured preview tree (HTML)."""
        try:
            return {"image/svg+xml": self.to_svg(), "text/plain": repr(self)}
        except FlowlibError:
            from flowlib.preview import render

            return {"text/html": render(self.plan)._repr_html_(), "text/plain": repr(self)}

    def __repr__(self) -> str:
        """A short summary, e.g. ``FlowGraph(3 tasks, 2 edges: 1 COMPLETE, 2 PENDING)``."""
        counts = ", ".join(f"{n} {status}" for status, n in self.plan.counts().items() if n)
        return f"FlowGraph({len(self.plan.nodes)} tasks, {len(self.edges())} edges: {counts or 'empty'})"

    def __str__(self) -> str:
        return self.to_mermaid()


def graph(tasks: luigi.Task | Iterable[luigi.Task], *, rerun_stale: bool | None = None) -> FlowGraph:
    """The DAG of the flow(s) ending in ``tasks``, with statuses, ready to export.

    Example:
        >>> flowlib.graph(Train(scale=2.0)).to_dot()  # doctest: +SKIP
    """
    return FlowGraph.from_tasks(tasks, rerun_stale=rerun_stale)
