"""Every name flowlib gives a file: outputs, records, the lock file and temporary files.

One place decides the on-disk layout, so storage, records, locks, cleanup and the
executor's sweep agree on it::

    <root>/<TaskFamily>/<task_id>-<key><suffix>       an output
    <root>/<TaskFamily>/.flowlib-records.jsonl        the family's records, one line each
    <root>/<TaskFamily>/<task_id>.record.json         a record of its own (object stores, older flowlib)
    <root>/<TaskFamily>/.flowlib.lock                  the family's lock file
    <folder>/.<name>.<pid>.<serial>.tmp                a file being written

Example:
    >>> output_path("/data", "Train", "Train_abc", "model", ".pkl")
    '/data/Train/Train_abc-model.pkl'
    >>> record_path("/data", "Train", "Train_abc")
    '/data/Train/Train_abc.record.json'
    >>> record_log_path("/data", "Train")
    '/data/Train/.flowlib-records.jsonl'
    >>> temp_owner(temp_name("/data/Train/x.pkl").rpartition("/")[2]) == os.getpid()
    True
"""

from __future__ import annotations

import itertools
import os

__all__ = [
    "RECORD_SUFFIX",
    "RECORD_LOG",
    "LOCK_FILE",
    "TEMP_SUFFIX",
    "family_dir",
    "output_path",
    "record_path",
    "record_log_path",
    "temp_name",
    "temp_owner",
    "is_temp",
    "is_record",
]

RECORD_SUFFIX = ".record.json"
RECORD_LOG = ".flowlib-records.jsonl"
LOCK_FILE = ".flowlib.lock"
TEMP_SUFFIX = ".tmp"


def family_dir(root: str, family: str) -> str:
    """The folder of one task family."""
    return f"{root}/{family}"


def output_path(root: str, family: str, task_id: str, key: str, suffix: str) -> str:
    """Where output ``key`` of a task lives."""
    return f"{root}/{family}/{task_id}-{key}{suffix}"


def record_path(root: str, family: str, task_id: str) -> str:
    """Where a task's record lives."""
    return f"{root}/{family}/{task_id}{RECORD_SUFFIX}"


def record_log_path(root: str, family: str) -> str:
    """Where the records of a family live on local disks (one line per record)."""
    return f"{root}/{family}/{RECORD_LOG}"


_serial = itertools.count()


def temp_name(path: str) -> str:
    """A temporary name beside ``path``: ``.<name>.<pid>.<serial>.tmp``, unique among live processes."""
    head, _, tail = path.rpartition("/")
    return f"{head}/.{tail}.{os.getpid()}.{next(_serial):08x}{TEMP_SUFFIX}"


def is_temp(name: str) -> bool:
    """Whether a file name (no folder) is one :func:`temp_name` makes."""
    return name.startswith(".") and name.endswith(TEMP_SUFFIX)


def temp_owner(name: str) -> int | None:
    """The pid in a file name made by :func:`temp_name`; ``None`` when ``name`` is not one."""
    if not is_temp(name):
        return None
    pieces = name[1:].rsplit(".", 3)  # <name>.<pid>.<random>.tmp
    return int(pieces[1]) if len(pieces) == 4 and pieces[1].isdigit() else None


def is_record(name: str) -> bool:
    """Whether a file name is a record's."""
    return name.endswith(RECORD_SUFFIX)
