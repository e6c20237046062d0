"""Fingerprints of files and values: one ``singledispatch`` function per kind of value.

Every fingerprint names its algorithm, ``"<algorithm>:<hex>"``: ``xxh3`` (XXH3-128, from the
``xxhash`` package, several GB/s) when it is installed, else ``sha256`` (hardware-accelerated on
most CPUs, faster there than BLAKE2). A fingerprint made with another algorithm simply differs,
so switching costs one rerun; :func:`hash_file` can still check a file against an old fingerprint
(the 32 hex digits of earlier versions are SHA-256).

Example:
    >>> hash_value({"a": 1}) == hash_value({"a": 1})
    True
    >>> hash_bytes(b"flowlib").split(":")[0] in ("xxh3", "sha256")
    True
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from functools import singledispatch
from typing import IO, Any

import cloudpickle
import pandas as pd

try:
    import xxhash
except ImportError:  # pragma: no cover - xxhash is a dependency; SHA-256 keeps flowlib working without it
    xxhash = None  # type: ignore[assignment]

__all__ = [
    "ALGORITHM",
    "Hasher",
    "HashingWriter",
    "algorithm_of",
    "hash_bytes",
    "hash_file",
    "hash_value",
    "unhashed",
]

#: The algorithm of new fingerprints.
ALGORITHM = "xxh3" if xxhash is not None else "sha256"
_HEX = 32  # digits kept: 128 bits
_CHUNK = 1 << 20


def _digest(algorithm: str) -> Any:
    if algorithm == "xxh3" and xxhash is not None:
        return xxhash.xxh3_128()
    if algorithm == "sha256":
        return hashlib.sha256()
    raise ValueError(f"cannot compute {algorithm!r} fingerprints here; install xxhash (pip install xxhash)")


def unhashed() -> str:
    """The fingerprint of an output saved with ``settings.fingerprint_outputs = False``: unique, never a match."""
    return "unhashed-" + uuid.uuid4().hex


def algorithm_of(fingerprint: str) -> str | None:
    """The algorithm that made ``fingerprint`` (``None`` when not a content hash, e.g. ``unhashed-...``).

    Example:
        >>> algorithm_of("xxh3:" + "0" * 32), algorithm_of("0" * 32), algorithm_of("unhashed-1")
        ('xxh3', 'sha256', None)
    """
    name, sep, digits = fingerprint.partition(":")
    if sep:
        return name if name in ("xxh3", "sha256") and len(digits) == _HEX else None
    return "sha256" if len(fingerprint) == _HEX and all(c in "0123456789abcdef" for c in fingerprint) else None


class Hasher:
    """An incremental fingerprint: ``update(bytes)`` as data goes by, then ``fingerprint()``.

    Example:
        >>> hasher = Hasher()
        >>> hasher.update(b"flow"); hasher.update(b"lib")
        >>> hasher.fingerprint() == hash_bytes(b"flowlib")
        True
    """

    def __init__(self, algorithm: str = ALGORITHM, *, named: bool = True) -> None:
        self.algorithm = algorithm
        self._named = named  # unnamed: the bare digits of earlier versions' fingerprints
        self._digest = _digest(algorithm)

    def update(self, data: Any) -> None:
        self._digest.update(data)

    def fingerprint(self) -> str:
        hexdigest = self._digest.hexdigest()[:_HEX]
        return f"{self.algorithm}:{hexdigest}" if self._named else hexdigest


class HashingWriter:
    """A binary file wrapper that fingerprints every byte written through it (no second read).

    A large chunk (a pickled array's buffer) is hashed on a helper thread while it is being
    written: both release the GIL, so on two cores hashing adds little wall time.

    Example:
        >>> import io
        >>> writer = HashingWriter(io.BytesIO())
        >>> writer.write(b"flowlib")
        7
        >>> writer.fingerprint() == hash_bytes(b"flowlib")
        True
    """

    #: Chunks at least this large are hashed beside the write; smaller ones right away.
    overlap_bytes = 1 << 20

    def __init__(self, handle: IO[bytes], algorithm: str = ALGORITHM) -> None:
        self._handle = handle
        self._hasher = Hasher(algorithm)
        self._pending: Future[None] | None = None

    def write(self, data: Any) -> int:
        self._settle()  # bytes are hashed in the order they are written
        if memoryview(data).nbytes < self.overlap_bytes:
            self._hasher.update(data)
            return self._handle.write(data)
        self._pending = _helper().submit(self._hasher.update, data)
        try:
            return self._handle.write(data)
        finally:
            self._settle()

    def flush(self) -> None:
        self._handle.flush()

    def _settle(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def fingerprint(self) -> str:
        self._settle()
        return self._hasher.fingerprint()


_helpers: list[ThreadPoolExecutor] = []
_helpers_lock = threading.Lock()


def _helper() -> ThreadPoolExecutor:
    """The threads that hash large chunks beside their writes (created on first use)."""
    if not _helpers:
        with _helpers_lock:
            if not _helpers:
                _helpers.append(ThreadPoolExecutor(max_workers=2, thread_name_prefix="flowlib-hash"))
    return _helpers[0]


def _forget_helpers_after_fork() -> None:
    global _helpers_lock
    _helpers.clear()  # the threads did not survive the fork
    _helpers_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_helpers_after_fork)


def hash_bytes(data: bytes | memoryview) -> str:
    """The fingerprint of ``data``: ``"<algorithm>:<32 hex digits>"``."""
    if xxhash is not None:
        return "xxh3:" + xxhash.xxh3_128_hexdigest(data)
    return "sha256:" + hashlib.sha256(data).hexdigest()[:_HEX]


def hash_file(source: str | IO[bytes], like: str | None = None) -> str:
    """Fingerprint of a file's bytes, read in chunks (a path or an open binary file).

    ``like``: an earlier fingerprint; the file is hashed with *its* algorithm, so the two compare.
    """
    hasher = Hasher()
    if like is not None:
        algorithm = algorithm_of(like)
        if algorithm is None:
            raise ValueError(f"{like!r} is not a content fingerprint")
        hasher = Hasher(algorithm, named=":" in like)
    if isinstance(source, str):
        with open(source, "rb", buffering=0) as handle:
            _feed(hasher, handle)
    else:
        _feed(hasher, source)
    return hasher.fingerprint()


def _feed(hasher: Hasher, handle: IO[bytes]) -> None:
    while True:
        chunk = handle.read(_CHUNK)
        if not chunk:
            return
        hasher.update(chunk)


@singledispatch
def hash_value(value: Any) -> str:
    """Fingerprint of a Python value; DataFrames by content, others by their pickle."""
    return hash_bytes(cloudpickle.dumps(value, protocol=5))


@hash_value.register(bytes)
def _(value: bytes) -> str:
    return hash_bytes(value)


@hash_value.register(str)
def _(value: str) -> str:
    return hash_bytes(value.encode("utf-8"))


@hash_value.register(dict)
@hash_value.register(list)
def _(value: Any) -> str:
    try:
        text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError):
        return hash_bytes(cloudpickle.dumps(value, protocol=5))
    return hash_bytes(text.encode("utf-8"))


@hash_value.register(set)
@hash_value.register(frozenset)
def _(value: Any) -> str:
    # A set's pickle follows its iteration order, which depends on PYTHONHASHSEED: hash the sorted members.
    return hash_bytes(("set:" + ",".join(sorted(hash_value(v) for v in value))).encode("utf-8"))


@hash_value.register(pd.DataFrame)
@hash_value.register(pd.Series)
def _(value: Any) -> str:
    rows = pd.util.hash_pandas_object(value, index=True).to_numpy()
    if isinstance(value, pd.DataFrame):
        names, kinds = list(value.columns), [str(t) for t in value.dtypes]
    else:
        names, kinds = [value.name], [str(value.dtype)]
    header = repr((names, kinds))
    return hash_bytes(header.encode("utf-8") + rows.tobytes())
