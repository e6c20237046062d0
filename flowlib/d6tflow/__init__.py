"""d6tflow's API on flowlib's engine: ``import flowlib.d6tflow as d6tflow`` and a d6tflow script runs on flowlib.

Every name maps onto flowlib's own API: ``d6tflow.run`` is :func:`flowlib.run`, ``tasks.TaskPqPandas``
a :class:`flowlib.TaskParquet` with d6tflow's method names, ``Workflow`` builds tasks and calls these
functions. ``docs/migrating-from-d6tflow.md`` has the table of names and their flowlib equivalents.

What differs from d6tflow 0.2.8:

- A task reruns when its code or the data it consumed changed (d6tflow reruns only missing outputs);
  with ``flowlib.settings.rerun_stale_override = False`` only missing outputs run, as in d6tflow.
- Outputs live at flowlib's paths, ``<dir>/<TaskFamily>/<task_id>-<key>.<ext>``, each beside a record
  ``<task_id>.record.json``; the ``task_id`` keeps luigi's default length (d6tflow puts up to 20 parameter
  values in it). ``target.path`` is the absolute path, a ``str`` with pathlib's methods; ``target_dir``,
  ``target_ext``, ``save_attrib`` and ``task_group`` do not change where flowlib writes. :func:`adopt`
  takes existing d6tflow outputs over.
- ``preview`` prints flowlib's tree (statuses, reasons and a count line), not d6tflow's text.
- Metadata (``saveMeta``) lives in the task's record, not in a ``-meta.pickle`` file; values JSON cannot
  hold are pickled into it. ``task.metadata()`` is flowlib's method returning the record.
- ``run(confirm=True)`` shows flowlib's plan and asks once before running anything.
- A failing task raises :class:`RunFailedError` (a ``flowlib.TaskFailedError`` and a ``RuntimeError``) with the
  original traceback; its partial outputs are removed.
- A ``run()`` that saves nothing ends without outputs and logs a warning (the task stays incomplete), as luigi
  lets it; one that saves some outputs but not all fails, as in flowlib.
- ``settings.check_dependencies = False`` skips the tasks given to ``run`` whose own outputs exist;
  their upstream tasks still follow flowlib's plan.
- Not provided: d6tpipe (``FlowExport``, ``FlowImport``, ``pipes``, ``push``/``pull``), the in-memory read
  cache (``settings.cached``, ``d6tflow.data``, ``load(cached=True)`` loads normally), HDF5 and the other
  optional formats, ``d6tflow.functional``, and private helpers such as ``_get_meta_path``.

Example:
    >>> import flowlib.d6tflow as d6tflow
    >>> d6tflow.run is not None and d6tflow.tasks.TaskPqPandas.__mro__[2].__name__
    'TaskParquet'
"""

from __future__ import annotations

from typing import Any

from flowlib.d6tflow import tasks
from flowlib.d6tflow.adopt import AdoptReport, AdoptStatus, adopt, build_record, d6tflow_paths, d6tflow_task_id
from flowlib.d6tflow.api import (
    RunFailedError,
    inherits,
    invalidate_downstream,
    invalidate_upstream,
    preview,
    requires,
    run,
    set_dir,
    show,
    taskflow_downstream,
    taskflow_upstream,
)
from flowlib.d6tflow.settings import settings
from flowlib.d6tflow.tasks import CompatError
from flowlib.d6tflow.workflow import Workflow, WorkflowMulti
from flowlib.errors import FlowlibError
from flowlib.params import *  # noqa: F403 - luigi's parameter types, as d6tflow exports them
from flowlib.params import __all__ as _param_names

__all__ = [
    "tasks",
    "settings",
    "set_dir",
    "run",
    "preview",
    "show",
    "invalidate_upstream",
    "invalidate_downstream",
    "taskflow_upstream",
    "taskflow_downstream",
    "requires",
    "inherits",
    "Workflow",
    "WorkflowMulti",
    "adopt",
    "AdoptReport",
    "AdoptStatus",
    "build_record",
    "d6tflow_paths",
    "d6tflow_task_id",
    "CompatError",
    "RunFailedError",
    "NotProvidedError",
    *_param_names,
]

_NOT_PROVIDED = {
    "FlowExport": "d6tpipe exports are not part of flowlib",
    "FlowImport": "d6tpipe imports are not part of flowlib; import the module that defines the tasks",
    "pipes": "d6tpipe is not part of flowlib",
    "functional": "d6tflow.functional is not part of flowlib; write task classes",
    "data": "flowlib has no in-memory read cache; TaskCache outputs are in memory already",
    "cache": "flowlib has no in-memory read cache; TaskCache outputs are in memory already",
    "targets": "use the targets of task.output(), or flowlib.targets",
    "enable_cloud_storage": "point flowlib.set_dir at an fsspec URL, e.g. flowlib.set_dir('gs://bucket/flows')",
    "enable_gcs": "point flowlib.set_dir at an fsspec URL, e.g. flowlib.set_dir('gs://bucket/flows')",
    "invalidate_all": "use flowlib.clean() to remove outputs no flow uses",
    "invalidate_orphans": "use flowlib.clean() to remove outputs no flow uses",
    "clone_parent": "use @d6tflow.requires(...)",
}


class NotProvidedError(FlowlibError, AttributeError):
    """A d6tflow name that flowlib.d6tflow does not provide; the message says what to use instead."""


def __getattr__(name: str) -> Any:
    if name in _NOT_PROVIDED:
        raise NotProvidedError(f"flowlib.d6tflow has no {name}: {_NOT_PROVIDED[name]}")
    raise AttributeError(f"module 'flowlib.d6tflow' has no attribute {name!r}")


tasks_module = tasks  # the tasks module under a name that run()'s argument `tasks` does not hide, as before
