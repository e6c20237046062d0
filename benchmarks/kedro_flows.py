"""The benchmark DAG shapes as Kedro pipelines: one node per task, each output a Parquet dataset.

Kedro is a peer users pick instead of luigi. Each shape has the same nodes and edges as the
flowlib and luigi flows of :mod:`benchmarks.flows`; every node's output is a
``kedro_datasets.pandas.ParquetDataset`` in a ``DataCatalog`` (Kedro's default codec, snappy),
and the pipeline runs with ``SequentialRunner``. Kedro passes each node its inputs, so it loads
every upstream output it requires (the flowlib and luigi tasks do not read theirs). Optional:
install the ``bench`` extra.

Example:
    >>> len(pipeline_nodes("diamond", 100))  # doctest: +SKIP
    100
"""

from __future__ import annotations

import functools
import os
from typing import Any

from benchmarks.flows import DIAMOND_LAYERS, tiny_frame

__all__ = ["kedro_available", "quiet_kedro", "pipeline_nodes", "run_kedro"]

#: Kedro's telemetry stays off in every benchmark process.
TELEMETRY_OFF = {"KEDRO_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "1"}


def quiet_kedro() -> None:
    """Telemetry off (before Kedro is imported), then Kedro's logging down to warnings.

    Kedro sets up its own logging when imported, so the levels are lowered afterwards.
    """
    os.environ.update(TELEMETRY_OFF)
    import logging

    import kedro.framework.project  # noqa: F401 - configures Kedro's logging

    for name in ("kedro", "kedro.io", "kedro.runner", "kedro.pipeline"):
        logging.getLogger(name).setLevel(logging.WARNING)


def kedro_available() -> str | None:
    """``None`` when Kedro and its Parquet dataset can be imported, else the reason they cannot."""
    os.environ.update(TELEMETRY_OFF)
    try:
        import kedro.runner  # noqa: F401
        from kedro_datasets.pandas import ParquetDataset  # noqa: F401
    except Exception as exc:  # noqa: BLE001 - any import failure is the reason to report
        return f"{type(exc).__name__}: {exc}"
    return None


def _make(value: int, *_inputs: Any) -> Any:
    """A node's function: ignores the inputs Kedro loaded for it, returns the tiny frame."""
    return tiny_frame(value)


def _spec(shape: str, n: int) -> list[tuple[str, list[str], int]]:
    """``(output name, input names, value)`` per node of the ``shape`` flow of ``n`` tasks."""
    if shape == "chain":
        return [(f"chain_{i}", [f"chain_{i - 1}"] if i > 0 else [], i) for i in range(n)]
    if shape == "fanin":
        leaves = [(f"leaf_{i}", [], i) for i in range(n - 1)]
        return [*leaves, ("fan_root", [name for name, _, _ in leaves], n)]
    if shape == "diamond":
        width = n // DIAMOND_LAYERS
        spec = []
        for layer in range(DIAMOND_LAYERS):
            for idx in range(width):
                below = [] if layer == 0 else [f"d_{layer - 1}_{idx}", f"d_{layer - 1}_{(idx + 1) % width}"]
                spec.append((f"d_{layer}_{idx}", below, idx))
        return spec
    raise ValueError(f"unknown shape {shape!r}")


def _named(function: functools.partial[Any]) -> Any:
    """A partial with ``_make``'s name (Kedro warns, per node, about functions without one)."""
    return functools.update_wrapper(function, _make)


def pipeline_nodes(shape: str, n: int) -> list[Any]:
    """The Kedro nodes of the ``shape`` flow of ``n`` tasks."""
    from kedro.pipeline import node

    return [
        node(_named(functools.partial(_make, value)), inputs=inputs or None, outputs=name, name=f"make_{name}")
        for name, inputs, value in _spec(shape, n)
    ]


def run_kedro(shape: str, n: int, directory: str) -> int:
    """Build the catalog and pipeline and run them with ``SequentialRunner``; how many nodes ran."""
    quiet_kedro()
    from kedro.io import DataCatalog
    from kedro.pipeline import Pipeline
    from kedro.runner import SequentialRunner
    from kedro_datasets.pandas import ParquetDataset

    spec = _spec(shape, n)
    catalog = DataCatalog({name: ParquetDataset(filepath=f"{directory}/{name}.parquet") for name, _, _ in spec})
    pipeline = Pipeline(pipeline_nodes(shape, n))
    SequentialRunner().run(pipeline, catalog)
    return len(pipeline.nodes)
