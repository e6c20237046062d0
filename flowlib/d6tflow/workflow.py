"""d6tflow's ``Workflow`` and ``WorkflowMulti``: task classes built with shared parameters, run by ``d6tflow.run``.

A workflow's parameters go to every task class it builds (each takes the ones it has); ``path=`` and
``env=`` give the flow its own folder; ``attach_flow`` hands another flow to the tasks as ``self.flows``.

Example:
    >>> flow = Workflow(TaskTrain, params={"do_preprocess": False})  # doctest: +SKIP
    >>> flow.run(); flow.outputLoad(TaskPreprocess)  # doctest: +SKIP
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import luigi

import flowlib
from flowlib.d6tflow.api import run
from flowlib.d6tflow.settings import settings
from flowlib.d6tflow.tasks import CompatError, TaskData, load_outputs, upstream_tasks

__all__ = ["Workflow", "WorkflowMulti", "experiment_grid"]


def _classes(tasks: Any) -> list[Any]:
    return list(tasks) if isinstance(tasks, (list, tuple)) else [tasks]


def _d6tflow_path(task: Any, target: Any) -> Path | str:
    """A target's path as d6tflow gave it: under the folder the user named, pathlib for files, text for memory."""
    own = task.__dict__.get("path") or getattr(type(task), "path", None)
    root = Path(os.fspath(own)) if own is not None else settings.dirpath
    relative = Path(os.path.relpath(str(target.path), target.storage.root))
    shown = root / relative
    return shown if type(task).target_class.is_file else str(shown)


class Workflow:
    """d6tflow's ``Workflow(task=None, params=None, path=None, env=None)`` over flowlib.

    Example:
        >>> flow = Workflow(TaskTrain, params={"model": "ols"}, env="prod")  # doctest: +SKIP
        >>> flow.outputPath(TaskTrain)  # doctest: +SKIP
        PosixPath('data/env=prod/TaskTrain/TaskTrain_ols_....pkl')
    """

    def __init__(
        self,
        task: Any = None,
        params: Mapping[str, Any] | None = None,
        path: str | os.PathLike[str] | None = None,
        env: str | None = None,
    ) -> None:
        if isinstance(task, Mapping) and params is None:  # Workflow({"x": 1}): parameters given first
            task, params = None, task
        if env is not None:
            base = path if path is not None else getattr(task, "path", None) or settings.dirpath
            path = f"{os.fspath(base)}/env={env}"
        self.params: dict[str, Any] = dict(params or {})
        self.path = None if path is None else os.fspath(path)
        self.flows: dict[str, Any] = {}
        self.default_task = task

    # -- building tasks --------------------------------------------------------------------------
    def set_default(self, task: type) -> None:
        """The task class used when a method is called without one."""
        self.default_task = task

    def get_task(self, task: Any = None) -> Any:
        """The task of class ``task`` (default: the default task) with this flow's parameters."""
        if task is None:
            if self.default_task is None:
                raise CompatError("this workflow has no default task: pass one, e.g. flow.run(TaskTrain)")
            task = self.default_task
        names = set(task.get_param_names(include_significant=True))
        built = task(**{k: v for k, v in self.params.items() if k in names})
        self._attach(built)
        return built

    def _attach(self, task: luigi.Task) -> None:
        """Give every task of the flow this flow's ``path`` and ``flows`` (as d6tflow does)."""
        if self.path is None and not self.flows:
            return
        for member in upstream_tasks(task):
            if isinstance(member, TaskData):
                if self.path is not None:
                    member.path = self.path
                if self.flows:
                    member.flows = self.flows

    def attach_flow(self, flow: Any = None, flow_name: str = "flow") -> None:
        """Hand ``flow`` to this flow's tasks as ``self.flows[flow_name]``."""
        self.flows[flow_name] = flow

    # -- running -------------------------------------------------------------------------------------
    def run(self, tasks: Any = None, forced: Any = None, forced_all: bool = False, forced_all_upstream: bool = False,
            confirm: bool = False, workers: int = 1, abort: bool = True, execution_summary: bool | None = None,
            **options: Any) -> flowlib.RunResult:  # fmt: skip
        """``d6tflow.run`` on the tasks of these classes."""
        built = [self.get_task(cls) for cls in _classes(tasks)]
        return run(built, forced=forced, forced_all=forced_all, forced_all_upstream=forced_all_upstream,
                   confirm=confirm, workers=workers, abort=abort, execution_summary=execution_summary,
                   **options)  # fmt: skip

    def preview(self, tasks: Any = None, indent: str = "", last: bool = True, show_params: bool = True,
                clip_params: bool = False) -> flowlib.Preview:  # fmt: skip
        """``d6tflow.preview`` of the tasks of these classes."""
        return flowlib.preview([self.get_task(cls) for cls in _classes(tasks)])

    # -- outputs ------------------------------------------------------------------------------------------
    def complete(self, task: type | None = None) -> bool:
        return bool(self.get_task(task).complete())

    def output(self, task: type | None = None) -> Any:
        return self.get_task(task).output()

    def outputPath(self, task: type | None = None) -> Any:  # noqa: N802
        """The output path (a dict of them for several outputs), as d6tflow names it."""
        built = self.get_task(task)
        targets = flowlib.Task.output(built)
        paths = {key: _d6tflow_path(built, target) for key, target in targets.items()}
        return paths["data"] if list(built.persist) == ["data"] else paths

    def outputLoad(self, task: type | None = None, keys: Any = None, as_dict: bool = False,  # noqa: N802
                   cached: bool = False) -> Any:  # fmt: skip
        return load_outputs(self.get_task(task), keys, as_dict)

    def outputLoadAll(self, task: type | None = None, keys: Any = None, as_dict: bool = False,  # noqa: N802
                      cached: bool = False) -> dict[str, Any]:  # fmt: skip
        """``{task class name: outputs}`` for the task and everything upstream of it."""
        return {type(t).__name__: load_outputs(t, keys, as_dict) for t in upstream_tasks(self.get_task(task))}

    def outputLoadMeta(self, task: type | None = None) -> Any:  # noqa: N802
        return self.get_task(task).outputLoadMeta()

    def outputLoadAllMeta(self, task: type | None = None) -> dict[str, Any]:  # noqa: N802
        return dict(self.get_task(task).outputLoadAllMeta())

    # -- removing -------------------------------------------------------------------------------------------
    def reset(self, task: type | None = None, confirm: bool = False) -> bool:
        """Remove the task's outputs (no question asked by default, as in d6tflow's Workflow)."""
        return bool(self.get_task(task).reset(confirm=confirm))

    def reset_downstream(self, task: type, task_downstream: type | None = None, confirm: bool = False) -> bool:
        return flowlib.invalidate_downstream(self.get_task(task), self.get_task(task_downstream), confirm=confirm)

    def reset_upstream(self, task: type, confirm: bool = False) -> bool:
        return flowlib.invalidate_upstream(self.get_task(task), confirm=confirm)

    def __repr__(self) -> str:
        name = getattr(self.default_task, "__name__", None)
        return f"Workflow({name}, params={self.params!r})"


def experiment_grid(params: Mapping[str, list[Any]]) -> dict[str, dict[str, Any]]:
    """Every combination of the listed values, named as d6tflow names them: ``{"model_ols_scale_False": {...}}``.

    Example:
        >>> sorted(experiment_grid({"model": ["ols", "svm"], "scale": [True]}))
        ['model_ols_scale_True', 'model_svm_scale_True']
    """
    names = sorted(params)
    grid: dict[str, dict[str, Any]] = {}
    for values in itertools.product(*(params[name] for name in names)):
        label = "_".join(f"{name}_{value}" for name, value in zip(names, values))
        grid[label] = dict(zip(names, values))
    return grid


class WorkflowMulti:
    """d6tflow's ``WorkflowMulti(task=None, params={name: {...}}, path=None, env=None)``: one Workflow per experiment.

    ``params`` is a dict of experiments, a list (named 0, 1, ...), or a dict of lists (every combination).
    Methods take ``flow=`` to pick one experiment; without it they return ``{experiment: result}``.
    """

    def __init__(
        self,
        task: Any = None,
        params: Mapping[Any, Any] | list[Mapping[str, Any]] | None = None,
        path: str | os.PathLike[str] | None = None,
        env: str | None = None,
    ) -> None:
        if isinstance(params, list):
            experiments: dict[Any, Any] = dict(enumerate(params))
        elif isinstance(params, Mapping):
            values = list(params.values())
            experiments = experiment_grid(params) if values and isinstance(values[0], list) else dict(params)
        elif params is None:
            experiments = {}
        else:
            raise CompatError("WorkflowMulti params are a dict {experiment name: {parameters}} or a list of dicts")
        if not experiments:
            raise CompatError("WorkflowMulti needs experiments: params={'name': {...}}; for one flow use Workflow")
        self.params = experiments
        self.default_task = task
        self.workflow_objs = {name: Workflow(task, p, path=path, env=env) for name, p in experiments.items()}

    def _each(self, flow: Any, call: Any) -> Any:
        if flow is not None:
            return call(self.get_flow(flow))
        return {name: call(workflow) for name, workflow in self.workflow_objs.items()}

    def get_flow(self, flow: Any) -> Workflow:
        """The Workflow of one experiment."""
        try:
            return self.workflow_objs[flow]
        except KeyError:
            raise CompatError(f"no experiment {flow!r}; the experiments are {list(self.workflow_objs)}") from None

    def set_default(self, task: type) -> None:
        self.default_task = task
        for workflow in self.workflow_objs.values():
            workflow.set_default(task)

    def get_task(self, task: type | None = None, flow: Any = None) -> Any:
        return self._each(flow, lambda w: w.get_task(task))

    def run(self, tasks: Any = None, flow: Any = None, forced: Any = None, forced_all: bool = False,
            forced_all_upstream: bool = False, confirm: bool = False, workers: int = 1, abort: bool = True,
            execution_summary: bool | None = None, **options: Any) -> Any:  # fmt: skip
        return self._each(flow, lambda w: w.run(tasks, forced, forced_all, forced_all_upstream, confirm, workers,
                                                abort, execution_summary, **options))  # fmt: skip

    def preview(self, tasks: Any = None, flow: Any = None, indent: str = "", last: bool = True,
                show_params: bool = True, clip_params: bool = False) -> Any:  # fmt: skip
        return self._each(flow, lambda w: w.preview(tasks))

    def outputLoad(self, task: type | None = None, flow: Any = None, keys: Any = None, as_dict: bool = False,  # noqa: N802
                   cached: bool = False) -> Any:  # fmt: skip
        return self._each(flow, lambda w: w.outputLoad(task, keys, as_dict))

    def outputLoadAll(self, task: type | None = None, flow: Any = None, keys: Any = None,  # noqa: N802
                      as_dict: bool = False, cached: bool = False) -> Any:  # fmt: skip
        return self._each(flow, lambda w: w.outputLoadAll(task, keys, as_dict))

    def outputPath(self, task: type | None = None, flow: Any = None) -> Any:  # noqa: N802
        return self._each(flow, lambda w: w.outputPath(task))

    def outputLoadMeta(self, task: type | None = None, flow: Any = None) -> Any:  # noqa: N802
        return self._each(flow, lambda w: w.outputLoadMeta(task))

    def complete(self, task: type | None = None, flow: Any = None) -> Any:
        return self._each(flow, lambda w: w.complete(task))

    def reset(self, task: type | None = None, flow: Any = None, confirm: bool = False) -> Any:
        return self._each(flow, lambda w: w.reset(task, confirm))

    def reset_downstream(self, task: type | None = None, flow: Any = None, confirm: bool = False) -> Any:
        return self._each(flow, lambda w: w.reset_downstream(task, confirm=confirm))

    def reset_upstream(self, task: type | None = None, flow: Any = None, confirm: bool = False) -> Any:
        return self._each(flow, lambda w: w.reset_upstream(task, confirm))

    def __repr__(self) -> str:
        return f"WorkflowMulti({getattr(self.default_task, '__name__', None)}, experiments={list(self.params)})"
