"""Outputs as d6tflow shows them: flowlib's targets with ``.path`` answering pathlib's methods and ``invalidate()``.

A task with the one output ``data`` returns a :class:`SingleOutput` from ``output()``: the target's
methods on the object itself (``task.output().load()``), as in d6tflow, while it stays the
``{"data": target}`` dict flowlib reads.

Example:
    >>> import flowlib.d6tflow as d6tflow
    >>> class Numbers(d6tflow.tasks.TaskPickle):
    ...     def run(self):
    ...         self.save([1, 2])
    >>> Numbers().output().path.name
    'Numbers__99914b932b-data.pkl'
"""

from __future__ import annotations

import importlib
import pathlib
from typing import IO, Any, Literal

import pandas as pd

from flowlib.errors import FlowlibError, TargetFormatError
from flowlib.storage import Storage
from flowlib.targets import CSVTarget, FileTarget, JSONTarget, MemoryTarget, OutputInfo, ParquetTarget, PickleTarget
from flowlib.targets.parquet import require_dataframe

__all__ = [
    "OutputPath",
    "SingleOutput",
    "ParquetOutput",
    "CSVOutput",
    "JSONOutput",
    "PickleOutput",
    "CacheOutput",
    "ExcelOutput",
    "excel_engine",
]


class OutputPath(str):
    """An output's path: flowlib's absolute path as a ``str``, with pathlib's methods (``.stat()``, ``.parent``...).

    Example:
        >>> OutputPath("/tmp/Train/Train__99914b932b-data.pkl").suffix
        '.pkl'
    """

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(pathlib.Path(str(self)), name)

    def __truediv__(self, other: str) -> pathlib.Path:
        return pathlib.Path(str(self)) / other


class _Compat:
    """What d6tflow's targets add to flowlib's: ``invalidate()``, and ``load``/``save`` taking ``cached``."""

    path: str

    def __init__(self, path: str, storage: Storage) -> None:
        super().__init__(OutputPath(path), storage)  # type: ignore[call-arg]

    def invalidate(self) -> bool:
        """Remove this output (as d6tflow's ``target.invalidate()``); ``True`` when it is gone."""
        self.remove()  # type: ignore[attr-defined]
        return not self.exists()  # type: ignore[attr-defined]

    def load(self, cached: bool = False, **options: Any) -> Any:
        """Load the output; ``cached`` is accepted and ignored (flowlib keeps no read cache)."""
        if options:
            raise FlowlibError(
                f"flowlib loads outputs without reader options (got {sorted(options)}); "
                "load the file yourself from target.path, or change how the task saves it"
            )
        return super().load()  # type: ignore[misc]

    def save(self, obj: Any, **options: Any) -> OutputInfo:
        """Write the output atomically; returns flowlib's :class:`OutputInfo` (its ``path`` is the file)."""
        if options:
            raise FlowlibError(
                f"flowlib saves outputs in its own encoding, without writer options (got {sorted(options)})"
            )
        return super().save(obj)  # type: ignore[misc, no-any-return]


class ParquetOutput(_Compat, ParquetTarget):
    """``TaskPqPandas``'s output: a DataFrame as Parquet."""


class CSVOutput(_Compat, CSVTarget):
    """``TaskCSVPandas``'s output: a DataFrame as CSV."""


class JSONOutput(_Compat, JSONTarget):
    """``TaskJson``'s output: a dict or list as JSON."""


class PickleOutput(_Compat, PickleTarget):
    """``TaskPickle``'s output: any object, pickled."""


class CacheOutput(_Compat, MemoryTarget):
    """``TaskCache``'s output: an object kept in this process's memory."""

    suffix = ".cache"


def _importable(name: str) -> bool:
    try:
        importlib.import_module(name)
    except ImportError:
        return False
    return True


def excel_engine() -> Literal["openpyxl", "xlsxwriter"]:
    """The installed Excel writer pandas can use (``openpyxl`` or ``xlsxwriter``), else a clear error."""
    if _importable("openpyxl"):
        return "openpyxl"
    if _importable("xlsxwriter"):
        return "xlsxwriter"
    raise TargetFormatError(
        "TaskExcelPandas needs an Excel writer: install openpyxl (pip install openpyxl), "
        "or use TaskPqPandas / TaskCSVPandas"
    )


class ExcelOutput(_Compat, FileTarget):
    """``TaskExcelPandas``'s output: a DataFrame as an ``.xlsx`` workbook (needs openpyxl)."""

    name = "excel"
    suffix = ".xlsx"

    def check(self, obj: Any) -> None:
        require_dataframe(obj, "Excel")
        excel_engine()

    def _write(self, obj: pd.DataFrame, path: str) -> None:
        with open(path, "wb") as handle:  # a file object: pandas would reject the temporary name's suffix
            obj.to_excel(handle, index=False, engine=excel_engine())

    def _read(self, source: str | IO[bytes]) -> Any:
        if not _importable("openpyxl"):
            raise TargetFormatError("reading .xlsx files needs openpyxl: pip install openpyxl")
        return pd.read_excel(source, engine="openpyxl")


class SingleOutput(dict):  # type: ignore[type-arg]
    """``output()`` of a task whose only output is ``data``: ``{"data": target}`` that also acts as the target.

    Example:
        >>> task.output().load()  # doctest: +SKIP
        >>> task.output().path.stat().st_mtime  # doctest: +SKIP
    """

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            target = dict.__getitem__(self, "data")
        except KeyError:
            raise AttributeError(name) from None
        return getattr(target, name)

    def __repr__(self) -> str:
        return f"SingleOutput({dict.get(self, 'data')!r})"
