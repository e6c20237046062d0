"""Fingerprints of files and values: one ``singledispatch`` function per kind of value.

Example:
    >>> hash_value({"a": 1}) == hash_value({"a": 1})
    True
"""

from __future__ import annotations

import hashlib
import json
from functools import singledispatch
from typing import IO, Any

import cloudpickle
import pandas as pd

__all__ = ["hash_bytes", "hash_file", "hash_value"]

_CHUNK = 1 << 20


def hash_bytes(data: bytes) -> str:
    """A short hex fingerprint of ``data``."""
    return hashlib.sha256(data).hexdigest()[:32]


def hash_file(source: str | IO[bytes]) -> str:
    """Fingerprint of a file's bytes, read in chunks (a path or an open binary file)."""
    digest = hashlib.sha256()
    if isinstance(source, str):
        with open(source, "rb", buffering=0) as handle:
            _feed(digest, handle)
    else:
        _feed(digest, source)
    return digest.hexdigest()[:32]


def _feed(digest: Any, handle: IO[bytes]) -> None:
    while True:
        chunk = handle.read(_CHUNK)
        if not chunk:
            return
        digest.update(chunk)


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
