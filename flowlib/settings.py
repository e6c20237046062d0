"""One settings object: where outputs live, how runs behave.

Each value resolves in this order: what was set in code (``flowlib.set_dir``,
``flowlib.settings.x = ...``), then an environment variable, then the ``[flowlib]``
section of luigi's config file, then the default.

Example:
    >>> import flowlib
    >>> flowlib.set_dir("/tmp/flowlib-doc")
    >>> flowlib.settings.dir
    '/tmp/flowlib-doc'
    >>> flowlib.set_dir(None)
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import luigi.configuration

__all__ = ["Settings", "settings", "set_dir"]

_UNSET: Any = None


def _config_value(option: str) -> str | None:
    value = luigi.configuration.get_config().get("flowlib", option, None)
    return None if value in (None, "") else str(value)


def _as_bool(text: str) -> bool:
    return text.strip().lower() in {"1", "true", "yes", "on"}


@dataclass
class Settings:
    """flowlib's settings. Leave a field as ``None`` to use env / luigi config / default."""

    dir_override: str | None = None
    storage_options: dict[str, Any] = field(default_factory=dict)
    scheduler_override: str | None = None
    rerun_stale_override: bool | None = None
    execution_summary_override: bool | None = None
    parquet_compression: str = "zstd"
    #: Fingerprint each saved file by its content (XXH3-128, or SHA-256 without xxhash). ``False`` saves the hashing
    #: (well under 1 s per GB) at the price of early cutoff and of ``verify`` noticing same-size modifications.
    fingerprint_outputs: bool = True
    #: fsync each file before it is renamed into place: outputs then survive a power loss, writes get slower.
    fsync: bool = False
    #: Where records of local outputs go: ``"log"`` (one line per record, appended to a log per task family) or
    #: ``"files"`` (one JSON file per task; for folders shared over NFS, where appends are not atomic).
    #: Object stores always keep a file per task. Env ``FLOWLIB_RECORD_STORE``; every process sharing a root
    #: must use the same.
    record_store: str = field(default_factory=lambda: os.environ.get("FLOWLIB_RECORD_STORE") or "log")
    dask_scheduler_override: str | None = None
    #: Seconds to wait for the dask scheduler when connecting.
    dask_timeout: float = 30.0
    lock_timeout: float = 24 * 3600.0
    lock_poll_interval: float = 0.05

    @property
    def dir(self) -> str:
        """The root under which outputs live (a local path or an fsspec URL)."""
        if self.dir_override is not None:
            return self.dir_override
        return os.environ.get("FLOWLIB_DIR") or _config_value("dir") or "data"

    @property
    def scheduler(self) -> str | None:
        """URL of a luigid central scheduler, or ``None`` for flowlib's local executor."""
        if self.scheduler_override is not None:
            return self.scheduler_override or None
        return os.environ.get("FLOWLIB_SCHEDULER") or _config_value("scheduler")

    @property
    def dask_scheduler(self) -> str | None:
        """Address of a ``dask.distributed`` scheduler that ``TaskDask`` tasks compute on (``"tcp://host:port"``),
        or ``None`` for dask's local threads (env ``FLOWLIB_DASK_SCHEDULER``, ``[flowlib] dask_scheduler``)."""
        if self.dask_scheduler_override is not None:
            return self.dask_scheduler_override or None
        return os.environ.get("FLOWLIB_DASK_SCHEDULER") or _config_value("dask_scheduler")

    @property
    def rerun_stale(self) -> bool:
        """Whether runs rerun STALE tasks (code or upstream data changed)."""
        if self.rerun_stale_override is not None:
            return self.rerun_stale_override
        text = os.environ.get("FLOWLIB_RERUN_STALE") or _config_value("rerun_stale")
        return True if text is None else _as_bool(text)

    @property
    def execution_summary(self) -> bool:
        """Whether ``flowlib.run`` shows what it did and why (env ``FLOWLIB_EXECUTION_SUMMARY``,
        luigi config ``[flowlib] execution_summary``; default ``True``)."""
        if self.execution_summary_override is not None:
            return self.execution_summary_override
        text = os.environ.get("FLOWLIB_EXECUTION_SUMMARY") or _config_value("execution_summary")
        return True if text is None else _as_bool(text)

    @execution_summary.setter
    def execution_summary(self, value: bool | None) -> None:
        """``flowlib.settings.execution_summary = False`` silences run summaries; ``None`` restores the default."""
        self.execution_summary_override = value


settings = Settings()


def set_dir(path: str | os.PathLike[str] | None, *, storage_options: dict[str, Any] | None = None) -> None:
    """Set the root directory (or fsspec URL) for outputs; ``None`` restores the default.

    Example:
        >>> set_dir("s3://bucket/flows", storage_options={"anon": False})  # doctest: +SKIP
    """
    settings.dir_override = None if path is None else os.fspath(path)
    settings.storage_options = dict(storage_options or {})
