"""The manifest of a bundle: which tasks, their parameters and code, every file's size and fingerprint.

``manifest.json`` is written last into every bundle: a bundle without one is incomplete.

Example:
    >>> manifest = BundleManifest(tasks=(), flowlib_version="0.2.0", created="2026-01-01T00:00:00+00:00")
    >>> BundleManifest.from_json(manifest.to_json()) == manifest
    True
"""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass, field
from typing import Any

from flowlib.errors import FlowlibError
from flowlib.storage import human_size

__all__ = ["BundleError", "BundleFile", "BundleTask", "BundleManifest", "FORMAT", "MANIFEST", "safe_path"]

#: The manifest layout this flowlib writes and reads.
FORMAT = 1

#: The manifest's name inside every bundle.
MANIFEST = "manifest.json"


class BundleError(FlowlibError, ValueError):
    """A bundle cannot be written or read: incomplete tasks, a damaged file, a conflict with existing outputs."""


@dataclass(frozen=True)
class BundleFile:
    """One file of a bundle: its path inside it (and below a root), size and content fingerprint."""

    path: str
    bytes: int
    fingerprint: str


@dataclass(frozen=True)
class BundleTask:
    """One task of a bundle: identity, significant parameters, code fingerprint and its files."""

    task_id: str
    family: str
    params: dict[str, str]
    code: str
    #: ``{output key: path inside the bundle}``.
    outputs: dict[str, str]
    record: BundleFile
    #: The output files (the record is :attr:`record`).
    files: tuple[BundleFile, ...]

    def __str__(self) -> str:
        params = ", ".join(f"{name}={value}" for name, value in self.params.items())
        return f"{self.family}({params})"


@dataclass(frozen=True)
class BundleManifest:
    """What a bundle holds; ``str()`` of it is what ``flowlib bundle show`` prints.

    Example:
        >>> BundleManifest(tasks=(), flowlib_version="0.2.0", created="2026-01-01T00:00:00+00:00").files()
        []
    """

    tasks: tuple[BundleTask, ...]
    flowlib_version: str
    created: str
    format: int = FORMAT
    #: Where the bundle was written or read (not stored in the manifest).
    location: str = field(default="", compare=False)

    def files(self) -> list[BundleFile]:
        """Every file: each task's outputs, then its record."""
        return [f for task in self.tasks for f in (*task.files, task.record)]

    @property
    def total_bytes(self) -> int:
        return sum(f.bytes for f in self.files())

    def to_json(self) -> bytes:
        """The ``manifest.json`` text."""
        data = {
            "format": self.format,
            "flowlib_version": self.flowlib_version,
            "created": self.created,
            "tasks": [
                {
                    "task_id": t.task_id,
                    "family": t.family,
                    "params": t.params,
                    "code": t.code,
                    "outputs": t.outputs,
                    "record": vars(t.record),
                    "files": [vars(f) for f in t.files],
                }
                for t in self.tasks
            ],
        }
        return json.dumps(data, indent=1).encode("utf-8")

    @classmethod
    def from_json(cls, text: bytes, location: str = "") -> BundleManifest:
        """Parse ``manifest.json``; :class:`BundleError` when it is not a bundle manifest."""
        try:
            data = json.loads(text)
            version = data["format"]
            if not isinstance(version, int) or version > FORMAT:
                raise BundleError(
                    f"{location or 'the bundle'} has manifest format {version!r} (flowlib "
                    f"{data.get('flowlib_version', '?')}); this flowlib reads up to {FORMAT}: upgrade flowlib"
                )
            tasks = tuple(
                BundleTask(
                    task_id=str(t["task_id"]),
                    family=str(t["family"]),
                    params={str(k): str(v) for k, v in t["params"].items()},
                    code=str(t["code"]),
                    outputs={str(k): safe_path(v) for k, v in t["outputs"].items()},
                    record=_file(t["record"]),
                    files=tuple(_file(f) for f in t["files"]),
                )
                for t in data["tasks"]
            )
            return cls(tasks, str(data["flowlib_version"]), str(data["created"]), version, location)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            if isinstance(exc, BundleError):
                raise
            raise BundleError(
                f"{location or 'the bundle'}: {MANIFEST} is not a flowlib bundle manifest ({exc!r})"
            ) from exc

    def __str__(self) -> str:
        lines = [
            f"bundle {self.location or '(not written)'}: {len(self.tasks)} tasks, {len(self.files())} files, "
            f"{human_size(self.total_bytes)}; flowlib {self.flowlib_version}, created {self.created}"
        ]
        for task in self.tasks:
            lines.append(f"  {task}  [{task.task_id}]  code {task.code}")
            for f in (*task.files, task.record):
                lines.append(f"    {f.path}  {human_size(f.bytes)}  {f.fingerprint}")
        return "\n".join(lines)


def safe_path(path: Any) -> str:
    """A relative path inside the bundle, refused if absolute or climbing out of it."""
    text = str(path)
    normal = posixpath.normpath(text)
    if not text or text.startswith("/") or "\\" in text or normal.startswith("..") or normal != text:
        raise BundleError(f"the manifest names an unsafe path {text!r}; the bundle was not made by flowlib.export")
    return text


def _file(data: dict[str, Any]) -> BundleFile:
    return BundleFile(safe_path(data["path"]), int(data["bytes"]), str(data["fingerprint"]))
