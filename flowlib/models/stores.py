"""Where a registry keeps its files: a local folder or any fsspec filesystem, behind one small interface.

A :class:`RegistryStore` lists, reads and *publishes* a generation: all its files appear at once
under the next free generation number, or not at all, and two writers never get the same number.

- :class:`LocalStore` writes the files into a temporary folder beside the release, then renames it
  to the generation's number; ``rename`` fails when another process took that number first (its
  folder is not empty), and the push tries the next one.
- :class:`FsspecStore` (``s3://``, ``gs://``, ``memory://``...) has no folder rename: a writer
  claims a number with a marker object and keeps it only if the listing then shows no other
  claim (otherwise every contender backs off to the next number); the tag file is written last,
  and a generation without a tag file is not listed. Numbers stay distinct and increasing; when
  every contender backs off, a number may be skipped.

Removed generations leave a tombstone (``.removed-<n>``) so their numbers are never reused.

Example:
    >>> store = open_store("/tmp/flowlib-registry-doc")
    >>> store.url
    '/tmp/flowlib-registry-doc'
"""

from __future__ import annotations

import abc
import errno
import os
import random
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Mapping
from typing import Any

from flowlib.errors import StorageError

__all__ = ["RegistryStore", "LocalStore", "FsspecStore", "open_store", "TAG_FILE", "TOMBSTONE"]

TAG_FILE = "tag.json"
TOMBSTONE = ".removed-"
_CLAIM = ".claim-"
_TOMBSTONE_NAME = re.compile(r"\.removed-([0-9]+)")


def _generation_numbers(names: list[str]) -> list[int]:
    """Numbers in use in a release folder: generations (finished or not) and tombstones."""
    numbers = [int(name) for name in names if name.isdigit()]
    numbers += [int(found.group(1)) for found in map(_TOMBSTONE_NAME.fullmatch, names) if found]
    return numbers


class RegistryStore(abc.ABC):
    """The file operations a :class:`~flowlib.models.Registry` needs; paths are ``/``-joined, relative."""

    url: str

    @abc.abstractmethod
    def children(self, path: str) -> list[str]:
        """Names of the entries directly under ``path`` (``[]`` when it does not exist)."""

    @abc.abstractmethod
    def exists(self, path: str) -> bool:
        """Whether the file ``path`` exists."""

    @abc.abstractmethod
    def read(self, path: str) -> bytes:
        """The bytes of ``path``; raises ``FileNotFoundError``."""

    @abc.abstractmethod
    def publish(self, release: str, files: Mapping[str, bytes]) -> int:
        """Write ``files`` as the next generation of the folder ``release``; return its number.

        ``files`` is ordered: the tag file comes last. All files appear at once (or, on object
        stores, the tag file, which makes the generation visible, appears after the others).
        """

    @abc.abstractmethod
    def retire(self, release: str, generation: int) -> None:
        """Remove a generation; its number stays taken (a tombstone)."""

    def generations(self, release: str) -> list[int]:
        """Finished generations of ``release`` (those with a tag file), ascending."""
        names = self.children(release)
        numbers = sorted(int(name) for name in names if name.isdigit())
        return [number for number in numbers if self.exists(f"{release}/{number}/{TAG_FILE}")]


class LocalStore(RegistryStore):
    """A registry in a local folder; generations are published by renaming a finished folder."""

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(os.path.expanduser(root))
        self.url = root

    def _path(self, path: str) -> str:
        return os.path.join(self.root, *path.split("/")) if path else self.root

    def children(self, path: str) -> list[str]:
        try:
            return sorted(os.listdir(self._path(path)))
        except (FileNotFoundError, NotADirectoryError):
            return []

    def exists(self, path: str) -> bool:
        return os.path.isfile(self._path(path))

    def read(self, path: str) -> bytes:
        with open(self._path(path), "rb") as handle:
            return handle.read()

    def publish(self, release: str, files: Mapping[str, bytes]) -> int:
        folder = self._path(release)
        try:
            os.makedirs(folder, exist_ok=True)
            staging = tempfile.mkdtemp(prefix=f".push-{os.getpid()}-", dir=folder)
        except OSError as exc:
            raise StorageError(f"cannot write to the registry folder {folder}: {exc}") from exc
        try:
            for name, data in files.items():
                with open(os.path.join(staging, name), "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
            while True:
                generation = max(_generation_numbers(os.listdir(folder)), default=0) + 1
                try:
                    os.rename(staging, os.path.join(folder, str(generation)))
                    return generation
                except OSError as exc:
                    if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY, errno.EISDIR):
                        raise
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise

    def retire(self, release: str, generation: int) -> None:
        tombstone = self._path(f"{release}/{TOMBSTONE}{generation}")
        os.rename(self._path(f"{release}/{generation}"), tombstone)  # atomic: readers see all or nothing
        for name in os.listdir(tombstone):
            os.remove(os.path.join(tombstone, name))


class FsspecStore(RegistryStore):
    """A registry on an fsspec filesystem (object stores included), with claim markers for numbers."""

    def __init__(self, url: str, storage_options: Mapping[str, Any] | None = None) -> None:
        try:
            import fsspec
        except ImportError as exc:  # pragma: no cover - fsspec is in the models / remote extras
            raise StorageError(f"a registry at {url} needs fsspec: pip install 'flowlib[remote]'") from exc
        self.fs, self.root = fsspec.core.url_to_fs(url, **dict(storage_options or {}))
        self.root = self.root.rstrip("/")
        self.url = url

    def _path(self, path: str) -> str:
        return f"{self.root}/{path}" if path else self.root

    def children(self, path: str) -> list[str]:
        full = self._path(path)
        self.fs.invalidate_cache(full)
        try:
            entries = self.fs.ls(full, detail=False)
        except (FileNotFoundError, NotADirectoryError):
            return []
        return sorted({str(entry).rstrip("/").rsplit("/", 1)[-1] for entry in entries} - {""})

    def exists(self, path: str) -> bool:
        return bool(self.fs.isfile(self._path(path)))

    def read(self, path: str) -> bytes:
        return bytes(self.fs.cat_file(self._path(path)))

    def publish(self, release: str, files: Mapping[str, bytes]) -> int:
        claim = f"{_CLAIM}{uuid.uuid4().hex}"
        for _ in range(1000):
            generation = max(_generation_numbers(self.children(release)), default=0) + 1
            folder = f"{release}/{generation}"
            self.fs.pipe_file(self._path(f"{folder}/{claim}"), b"")
            if self.children(folder) == [claim]:  # nobody else claimed this number
                for name, data in files.items():  # the tag file last: it makes the generation visible
                    self.fs.pipe_file(self._path(f"{folder}/{name}"), data)
                self.fs.rm_file(self._path(f"{folder}/{claim}"))
                return generation
            self.fs.rm_file(self._path(f"{folder}/{claim}"))  # contended: every contender moves on
            time.sleep(random.uniform(0, 0.02))
        raise StorageError(f"could not claim a generation number under {self._path(release)}")

    def retire(self, release: str, generation: int) -> None:
        self.fs.pipe_file(self._path(f"{release}/{TOMBSTONE}{generation}"), b"")
        self.fs.rm_file(self._path(f"{release}/{generation}/{TAG_FILE}"))  # invisible from here on
        self.fs.rm(self._path(f"{release}/{generation}"), recursive=True)


def open_store(root: str | os.PathLike[str], storage_options: Mapping[str, Any] | None = None) -> RegistryStore:
    """The store for a local folder or an fsspec URL (``scheme://...``).

    Example:
        >>> type(open_store("memory://flowlib-doc")).__name__
        'FsspecStore'
    """
    text = os.fspath(root)
    if "://" in text and not text.startswith("file://"):
        return FsspecStore(text, storage_options)
    return LocalStore(text.removeprefix("file://"))
