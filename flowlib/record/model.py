"""The typed record a task leaves beside its outputs when it completes.

A :class:`Record` says what produced a task's outputs: its family, significant
parameters, code fingerprint, each output (path, content fingerprint, bytes, time,
rows, schema), the output fingerprints of the upstream tasks it consumed, when and
how long it ran, library versions, user metadata and, for source tasks, a
fingerprint of the external data it read. Records are written last, atomically: a
task without one is not complete.

Example:
    >>> record = Record(family="Train", task_id="Train_abc", params={"lr": "0.1"}, code="version:1")
    >>> Record.from_json(record.to_json()) == record
    True
"""

from __future__ import annotations

import json
import platform
from dataclasses import dataclass, field
from typing import Any

from flowlib.errors import FlowlibError
from flowlib.targets.base import OutputInfo
from flowlib.version import __version__

__all__ = ["Record", "RecordFormatError", "NewerRecordError", "FORMAT_VERSION", "versions"]

#: The record layout this flowlib writes; readers accept it and every older one.
FORMAT_VERSION = 2

_versions: dict[str, str] = {}
#: Compact JSON; what is not plain JSON (numpy numbers in metadata...) is written as its ``str``.
_ENCODER = json.JSONEncoder(separators=(",", ":"), default=str)


class RecordFormatError(FlowlibError, ValueError):
    """A record cannot be read: damaged, or written by a newer flowlib."""


class NewerRecordError(RecordFormatError):
    """A record written by a newer flowlib, in a format this one does not know."""


def versions() -> dict[str, str]:
    """Versions of flowlib, luigi, pandas, pyarrow and Python (for records)."""
    if not _versions:
        import luigi
        import pandas
        import pyarrow

        _versions.update(
            flowlib=__version__,
            luigi=getattr(luigi, "__version__", "unknown"),
            pandas=pandas.__version__,
            pyarrow=pyarrow.__version__,
            python=platform.python_version(),
        )
    return dict(_versions)


def _output_from(data: dict[str, Any]) -> OutputInfo:
    return OutputInfo(
        path=str(data.get("path", "")),
        fingerprint=str(data.get("fingerprint", "")),
        bytes=int(data.get("bytes") or 0),
        rows=data.get("rows"),
        schema=data.get("schema"),
        mtime_ns=data.get("mtime_ns"),
    )


@dataclass(frozen=True)
class Record:
    """What produced a task's outputs; see the module docstring."""

    family: str
    task_id: str
    params: dict[str, str] = field(default_factory=dict)
    code: str = ""
    outputs: dict[str, OutputInfo] = field(default_factory=dict)
    #: ``{upstream task_id: {output key: fingerprint}}`` as they were when this task ran.
    inputs: dict[str, dict[str, str]] = field(default_factory=dict)
    started: str = ""
    duration: float = 0.0
    versions: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    #: A fingerprint of external data the task read (source tasks), else ``None``.
    data: str | None = None
    format: int = FORMAT_VERSION

    def output_fingerprints(self) -> dict[str, str]:
        """``{output key: content fingerprint}``."""
        return {key: info.fingerprint for key, info in self.outputs.items()}

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (the on-disk form)."""
        data: dict[str, Any] = {
            "format": self.format,
            "task_family": self.family,
            "task_id": self.task_id,
            "params": dict(self.params),
            "code": self.code,
            "outputs": {key: info.to_dict() for key, info in self.outputs.items()},
            "inputs": {key: dict(value) for key, value in self.inputs.items()},
            "started": self.started,
            "duration": self.duration,
            "versions": dict(self.versions),
            "metadata": dict(self.metadata),
        }
        if self.data is not None:
            data["data"] = self.data
        return data

    def to_json(self) -> bytes:
        """Compact UTF-8 JSON; metadata that is not plain JSON is an error naming it."""
        try:
            return _ENCODER.encode(self.to_dict()).encode("utf-8")
        except (TypeError, ValueError) as exc:
            raise FlowlibError(
                f"{self.task_id}: metadata cannot be stored as JSON ({exc}); save_metadata takes plain values"
            ) from exc

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Record:
        """Read the on-disk form (any format up to :data:`FORMAT_VERSION`)."""
        version = data.get("format", 1)
        if not isinstance(version, int) or version > FORMAT_VERSION:
            written = (data.get("versions") or {}).get("flowlib", "a newer version")
            raise NewerRecordError(
                f"record of {data.get('task_id', '?')} has format {version!r}, written by flowlib {written}; "
                f"this flowlib reads formats up to {FORMAT_VERSION}: upgrade flowlib to use these outputs"
            )
        outputs = data.get("outputs") or {}
        return cls(
            family=str(data.get("task_family", "")),
            task_id=str(data.get("task_id", "")),
            params=dict(data.get("params") or {}),
            code=str(data.get("code", "")),
            outputs={str(key): _output_from(value or {}) for key, value in outputs.items()},
            inputs={str(key): dict(value or {}) for key, value in (data.get("inputs") or {}).items()},
            started=str(data.get("started", "")),
            duration=float(data.get("duration") or 0.0),
            versions=dict(data.get("versions") or {}),
            metadata=dict(data.get("metadata") or {}),
            data=data.get("data"),
            format=FORMAT_VERSION,
        )

    @classmethod
    def from_json(cls, text: bytes | str) -> Record:
        """Parse :meth:`to_json`'s output; :class:`RecordFormatError` when it is not a record."""
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise RecordFormatError(f"not a flowlib record (damaged JSON: {exc})") from exc
        if not isinstance(data, dict):
            raise RecordFormatError("not a flowlib record (JSON that is not an object)")
        return cls.from_dict(data)
