"""The Target interface: ``path``, ``exists()``, ``save(obj)``, ``load()``, ``remove()``.

A format is one :class:`FileTarget` subclass with ``_write`` and ``_read``;
``FileTarget.save`` owns the temporary file, the rename and the fingerprint.
Targets know nothing of tasks.
"""

from __future__ import annotations

import abc
import os
from dataclasses import dataclass, field
from typing import IO, Any, ClassVar

import luigi
import numpy as np

from flowlib.errors import CorruptOutputError, FlowlibError, StorageError
from flowlib.hashing import HashingWriter, hash_bytes, hash_file, unhashed
from flowlib.settings import settings
from flowlib.storage import FileStat, Storage

__all__ = ["OutputInfo", "Target", "FileTarget", "register_target", "get_target_class", "TARGETS"]


@dataclass(frozen=True)
class OutputInfo:
    """What a save wrote: where, its fingerprint and size, and for tables rows and schema."""

    path: str
    fingerprint: str
    bytes: int = 0
    rows: int | None = None
    schema: dict[str, str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    #: The file's modification time when written (``None`` where the filesystem does not say).
    mtime_ns: int | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"path": self.path, "fingerprint": self.fingerprint, "bytes": self.bytes}
        if self.mtime_ns is not None:
            data["mtime_ns"] = self.mtime_ns
        if self.rows is not None:
            data["rows"] = self.rows
            data["schema"] = self.schema
        return data


_DTYPE_NAMES: dict[np.dtype[Any], str] = {}


def _dtype_name(dtype: Any) -> str:
    """``str(dtype)``, remembered for NumPy dtypes (a few microseconds each, for every column of every save)."""
    if not isinstance(dtype, np.dtype):  # pandas extension dtypes: categories etc. make them costly to hash
        return str(dtype)
    name = _DTYPE_NAMES.get(dtype)
    if name is None:
        name = _DTYPE_NAMES[dtype] = str(dtype)
    return name


def describe(obj: Any) -> tuple[int | None, dict[str, str] | None]:
    """Row count and column dtypes of a DataFrame; ``(None, None)`` for other objects."""
    columns = getattr(obj, "columns", None)
    dtypes = getattr(obj, "dtypes", None)
    if columns is None or dtypes is None:
        return None, None
    return len(obj), {str(c): _dtype_name(t) for c, t in zip(columns, dtypes.tolist(), strict=False)}


class Target(luigi.Target):  # type: ignore[misc]
    """One persisted output at ``path`` in ``storage``: luigi's one-method Target, plus save, load and remove.

    A format is a subclass registered by name (:func:`register_target`); file formats
    subclass :class:`FileTarget` and implement only ``_write`` and ``_read``. Targets
    know nothing of tasks.
    """

    name: ClassVar[str] = ""
    suffix: ClassVar[str] = ""
    #: Said when a file cannot be read: why, besides damage, that may be.
    unreadable_because: ClassVar[str] = ""
    #: ``True`` when the output lives in files (so other processes can see it).
    is_file: ClassVar[bool] = True

    def __init__(self, path: str, storage: Storage) -> None:
        self.path = path
        self.storage = storage

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.path!r})"

    @abc.abstractmethod
    def exists(self) -> bool:
        """Whether the output is stored."""

    @abc.abstractmethod
    def stat(self) -> FileStat | None:
        """Size, modification time and replacement token of the stored output; ``None`` when missing."""

    @abc.abstractmethod
    def save(self, obj: Any) -> OutputInfo:
        """Store ``obj`` atomically (readers see the old output or the new one); what was written."""

    @abc.abstractmethod
    def load(self) -> Any:
        """The stored object (:class:`~flowlib.errors.CorruptOutputError` when it cannot be read)."""

    @abc.abstractmethod
    def remove(self) -> None:
        """Remove the stored output; nothing happens when it is missing."""

    def content_fingerprint(self, like: str | None = None) -> str:
        """Hash the stored content again, as ``save`` fingerprinted it (``verify`` and touched files use it).

        ``like``: a recorded fingerprint, whose algorithm is used (records of older flowlib versions).
        """
        with self.storage.reading(self.path) as source:
            return hash_file(source, like=like)


class FileTarget(Target):
    """A target stored as one file, written atomically (temporary file, then rename).

    A format implements ``_write(obj, path)``, or, when it writes through a Python file object,
    ``_write_stream(obj, handle)`` with ``streams = True``: then the file is fingerprinted while it
    is written instead of read back afterwards. A format that can build a (small) file in memory
    also implements ``_encode(obj)``: the bytes are then written and fingerprinted in one go.
    """

    #: ``True`` when the format implements ``_write_stream`` (see the class docstring).
    streams: ClassVar[bool] = False

    def check(self, obj: Any) -> None:  # noqa: B027 - most formats check while writing
        """Raise :class:`TargetFormatError` when this format cannot hold ``obj``."""

    def _write(self, obj: Any, path: str) -> None:
        """Write ``obj`` in this format to the local temporary file ``path`` (streaming formats: through
        :meth:`_write_stream`)."""
        with open(path, "wb") as handle:
            self._write_stream(obj, handle)

    def _write_stream(self, obj: Any, handle: IO[bytes]) -> None:
        """Write ``obj`` to an open binary file (formats with ``streams = True``)."""
        raise NotImplementedError

    def _description(self, obj: Any) -> tuple[int | None, dict[str, str] | None]:
        """Rows and column dtypes of what was just saved (:func:`describe`; formats may know them already)."""
        return describe(obj)

    def _encode(self, obj: Any) -> bytes | memoryview | None:
        """The whole file for ``obj``, when this format builds it in memory; ``None``: write it with ``_write``."""
        return None

    def _write_encoded(self, data: bytes | memoryview, path: str) -> None:
        """Write what :meth:`_encode` built to the new local file ``path``: no buffering layers, one ``write``."""
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
        fd = os.open(path, flags, 0o666)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)

    def _write_fingerprinted(self, obj: Any, tmp: str) -> str:
        """Write ``obj`` at ``tmp``; its content fingerprint (``unhashed-...`` when fingerprints are off)."""
        # Content fingerprints make early cutoff and verify possible.
        data = self._encode(obj)
        if data is not None:
            self._write_encoded(data, tmp)
            return hash_bytes(data) if settings.fingerprint_outputs else unhashed()
        if not settings.fingerprint_outputs:
            self._write(obj, tmp)
            return unhashed()
        if not self.streams:
            self._write(obj, tmp)
            return hash_file(tmp)
        with open(tmp, "wb") as handle:
            writer = HashingWriter(handle)
            self._write_stream(obj, writer)  # type: ignore[arg-type]
        return writer.fingerprint()

    @abc.abstractmethod
    def _read(self, source: str | IO[bytes]) -> Any:
        """Parse this format from a local path or an open binary file."""

    def exists(self) -> bool:
        return self.storage.exists(self.path)

    def stat(self) -> FileStat | None:
        return self.storage.stat(self.path)

    def save(self, obj: Any) -> OutputInfo:
        self.check(obj)
        with self.storage.atomic_write(self.path) as tmp:
            try:
                fingerprint = self._write_fingerprinted(obj, tmp)
            except FlowlibError:
                raise
            except OSError as exc:
                raise StorageError(f"could not write {self.path!r}: {exc}; earlier outputs are intact") from exc
            written = os.stat(tmp)  # the rename keeps the size and modification time (local disks)
        rows, schema = self._description(obj)
        mtime = written.st_mtime_ns if self.storage.is_local else None
        return OutputInfo(self.path, fingerprint, written.st_size, rows, schema, mtime_ns=mtime)

    def read(self, source: str | IO[bytes]) -> Any:
        """Parse this format from a local path or an open binary file (what :meth:`load` and ``verify`` call)."""
        return self._read(source)

    def load(self) -> Any:
        try:
            with self.storage.reading(self.path) as source:
                return self.read(source)
        except (FileNotFoundError, MemoryError):
            raise
        except Exception as exc:
            raise CorruptOutputError(
                f"cannot read {self.name} output {self.path!r}: {type(exc).__name__}: {exc}. "
                f"The file is damaged{self.unreadable_because}; invalidate the task and run it again"
            ) from exc

    def remove(self) -> None:
        self.storage.remove(self.path)


TARGETS: dict[str, type[Target]] = {}


def register_target(cls: type[Target]) -> type[Target]:
    """Class decorator: make a Target findable by its ``name`` (e.g. ``"parquet"``)."""
    if not cls.name or not cls.suffix.startswith("."):
        raise ValueError(f"{cls.__name__} needs a name and a suffix starting with '.'")
    TARGETS[cls.name] = cls
    return cls


def get_target_class(name: str) -> type[Target]:
    """The Target class registered under ``name``."""
    try:
        return TARGETS[name]
    except KeyError:
        raise FlowlibError(f"unknown target format {name!r}; known formats: {sorted(TARGETS)}") from None
