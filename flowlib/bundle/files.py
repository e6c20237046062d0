"""Where a bundle's files live: a folder or fsspec URL, a ``.zip`` file or a ``.tar`` / ``.tar.gz`` file.

A :class:`BundleSink` takes files by their path inside the bundle (``Family/task_id-key.suffix``);
a :class:`BundleSource` gives their sizes and contents back. Archives are written to a temporary
name beside their final one and renamed when complete (on object stores, uploaded whole);
folders receive each file atomically, through :mod:`flowlib.storage`.

Example:
    >>> bundle_kind("results.tar.gz"), bundle_kind("s3://team/results.zip"), bundle_kind("shared/results")
    ('tar', 'zip', 'folder')
"""

from __future__ import annotations

import abc
import contextlib
import io
import os
import shutil
import tarfile
import tempfile
import time
import zipfile
import zlib
from collections.abc import Iterator
from typing import IO, Any

from flowlib.bundle.manifest import BundleError
from flowlib.layout import is_temp
from flowlib.storage import Storage, get_storage

__all__ = [
    "BundleSink",
    "BundleSource",
    "bundle_kind",
    "open_sink",
    "open_source",
    "local_copy",
    "is_bundle_file",
]

_TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz")


def bundle_kind(location: str) -> str:
    """``"zip"``, ``"tar"`` or ``"folder"``, from the name's ending."""
    name = location.lower().rstrip("/")
    if name.endswith(".zip"):
        return "zip"
    if name.endswith(_TAR_SUFFIXES):
        return "tar"
    return "folder"


def _split(location: str) -> tuple[str, str]:
    """``"dir/x.zip"`` -> ``("dir", "x.zip")``; works for paths and URLs."""
    if "://" not in location:
        location = os.path.abspath(location)
    parent, _, name = location.replace(os.sep, "/").rstrip("/").rpartition("/")
    return parent or "/", name


@contextlib.contextmanager
def local_copy(storage: Storage, path: str) -> Iterator[str]:
    """A local path holding the file at ``path``: the file itself on local roots, else a downloaded copy."""
    if storage.is_local:
        yield path
        return
    fd, tmp = tempfile.mkstemp(prefix=".flowlib-bundle-")
    try:
        with os.fdopen(fd, "wb") as out, storage.reading(path) as source:
            if isinstance(source, str):
                with open(source, "rb") as handle:
                    shutil.copyfileobj(handle, out)
            else:
                shutil.copyfileobj(source, out)
        yield tmp
    finally:
        with contextlib.suppress(OSError):
            os.remove(tmp)


# -- writing ---------------------------------------------------------------------------------
class BundleSink(abc.ABC):
    """Receives a bundle's files by their path inside the bundle."""

    @abc.abstractmethod
    def add_file(self, name: str, local: str) -> None:
        """Add the local file ``local`` as ``name``."""

    @abc.abstractmethod
    def add_bytes(self, name: str, data: bytes) -> None:
        """Add ``data`` as ``name``."""


class _FolderSink(BundleSink):
    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    def add_file(self, name: str, local: str) -> None:
        with self.storage.atomic_write(f"{self.storage.root}/{name}") as tmp:
            shutil.copyfile(local, tmp)

    def add_bytes(self, name: str, data: bytes) -> None:
        self.storage.write_bytes(f"{self.storage.root}/{name}", data)


class _ZipSink(BundleSink):
    def __init__(self, archive: zipfile.ZipFile) -> None:
        self.archive = archive

    def add_file(self, name: str, local: str) -> None:
        self.archive.write(local, name)

    def add_bytes(self, name: str, data: bytes) -> None:
        self.archive.writestr(name, data)


class _TarSink(BundleSink):
    def __init__(self, archive: tarfile.TarFile) -> None:
        self.archive = archive

    def add_file(self, name: str, local: str) -> None:
        self.archive.add(local, arcname=name, recursive=False)

    def add_bytes(self, name: str, data: bytes) -> None:
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode = len(data), int(time.time()), 0o644
        self.archive.addfile(info, io.BytesIO(data))


@contextlib.contextmanager
def open_sink(location: str, storage_options: dict[str, Any] | None = None) -> Iterator[BundleSink]:
    """A sink writing the bundle at ``location``; an archive appears only if the block succeeds.

    A folder must be new or empty (a bundle is never mixed with other files).
    """
    kind = bundle_kind(location)
    if kind == "folder":
        storage = get_storage(location, storage_options)
        if storage.list_files(storage.root):
            raise BundleError(f"cannot export to {location}: the folder is not empty; choose a new folder or remove it")
        yield _FolderSink(storage)
        return
    parent, name = _split(location)
    storage = get_storage(parent, storage_options)
    with storage.atomic_write(f"{storage.root}/{name}") as tmp:
        if kind == "zip":
            with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
                yield _ZipSink(archive)
        else:
            compressed = name.lower().endswith((".gz", ".tgz"))
            with tarfile.open(tmp, "w:gz") if compressed else tarfile.open(tmp, "w") as tar:
                yield _TarSink(tar)


# -- reading ---------------------------------------------------------------------------------
class BundleSource(abc.ABC):
    """Gives back a bundle's files by their path inside the bundle."""

    @abc.abstractmethod
    def size(self, name: str) -> int | None:
        """The size of ``name`` in bytes; ``None`` when the bundle has no such file."""

    @abc.abstractmethod
    def open(self, name: str) -> contextlib.AbstractContextManager[IO[bytes]]:
        """``name``'s content as an open binary file."""

    def close(self) -> None:  # noqa: B027 - folders hold nothing open
        """Release what the source holds open (an archive)."""

    def read(self, name: str) -> bytes:
        """``name``'s whole content."""
        with self.open(name) as handle:
            return handle.read()


class _FolderSource(BundleSource):
    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    def size(self, name: str) -> int | None:
        found = self.storage.stat(f"{self.storage.root}/{name}")
        return None if found is None else found.size

    @contextlib.contextmanager
    def open(self, name: str) -> Iterator[IO[bytes]]:
        with self.storage.reading(f"{self.storage.root}/{name}") as source:
            if isinstance(source, str):
                with open(source, "rb") as handle:
                    yield handle
            else:
                yield source


class _ZipSource(BundleSource):
    def __init__(self, archive: zipfile.ZipFile) -> None:
        self.archive = archive

    def size(self, name: str) -> int | None:
        try:
            return self.archive.getinfo(name).file_size
        except KeyError:
            return None

    def open(self, name: str) -> contextlib.AbstractContextManager[IO[bytes]]:
        return self.archive.open(name)

    def close(self) -> None:
        self.archive.close()


class _TarSource(BundleSource):
    def __init__(self, archive: tarfile.TarFile) -> None:
        self.archive = archive
        self.members = {m.name: m for m in archive.getmembers() if m.isfile()}

    def close(self) -> None:
        self.archive.close()

    def size(self, name: str) -> int | None:
        member = self.members.get(name)
        return None if member is None else member.size

    @contextlib.contextmanager
    def open(self, name: str) -> Iterator[IO[bytes]]:
        handle = self.archive.extractfile(self.members[name])
        if handle is None:  # pragma: no cover - members are regular files
            raise BundleError(f"{name} is not a regular file in the bundle")
        with handle:
            yield handle


@contextlib.contextmanager
def open_source(location: str, storage_options: dict[str, Any] | None = None) -> Iterator[BundleSource]:
    """The bundle at ``location`` (folder, URL, ``.zip``, ``.tar``, ``.tar.gz``), for reading."""
    kind = bundle_kind(location)
    if kind == "folder":
        storage = get_storage(location, storage_options)
        if storage.is_local and not os.path.isdir(storage.root):
            raise BundleError(f"no bundle at {location}: there is no such folder")
        yield _FolderSource(storage)
        return
    parent, name = _split(location)
    storage = get_storage(parent, storage_options)
    path = f"{storage.root}/{name}"
    if storage.stat(path) is None:
        raise BundleError(f"no bundle at {location}: there is no such file")
    with local_copy(storage, path) as local:
        try:
            source: BundleSource = (
                _ZipSource(zipfile.ZipFile(local)) if kind == "zip" else _TarSource(tarfile.open(local))
            )
        except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError, zlib.error) as exc:
            raise BundleError(
                f"{location} is damaged or not a {kind} archive ({exc}); ask for the bundle again"
            ) from exc
        with contextlib.closing(source):
            yield source


def is_bundle_file(name: str) -> bool:
    """Whether a file name found under an output folder belongs in a bundle (not a temporary file)."""
    return not is_temp(name.rpartition("/")[2])
