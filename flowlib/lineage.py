"""Lineage: the records of a flow as one table, one row per task.

``lineage(tasks)`` walks the flow of ``tasks`` (each task and everything upstream)
and returns a :class:`pandas.DataFrame` with, per task, what its record says
produced its outputs: parameters, code fingerprint, outputs, the upstream
fingerprints it consumed, timings, versions and the metrics saved with
``self.save_metadata``. It answers "which data and code produced this model?"
and compares the metrics of several parameter sets in one call.

Columns, in this order:

- ``task``, ``family``, ``task_id``, ``status``, ``reason``: the task and its status in the plan now
  (as ``flowlib.preview`` shows it);
- ``upstream``: the ``task_id`` of each task it requires;
- ``params``: its significant parameters (a dict), also one column each as ``params.<name>``;
- from its record (missing values when it has none): ``code`` (the code fingerprint it ran with),
  ``outputs`` (the record's output entries), ``paths`` and ``fingerprints`` (``{output name: ...}``),
  ``rows`` (rows of its DataFrame outputs, summed), ``bytes`` (summed), ``inputs``
  (``{upstream task_id: {output name: fingerprint}}`` as consumed), ``started`` (UTC),
  ``duration`` (seconds) and ``versions``;
- ``metadata.<key>``: each key of the user metadata; nested dicts give ``metadata.<key>.<subkey>``.
  The prefix keeps a metric named like a column above (``duration``, ``status``) apart.

Example:
    >>> table = flowlib.lineage([Train(lr=0.1), Train(lr=0.5)])  # doctest: +SKIP
    >>> table[table.family == "Train"][["params.lr", "metadata.accuracy"]]  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import luigi
import pandas as pd
from luigi.parameter import ParameterVisibility

from flowlib.plan import Node, as_task_list, build_plan
from flowlib.record import Record, read_record
from flowlib.task import Task

__all__ = ["lineage", "LINEAGE_COLUMNS"]

#: The fixed columns of a lineage table; ``params.<name>`` and ``metadata.<key>`` columns follow them.
LINEAGE_COLUMNS = (
    "task",
    "family",
    "task_id",
    "status",
    "reason",
    "upstream",
    "params",
    "code",
    "outputs",
    "paths",
    "fingerprints",
    "rows",
    "bytes",
    "inputs",
    "started",
    "duration",
    "versions",
)


def lineage(tasks: luigi.Task | Iterable[luigi.Task]) -> pd.DataFrame:
    """The records of ``tasks`` and everything upstream of them: one row per task, dependencies first.

    A task that appears in several flows is one row. A task without a record (never run,
    interrupted, or a plain luigi task) has its status and parameters, and missing values elsewhere.
    """
    plan = build_plan(as_task_list(tasks, "flowlib.lineage()"))
    rows = [_row(node) for node in plan.nodes]
    param_columns = sorted({key for row in rows for key in row if key.startswith("params.")})
    metadata_columns = list(dict.fromkeys(key for row in rows for key in row if key.startswith("metadata.")))
    table = pd.DataFrame(rows, columns=[*LINEAGE_COLUMNS, *param_columns, *metadata_columns])
    table["rows"] = table["rows"].astype("Int64")
    table["bytes"] = table["bytes"].astype("Int64")
    table["duration"] = table["duration"].astype("float64")
    table["started"] = pd.to_datetime(table["started"], format="%Y-%m-%dT%H:%M:%S%z", utc=True, errors="coerce")
    return table


def _params(task: luigi.Task) -> dict[str, Any]:
    """Significant public parameters with their values (not their string forms)."""
    return {
        name: task.param_kwargs[name]
        for name, param in task.get_params()
        if param.significant and param.visibility == ParameterVisibility.PUBLIC
    }


def _row(node: Node) -> dict[str, Any]:
    task = node.task
    params = _params(task)
    row: dict[str, Any] = {
        "task": str(task),
        "family": node.family,
        "task_id": node.task_id,
        "status": node.status.value,
        "reason": node.reason,
        "upstream": [dep.task_id for dep in node.deps],
        "params": params,
    }
    row.update({f"params.{name}": value for name, value in params.items()})
    record = node.record if node.record is not None else (read_record(task) if isinstance(task, Task) else None)
    if record is not None:
        row.update(_from_record(record))
    return row


def _from_record(record: Record) -> dict[str, Any]:
    outputs = record.outputs
    counted = [info.rows for info in outputs.values() if isinstance(info.rows, int)]
    fields: dict[str, Any] = {
        "code": record.code,
        "outputs": {key: info.to_dict() for key, info in outputs.items()},
        "paths": {key: info.path for key, info in outputs.items()},
        "fingerprints": record.output_fingerprints(),
        "rows": sum(counted) if counted else None,
        "bytes": sum(info.bytes for info in outputs.values()),
        "inputs": dict(record.inputs),
        "started": record.started,
        "duration": record.duration,
        "versions": dict(record.versions),
    }
    fields.update(_flatten(record.metadata, "metadata."))
    return fields


def _flatten(values: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"<prefix>a.b": 1}``; other values stay as they are."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, Mapping) and value:
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat
