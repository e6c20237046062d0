"""Where outputs live: the root, the path scheme, and the filesystem behind it.

Local roots use the operating system directly (the fast path); any other URL
(``s3://``, ``gs://``, ``memory://``...) goes through fsspec. Every write goes
through :meth:`Storage.atomic_write`: readers never see a partial file.

Example:
    >>> storage = get_storage("/tmp/flowlib-doc")
    >>> storage.output_path("Train", "Train_abc", "data", ".pkl")
    '/tmp/flowlib-doc/Train/Train_abc-data.pkl'
"""

from __future__ import annotations

import abc
import contextlib
import errno
import os
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from flowlib import layout
from flowlib.errors import StorageError
from flowlib.layout import TEMP_SUFFIX, temp_name, temp_owner
from flowlib.settings import settings

__all__ = [
    "FileStat",
    "Storage",
    "LocalStorage",
    "FsspecStorage",
    "get_storage",
    "forget_storages",
    "human_size",
    "temp_owner",
    "TEMP_SUFFIX",
]

# Object stores publish an upload whole: a reader sees the old object or the new one.
_ATOMIC_PUT_PROTOCOLS = {"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl", "memory"}


def human_size(size: int) -> str:
    """``1234567`` -> ``"1.2 MB"`` (powers of 1000, as file managers show them)."""
    value = float(size)
    for unit in ("kB", "MB", "GB", "TB"):
        value /= 1000
        if value < 1000 or unit == "TB":
            return f"{value:.1f} {unit}" if size >= 1000 else f"{size} B"
    raise AssertionError("unreachable")  # pragma: no cover


@dataclass(frozen=True)
class FileStat:
    """What ``stat`` says of a file: its size, modification time and a token that changes when it is replaced.

    ``token`` is the inode on local disks (an atomic replace gives a new one) and the ETag or
    version on object stores; ``mtime_ns`` is ``None`` where the filesystem does not say.
    """

    size: int
    mtime_ns: int | None
    token: str = ""


class Storage(abc.ABC):
    """A root directory plus the file operations targets and records need.

    Backends implement the abstract primitives (one module-level class each:
    :class:`LocalStorage`, :class:`FsspecStorage`); the layout of names comes from
    :mod:`flowlib.layout`. Paths are absolute strings with ``/`` separators.
    """

    root: str
    url: str
    is_local: bool = True

    def output_path(self, family: str, task_id: str, key: str, suffix: str) -> str:
        """``<root>/<family>/<task_id>-<key><suffix>`` (see :mod:`flowlib.layout`)."""
        return layout.output_path(self.root, family, task_id, key, suffix)

    def family_dir(self, family: str) -> str:
        """``<root>/<family>``."""
        return layout.family_dir(self.root, family)

    def record_path(self, family: str, task_id: str) -> str:
        """``<root>/<family>/<task_id>.record.json``."""
        return layout.record_path(self.root, family, task_id)

    def makedirs(self, directory: str) -> None:  # noqa: B027 - object stores have no folders: nothing to do
        """Create ``directory`` if the backend has folders (object stores do not)."""

    @abc.abstractmethod
    def exists(self, path: str) -> bool:
        """Whether a file exists at ``path``."""

    @abc.abstractmethod
    def size(self, path: str) -> int:
        """The size of the file at ``path`` in bytes (``FileNotFoundError`` when missing)."""

    @abc.abstractmethod
    def stat(self, path: str) -> FileStat | None:
        """Size, modification time and replacement token of ``path``; ``None`` when it does not exist."""

    @abc.abstractmethod
    def remove(self, path: str) -> None:
        """Remove the file at ``path``; nothing happens when it is missing."""

    @abc.abstractmethod
    def read_bytes(self, path: str) -> bytes:
        """The whole content of the file at ``path`` (``FileNotFoundError`` when missing)."""

    @abc.abstractmethod
    def atomic_write(self, path: str) -> contextlib.AbstractContextManager[str]:
        """Yield a local temporary path; publish it at ``path`` only if the block succeeds."""

    @abc.abstractmethod
    def reading(self, path: str) -> contextlib.AbstractContextManager[str | IO[bytes]]:
        """Yield something readers accept: a local path, or an open binary file."""

    @abc.abstractmethod
    def list_files(self, directory: str) -> list[str]:
        """Every file below ``directory`` (recursively); empty when it does not exist."""

    def write_bytes(self, path: str, data: bytes) -> None:
        """Write ``data`` at ``path`` atomically."""
        with self.atomic_write(path) as tmp, open(tmp, "wb") as handle:
            handle.write(data)


class _LocalAtomicWrite:
    """A temporary file beside ``path``, renamed onto it when the ``with`` block succeeds, else removed.

    A class, not a generator: every output of every task is written through one.
    """

    __slots__ = ("path", "tmp", "fsync")

    def __init__(self, path: str, *, fsync: bool) -> None:
        self.path, self.tmp, self.fsync = path, temp_name(path), fsync

    def __enter__(self) -> str:
        return self.tmp

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, _tb: object) -> None:
        if exc is None:
            try:
                if self.fsync:
                    with open(self.tmp, "rb") as handle:
                        os.fsync(handle.fileno())
                os.replace(self.tmp, self.path)
                return
            except BaseException as failed:
                exc = failed
                self._discard(exc)
                raise
        self._discard(exc)

    def _discard(self, exc: BaseException) -> None:
        with contextlib.suppress(OSError):
            os.remove(self.tmp)
        if isinstance(exc, OSError) and exc.errno in (errno.EACCES, errno.EROFS, errno.ENOSPC, errno.EFBIG):
            raise StorageError(
                f"could not write {self.path!r}: {exc.strerror or exc}; "
                "free space or choose a writable root; earlier outputs are intact"
            ) from exc


class LocalStorage(Storage):
    """A root on the local filesystem; temporary file in the same directory, then ``os.replace``."""

    def __init__(self, root: str, *, fsync: bool = False) -> None:
        self.root = os.path.abspath(root).replace(os.sep, "/")
        self.url = self.root
        self.fsync = fsync
        self._made: set[str] = set()
        self._lock = threading.Lock()

    def makedirs(self, directory: str) -> None:
        """Create ``directory`` (and parents) once; a clear :class:`StorageError` if it cannot be."""
        if directory in self._made and os.path.isdir(directory):
            return
        try:
            os.makedirs(directory, exist_ok=True)
        except OSError as exc:
            raise StorageError(
                f"cannot create the output directory {directory!r} ({exc.strerror}); "
                "choose a writable root with flowlib.set_dir(...) or FLOWLIB_DIR"
            ) from exc
        with self._lock:
            self._made.add(directory)

    def exists(self, path: str) -> bool:
        return os.path.exists(path)

    def size(self, path: str) -> int:
        return os.stat(path).st_size

    def stat(self, path: str) -> FileStat | None:
        try:
            found = os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            return None
        return FileStat(found.st_size, found.st_mtime_ns, str(found.st_ino))

    def remove(self, path: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)

    def read_bytes(self, path: str) -> bytes:
        with open(path, "rb") as handle:
            return handle.read()

    def atomic_write(self, path: str) -> contextlib.AbstractContextManager[str]:
        self.makedirs(os.path.dirname(path))
        return _LocalAtomicWrite(path, fsync=self.fsync or settings.fsync)

    @contextlib.contextmanager
    def reading(self, path: str) -> Iterator[str]:
        yield path

    def list_files(self, directory: str) -> list[str]:
        found: list[str] = []
        for folder, _dirs, files in os.walk(directory):
            base = folder.replace(os.sep, "/")
            found.extend(f"{base}/{name}" for name in files)
        return found


class FsspecStorage(Storage):
    """A root behind any fsspec filesystem (S3, GCS, memory...)."""

    is_local = False

    def __init__(self, url: str, storage_options: dict[str, Any] | None = None) -> None:
        import fsspec  # optional at import time: only remote roots need it

        options = dict(storage_options or {})
        self.fs, root = fsspec.core.url_to_fs(url, **options)
        self.protocol = self.fs.protocol if isinstance(self.fs.protocol, str) else self.fs.protocol[0]
        # Paths keep their scheme (s3://bucket/...): what users see and copy names the filesystem too.
        self.root = self._with_scheme(root.rstrip("/"))
        self.url = url
        self.atomic_put = self.protocol in _ATOMIC_PUT_PROTOCOLS

    def _with_scheme(self, path: str) -> str:
        """``bucket/key`` (as fsspec lists paths) -> ``s3://bucket/key``."""
        return path if "://" in path else str(self.fs.unstrip_protocol(path))

    def exists(self, path: str) -> bool:
        return bool(self.fs.exists(path))

    def size(self, path: str) -> int:
        return int(self.fs.size(path))

    def stat(self, path: str) -> FileStat | None:
        try:
            info = self.fs.info(path)
        except FileNotFoundError:
            return None
        finally:  # a cached listing would hide changes made by other machines
            self.fs.invalidate_cache(path)
        if info.get("type") == "directory":
            return None
        token = info.get("ETag") or info.get("etag") or info.get("VersionId") or info.get("generation") or ""
        mtime = info.get("mtime") or info.get("LastModified") or info.get("last_modified") or info.get("created")
        return FileStat(int(info.get("size") or 0), _as_ns(mtime), str(token))

    def remove(self, path: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(path)

    def read_bytes(self, path: str) -> bytes:
        return bytes(self.fs.cat_file(path))

    @contextlib.contextmanager
    def atomic_write(self, path: str) -> Iterator[str]:
        fd, tmp = tempfile.mkstemp(prefix=".flowlib-", suffix=TEMP_SUFFIX)
        os.close(fd)
        try:
            yield tmp
            if self.atomic_put:
                self.fs.put_file(tmp, path)
            else:  # upload beside, then move into place
                staging = temp_name(path)
                self.fs.put_file(tmp, staging)
                self.fs.mv(staging, path)
        finally:
            with contextlib.suppress(OSError):
                os.remove(tmp)

    @contextlib.contextmanager
    def reading(self, path: str) -> Iterator[IO[bytes]]:
        with self.fs.open(path, "rb") as handle:
            yield handle

    def list_files(self, directory: str) -> list[str]:
        try:
            if not self.fs.exists(directory):
                return []
            return [self._with_scheme(str(p)) for p in self.fs.find(directory)]
        finally:  # a cached listing would hide later writes by other machines from exists()
            self.fs.invalidate_cache(directory)


def _as_ns(value: Any) -> int | None:
    """A modification time as fsspec reports it (datetime, seconds, ISO text) in nanoseconds."""
    if value is None:
        return None
    if hasattr(value, "timestamp"):
        return int(value.timestamp() * 1e9)
    if isinstance(value, (int, float)):
        return int(value * 1e9)
    return None


_cache: dict[tuple[str, str], Storage] = {}
_plain: dict[str, Storage] = {}  # absolute roots and URLs without options, by the string given
_cache_lock = threading.Lock()


def forget_storages() -> None:
    """Drop every storage object (and its filesystem client); the next ``get_storage`` builds a new one."""
    global _cache_lock
    _cache.clear()
    _plain.clear()
    _cache_lock = threading.Lock()


def _forget_after_fork() -> None:
    """Worker processes build their own filesystems: fsspec clients (s3fs...) are not fork-safe."""
    forget_storages()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)


def get_storage(root: str, storage_options: dict[str, Any] | None = None) -> Storage:
    """The storage for ``root`` (a path or URL), shared by every task that uses it."""
    if not storage_options:  # the common case, asked several times per task: one lookup
        found = _plain.get(root)
        if found is not None:
            return found
    options = repr(sorted(storage_options.items())) if storage_options else ""
    where = root if "://" in root or os.path.isabs(root) else os.path.join(os.getcwd(), root)
    key = (where, options)
    storage = _cache.get(key)
    if storage is None:
        if root.startswith("file://"):
            storage = LocalStorage(root[len("file://") :])
        elif "://" in root:
            storage = FsspecStorage(root, storage_options)
        else:
            storage = LocalStorage(root)
        with _cache_lock:
            _cache[key] = storage
    if not options and where == root:  # absolute or a URL: the same storage whatever the working directory
        _plain[root] = storage
    return storage
