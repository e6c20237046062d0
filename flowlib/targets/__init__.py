"""Targets: one module per format, all on the small :class:`Target` interface."""

from flowlib.targets.base import FileTarget, OutputInfo, Target, get_target_class, register_target
from flowlib.targets.csv import CSVTarget
from flowlib.targets.dask import DaskTarget
from flowlib.targets.dataset import DatasetTarget
from flowlib.targets.json import JSONTarget
from flowlib.targets.memory import MemoryTarget, clear_memory
from flowlib.targets.parquet import ParquetTarget
from flowlib.targets.pickle import PickleTarget

__all__ = [
    "Target",
    "FileTarget",
    "OutputInfo",
    "register_target",
    "get_target_class",
    "ParquetTarget",
    "CSVTarget",
    "JSONTarget",
    "PickleTarget",
    "DatasetTarget",
    "DaskTarget",
    "MemoryTarget",
    "clear_memory",
]
