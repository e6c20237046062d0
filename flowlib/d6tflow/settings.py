"""``d6tflow.settings`` on flowlib: the names d6tflow scripts set, each mapped onto ``flowlib.settings``.

Example:
    >>> import flowlib.d6tflow as d6tflow
    >>> d6tflow.settings.check_dependencies
    True
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import flowlib
from flowlib.errors import FlowlibError

__all__ = ["CompatSettings", "settings"]

logger = logging.getLogger(__name__)

_NOT_SUPPORTED = {
    "save_with_param": "flowlib always names outputs by their parameters",
    "check_crc": "flowlib fingerprints every output and `flowlib.verify` checks them",
    "cloud_fs_enabled": "point flowlib.set_dir at an fsspec URL instead, e.g. 's3://bucket/flows'",
    "cloud_fs_prefix": "point flowlib.set_dir at an fsspec URL instead, e.g. 's3://bucket/flows'",
    "isinitpipe": "d6tpipe is not part of flowlib",
}


class SettingsError(FlowlibError, AttributeError):
    """A d6tflow setting that flowlib does not have."""


class CompatSettings:
    """d6tflow's settings: ``dirpath`` / ``dir``, ``check_dependencies``, ``execution_summary``, ``log_level``.

    ``dirpath`` and ``dir`` are ``flowlib.settings.dir``; ``execution_summary`` is
    ``flowlib.settings.execution_summary`` once flowlib has that setting; ``log_level`` sets the level of
    flowlib's and luigi's loggers. Setting a name d6tflow had but flowlib does not raises an error that says why.
    """

    check_dependencies: bool
    _names = ("check_dependencies", "execution_summary", "log_level", "cached", "dirpath", "dir")

    def __init__(self) -> None:
        self.__dict__["check_dependencies"] = True
        self.__dict__["_execution_summary"] = True
        self.__dict__["_log_level"] = "WARNING"

    @property
    def dirpath(self) -> Path:
        """Where outputs live (``flowlib.settings.dir``), as a path."""
        return Path(flowlib.settings.dir)

    @dirpath.setter
    def dirpath(self, value: str | os.PathLike[str]) -> None:
        flowlib.settings.dir_override = os.fspath(value)

    @property
    def dir(self) -> str:
        return flowlib.settings.dir

    @dir.setter
    def dir(self, value: str | os.PathLike[str]) -> None:
        flowlib.settings.dir_override = os.fspath(value)

    @property
    def execution_summary(self) -> bool:
        """Whether ``run`` prints its summary (d6tflow's default: yes)."""
        if hasattr(flowlib.settings, "execution_summary"):
            return bool(flowlib.settings.execution_summary)
        return bool(self.__dict__["_execution_summary"])

    @execution_summary.setter
    def execution_summary(self, value: bool) -> None:
        if hasattr(flowlib.settings, "execution_summary"):
            flowlib.settings.execution_summary = bool(value)
        self.__dict__["_execution_summary"] = bool(value)

    @property
    def log_level(self) -> str:
        return str(self.__dict__["_log_level"])

    @log_level.setter
    def log_level(self, value: str) -> None:
        level = logging.getLevelName(str(value).upper())
        if not isinstance(level, int):
            raise FlowlibError(f"log_level {value!r} is not a logging level; use 'DEBUG', 'INFO', 'WARNING' or 'ERROR'")
        for name in ("flowlib", "luigi", "luigi-interface"):
            logging.getLogger(name).setLevel(level)
        self.__dict__["_log_level"] = str(value).upper()

    @property
    def cached(self) -> bool:
        """d6tflow's in-memory read cache; flowlib has none (``TaskCache`` outputs live in memory anyway)."""
        return False

    @cached.setter
    def cached(self, value: bool) -> None:
        if value:
            logger.warning("flowlib has no in-memory read cache: settings.cached = True changes nothing")

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _NOT_SUPPORTED:
            raise SettingsError(f"d6tflow.settings.{name} is not supported by flowlib: {_NOT_SUPPORTED[name]}")
        if name not in self._names:
            raise SettingsError(f"d6tflow.settings has no {name!r}; the settings are {sorted(self._names)}")
        object.__setattr__(self, name, value)

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._names if name != "dir")
        return f"d6tflow.settings({shown})"


settings = CompatSettings()
