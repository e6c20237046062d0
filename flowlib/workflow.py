"""Workflows: a task class with default parameters, or several parameter sets side by side.

Example:
    >>> flow = flowlib.Workflow(Train, params={"scale": 2.0})  # doctest: +SKIP
    >>> flow.run()  # doctest: +SKIP
    >>> flow.output_load(Preprocess)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import luigi

from flowlib.errors import FlowlibError
from flowlib.plan import build_plan
from flowlib.preview import Preview, preview
from flowlib.result import RunResult
from flowlib.runner import run
from flowlib.task import Keys

__all__ = ["Workflow", "WorkflowMulti"]


def _instantiate(task_class: type, params: Mapping[str, Any]) -> luigi.Task:
    if not (isinstance(task_class, type) and issubclass(task_class, luigi.Task)):
        raise FlowlibError(f"a workflow takes a task class, got {task_class!r}")
    names = {name for name, _ in task_class.get_params()}
    unknown = sorted(set(params) - names)
    if unknown:
        raise FlowlibError(f"{task_class.__name__} has no parameter {unknown[0]!r}; its parameters are {sorted(names)}")
    return task_class(**params)


class Workflow:
    """One flow: ``task_class`` built with ``params``; other tasks of the flow take the params they know."""

    def __init__(self, task_class: type, params: Mapping[str, Any] | None = None) -> None:
        self.task_class = task_class
        self.params = dict(params or {})
        self.task = _instantiate(task_class, self.params)

    def get_task(self, task_class: type | None = None) -> Any:
        """The task of ``task_class`` in this flow (the final task by default)."""
        if task_class is None or task_class is self.task_class:
            return self.task
        plan = build_plan([self.task], rerun_stale=False)
        matches = [n.task for n in plan.nodes if type(n.task) is task_class]
        if not matches:
            raise FlowlibError(f"{task_class.__name__} is not part of the flow of {self.task}")
        if len(matches) > 1:
            raise FlowlibError(
                f"{task_class.__name__} appears {len(matches)} times in this flow with different parameters"
            )
        return matches[0]

    def run(self, **options: Any) -> RunResult:
        """``flowlib.run`` on this flow; options as for ``flowlib.run``."""
        return run(self.task, **options)

    def preview(self, **options: Any) -> Preview:
        return preview(self.task, **options)

    def output_load(self, task_class: type | None = None, keys: Keys = None, *, as_dict: bool = False) -> Any:
        """Load the outputs of ``task_class`` in this flow, as ``Task.output_load`` does."""
        return self.get_task(task_class).output_load(keys, as_dict=as_dict)

    def outputs(self, task_class: type | None = None) -> dict[str, Any]:
        return self.get_task(task_class).output()

    def __repr__(self) -> str:
        return f"Workflow({self.task})"


class WorkflowMulti:
    """Several parameter sets of one flow, by experiment name.

    Example:
        >>> flows = WorkflowMulti(Train, {"small": {"scale": 1.0}, "big": {"scale": 3.0}})  # doctest: +SKIP
        >>> flows.run(); flows.output_load(Train)  # doctest: +SKIP
    """

    def __init__(self, task_class: type, experiments: Mapping[str, Mapping[str, Any]]) -> None:
        if not experiments:
            raise FlowlibError("WorkflowMulti needs at least one experiment: {'name': {parameters}}")
        self.task_class = task_class
        self.workflows = {name: Workflow(task_class, params) for name, params in experiments.items()}

    def run(self, **options: Any) -> RunResult:
        """Run every experiment in one plan (tasks they share run once)."""
        return run([flow.task for flow in self.workflows.values()], **options)

    def preview(self, **options: Any) -> Preview:
        return preview([flow.task for flow in self.workflows.values()], **options)

    def output_load(
        self, task_class: type | None = None, keys: Keys = None, *, as_dict: bool = False
    ) -> dict[str, Any]:
        """``{experiment name: output}``."""
        return {name: flow.output_load(task_class, keys, as_dict=as_dict) for name, flow in self.workflows.items()}

    def __getitem__(self, name: str) -> Workflow:
        return self.workflows[name]
