"""flowlib: parameterized tasks that persist their outputs, run only what changed, and show why.

Example:
    >>> import flowlib
    >>> flowlib.Task.__mro__[1].__module__
    'luigi.task'
"""

from __future__ import annotations

import logging as _logging

from flowlib.bundle import BundleError, BundleManifest, export, import_bundle
from flowlib.cleanup import CleanReport, clean, orphans
from flowlib.dependencies import inherits, requires
from flowlib.errors import (
    CorruptOutputError,
    DependencyCycleError,
    FlowlibError,
    LockTimeoutError,
    ParameterError,
    PersistKeyError,
    RemoteTaskError,
    StorageError,
    TargetFormatError,
    TaskDefinitionError,
    TaskFailedError,
    TaskIncompleteError,
    UnknownExperimentError,
)
from flowlib.invalidate import invalidate_downstream, invalidate_upstream
from flowlib.lineage import lineage
from flowlib.params import *  # noqa: F403 - luigi's parameter types
from flowlib.params import __all__ as _param_names
from flowlib.pictures import FlowGraph, graph
from flowlib.plan import Plan, Status, build_plan
from flowlib.preview import Preview, preview
from flowlib.result import Outcome, RunResult, TaskOutcome
from flowlib.runner import run
from flowlib.settings import Settings, set_dir, settings
from flowlib.task import Task, TaskCSV, TaskDask, TaskDataset, TaskJSON, TaskMemory, TaskParquet, TaskPickle
from flowlib.verify import BadOutput, Problem, VerifyReport, verify
from flowlib.version import __version__
from flowlib.workflow import Workflow, WorkflowMulti

_logging.getLogger(__name__).addHandler(_logging.NullHandler())

#: Feature names imported on first use: ``import flowlib`` imports no feature package (nor DuckDB, SQLAlchemy).
_LAZY = {"Source": "flowlib.sources.task", "Publish": "flowlib.sources.task", "DataFlowTask": "flowlib.dataflow.task"}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'flowlib' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "__version__",
    # tasks
    "Task",
    "TaskParquet",
    "TaskCSV",
    "TaskJSON",
    "TaskPickle",
    "TaskMemory",
    "TaskDataset",
    "TaskDask",
    "DataFlowTask",  # noqa: F405 - imported on first use (see _LAZY)
    "Source",  # noqa: F405 - imported on first use
    "Publish",  # noqa: F405 - imported on first use
    "requires",
    "inherits",
    # running
    "run",
    "preview",
    "build_plan",
    "graph",
    "FlowGraph",
    "invalidate_upstream",
    "invalidate_downstream",
    "Workflow",
    "WorkflowMulti",
    # change detection and housekeeping
    "lineage",
    "orphans",
    "clean",
    "CleanReport",
    "verify",
    "VerifyReport",
    "BadOutput",
    "Problem",
    # sharing results
    "export",
    "import_bundle",
    "BundleManifest",
    # results
    "RunResult",
    "TaskOutcome",
    "Outcome",
    "Preview",
    "Plan",
    "Status",
    # settings
    "settings",
    "Settings",
    "set_dir",
    # errors
    "FlowlibError",
    "TaskDefinitionError",
    "ParameterError",
    "PersistKeyError",
    "TargetFormatError",
    "TaskIncompleteError",
    "DependencyCycleError",
    "TaskFailedError",
    "CorruptOutputError",
    "StorageError",
    "LockTimeoutError",
    "RemoteTaskError",
    "UnknownExperimentError",
    "BundleError",
    *_param_names,
]
