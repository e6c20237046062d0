"""Workflows: a task class with default parameters, or several parameter sets side by side.

Example:
    >>> flow = flowlib.Workflow(Train, params={"scale": 2.0})  # doctest: +SKIP
    >>> flow.run()  # doctest: +SKIP
    >>> flow.output_load(Preprocess)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import luigi

from flowlib.errors import FlowlibError, ParameterError, UnknownExperimentError
from flowlib.plan import build_plan
from flowlib.preview import Preview, preview
from flowlib.result import RunResult
from flowlib.runner import run
from flowlib.task import Keys

__all__ = ["Workflow", "WorkflowMulti"]


def _instantiate(task_class: type, params: Mapping[str, Any]) -> luigi.Task:
    if not (isinstance(task_class, type) and issubclass(task_class, luigi.Task)):
        raise FlowlibError(f"a workflow takes a task class, got {task_class!r}")
    names = [name for name, _ in task_class.get_params()]
    unknown = sorted(set(params) - set(names))
    if unknown:
        raise ParameterError(
            f"{task_class.__name__} has no parameter {unknown[0]!r} (given {params[unknown[0]]!r}); "
            f"its parameters: {', '.join(names) or 'none'}",
            task=task_class.__name__,
            parameter=unknown[0],
            value=params[unknown[0]],
            accepted=f"the parameters {', '.join(names) or 'none'}",
        )
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
        """The tree of this flow as ``flowlib.preview`` shows and returns it (a ``str``)."""
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

    ``flows["small"]`` is one experiment's :class:`Workflow`; ``flow=`` picks one experiment (or
    several) in ``run``, ``preview``, ``get_task`` and ``output_load``. An unknown name is an
    :class:`~flowlib.errors.UnknownExperimentError` listing the experiments.

    Example:
        >>> flows = WorkflowMulti(Train, {"small": {"scale": 1.0}, "big": {"scale": 3.0}})  # doctest: +SKIP
        >>> flows.run(); flows.output_load(Train)  # doctest: +SKIP
        >>> flows.output_load(Train, flow="big")  # doctest: +SKIP
    """

    def __init__(self, task_class: type, experiments: Mapping[str, Mapping[str, Any]]) -> None:
        if not experiments:
            raise FlowlibError("WorkflowMulti needs at least one experiment: {'name': {parameters}}")
        self.task_class = task_class
        self.workflows = {name: Workflow(task_class, params) for name, params in experiments.items()}

    def _chosen(self, flow: str | Sequence[str] | None) -> dict[str, Workflow]:
        """The workflows named by ``flow`` (all by default), in the order given."""
        if flow is None:
            return dict(self.workflows)
        names = [flow] if isinstance(flow, str) else list(flow)
        return {name: self[name] for name in names}

    def run(self, *, flow: str | Sequence[str] | None = None, **options: Any) -> RunResult:
        """Run every experiment (or those named by ``flow``) in one plan; tasks they share run once."""
        return run([wf.task for wf in self._chosen(flow).values()], **options)

    def preview(self, *, flow: str | Sequence[str] | None = None, **options: Any) -> Preview:
        """The tree of every experiment (or of those named by ``flow``), as ``flowlib.preview`` shows it."""
        return preview([wf.task for wf in self._chosen(flow).values()], **options)

    def get_task(self, task_class: type | None = None, *, flow: str) -> Any:
        """The task of ``task_class`` in the experiment ``flow``."""
        return self[flow].get_task(task_class)

    def output_load(
        self,
        task_class: type | None = None,
        keys: Keys = None,
        *,
        as_dict: bool = False,
        flow: str | None = None,
    ) -> Any:
        """``{experiment name: output}``; with ``flow="name"``, that experiment's output alone."""
        if flow is not None:
            return self[flow].output_load(task_class, keys, as_dict=as_dict)
        return {name: wf.output_load(task_class, keys, as_dict=as_dict) for name, wf in self.workflows.items()}

    def __getitem__(self, name: str) -> Workflow:
        try:
            return self.workflows[name]
        except (KeyError, TypeError):
            raise UnknownExperimentError(
                f"no experiment {name!r} in this WorkflowMulti of {self.task_class.__name__}; "
                f"its experiments: {list(self.workflows)}"
            ) from None

    def __repr__(self) -> str:
        return f"WorkflowMulti({self.task_class.__name__}, experiments={list(self.workflows)})"
