"""Render a plan as a tree: each task once, with its significant parameters and status.

A subtree required by several tasks is drawn at its first place and referred to
by a one-line ``[n] ... (see above)`` afterwards, so a diamond-shaped DAG prints
in lines proportional to its tasks, not to its paths.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from typing import Any

import luigi

from flowlib import display
from flowlib.plan import Node, Plan, Status, as_task_list, build_plan, gc_paused

__all__ = ["Preview", "preview", "render", "ask"]

_MAX_INDENT = 24
_COLOURS = {Status.COMPLETE: "#1a7f37", Status.PENDING: "#9a6700", Status.STALE: "#cf222e"}


class Preview(str):
    """What ``flowlib.preview`` returns: the tree as a ``str``, which notebooks render as HTML.

    It is the text itself (``text.splitlines()``, ``re.search(..., text)`` and ``"STALE" in text`` work),
    and also carries the plan: ``.plan``, ``.counts()`` and ``.status(task)``.

    Example:
        >>> text = flowlib.preview(Train(scale=2.0))  # doctest: +SKIP
        >>> "PENDING" in text, text.status(Train(scale=2.0))  # doctest: +SKIP
    """

    plan: Plan
    lines: tuple[tuple[int, str, Node | None, str], ...]

    def __new__(cls, text: str, plan: Plan, lines: tuple[tuple[int, str, Node | None, str], ...] = ()) -> Preview:
        self = super().__new__(cls, text)
        self.plan = plan
        self.lines = lines
        return self

    @property
    def text(self) -> str:
        """The tree as a plain ``str``."""
        return str.__str__(self)

    def __str__(self) -> str:
        return str.__str__(self)

    def __repr__(self) -> str:
        """The tree itself, so an interactive prompt shows it as it prints."""
        return str.__str__(self)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str.__str__(self))

    def __reduce__(self) -> Any:
        return (Preview, (str.__str__(self), self.plan, self.lines))

    def counts(self) -> dict[str, int]:
        """``{status: number of tasks}``."""
        return self.plan.counts()

    def status(self, task: luigi.Task) -> Status:
        """The status of one task of the previewed flow."""
        return self.plan.node(task).status

    def _repr_html_(self) -> str:
        rows = []
        for _depth, prefix, node, rest in self.lines:
            if node is None:
                rows.append(html.escape(prefix + rest))
                continue
            colour = _COLOURS[node.status]
            rows.append(
                html.escape(prefix)
                + html.escape(rest).replace(
                    html.escape(node.status.value),
                    f'<b style="color:{colour}">{node.status.value}</b>',
                    1,
                )
            )
        return '<pre style="line-height:1.3">' + "\n".join(rows) + "</pre>"


def _shared(plan: Plan) -> dict[str, int]:
    """Nodes drawn more than once (several parents, or a root also required): numbered refs."""
    seen: dict[str, int] = {}
    for node in plan.roots:
        seen[node.task_id] = seen.get(node.task_id, 0) + 1
    for node in plan.nodes:
        for dep in node.deps:
            seen[dep.task_id] = seen.get(dep.task_id, 0) + 1
    numbers: dict[str, int] = {}
    for node in plan.nodes:
        if seen.get(node.task_id, 0) > 1:
            numbers[node.task_id] = 0
    return numbers


def render(plan: Plan) -> Preview:
    """The tree of ``plan`` as text, without printing it."""
    with gc_paused():
        return _render(plan)


def _render(plan: Plan) -> Preview:
    shared = _shared(plan)
    counter = 0
    drawn: set[str] = set()
    lines: list[tuple[int, str, Node | None, str]] = []
    # Stack of (node, depth, prefix for this line, prefix for its children).
    stack: list[tuple[Node, int, str, str]] = []
    for root in reversed(plan.roots):
        stack.append((root, 0, "", ""))
    while stack:
        node, depth, prefix, child_prefix = stack.pop()
        label = str(node.task)
        if node.task_id in shared:
            if node.task_id in drawn:
                lines.append((depth, prefix, None, f"[{shared[node.task_id]}] {label}  (see above)"))
                continue
            counter += 1
            shared[node.task_id] = counter
            label = f"[{counter}] {label}"
        drawn.add(node.task_id)
        reason = f"  ({node.reason})" if node.reason and node.status is not Status.COMPLETE else ""
        deep = f"(depth {depth}) " if depth > _MAX_INDENT else ""
        lines.append((depth, prefix, node, f"{deep}{label}  {node.status.value}{reason}"))
        deps = node.deps
        for i in range(len(deps) - 1, -1, -1):
            if depth >= _MAX_INDENT:  # very deep chains: stop indenting, the label says the depth
                stack.append((deps[i], depth + 1, prefix, child_prefix))
                continue
            last = i == len(deps) - 1
            stack.append(
                (
                    deps[i],
                    depth + 1,
                    child_prefix + ("└─ " if last else "├─ "),
                    child_prefix + ("   " if last else "│  "),
                )
            )
    counts = plan.counts()
    footer = f"{len(plan.nodes)} tasks: " + ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    text = "\n".join(prefix + rest for _d, prefix, _n, rest in lines) + "\n" + footer
    lines.append((0, "", None, footer))
    return Preview(text, plan, tuple(lines))


def preview(
    tasks: luigi.Task | Iterable[luigi.Task],
    *,
    rerun_stale: bool | None = None,
    show: bool | None = None,
) -> Preview:
    """Show the dependency tree with each task's status, and return it as a ``str`` (a :class:`Preview`).

    In a script or terminal program the tree is printed. In a notebook (and at an interactive prompt)
    nothing is printed: the returned value shows itself, as HTML in a notebook, so nothing shows twice.
    ``show=True`` always prints, ``show=False`` never does.

    Example:
        >>> text = flowlib.preview(Train(scale=2.0))  # doctest: +SKIP
        Train(scale=2.0)  PENDING  (no output)
        ...
    """
    result = render(build_plan(as_task_list(tasks, "flowlib.preview()"), rerun_stale=rerun_stale))
    display.show(result.text, show)
    return result


def ask(prompt: str) -> bool:
    """Ask a yes/no question on stdin (used by ``confirm=True``); no answer means no."""
    try:
        answer = input(prompt)
    except EOFError:
        return False
    return answer.strip().lower() in {"y", "yes"}
