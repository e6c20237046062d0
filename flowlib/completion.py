"""Completeness verdicts that ``Task.complete()`` may reuse, and only while they still hold.

luigi's worker asks ``complete()`` of every task it meets, and each answer rests on a
plan of everything upstream. To keep that linear, a COMPLETE verdict is remembered
together with what it rests on: the size, modification time and replacement token
(inode, ETag) of each output and of the record, and the tasks it required. A
remembered verdict is reused only after those files are stat-ed again and found
unchanged, and every upstream verdict with them; a file deleted, truncated or
replaced by anyone makes the next ``complete()`` plan again. Inside one luigi
scheduling pass (:meth:`CompletionCache.scheduling_pass`) a verdict checked once is
trusted for the rest of the pass.

Example:
    >>> cache = CompletionCache()
    >>> cache.reset()
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import luigi

from flowlib.errors import FlowlibError
from flowlib.hashing import algorithm_of
from flowlib.record import record_path, record_stat
from flowlib.storage import FileStat
from flowlib.task import Task

__all__ = ["CompletionCache", "completion_cache", "content_matches"]

# Content fingerprints of files whose time no longer matches their record: (path, size, time, token, algorithm) -> hash.
_rehashed: dict[tuple[str, int, int | None, str, str], str] = {}


def content_matches(target: Any, found: FileStat, fingerprint: str) -> bool:
    """Whether a file that was touched, copied or replaced still holds the content its record fingerprinted.

    The file is hashed once per (size, time, token); files saved without a content hash never match.
    """
    algorithm = algorithm_of(fingerprint)
    if algorithm is None:  # e.g. unhashed-..., memory-...
        return False
    key = (target.path, found.size, found.mtime_ns, found.token, algorithm)
    known = _rehashed.get(key)
    if known is None:
        try:
            known = target.content_fingerprint(like=fingerprint)
        except (OSError, ValueError, FlowlibError):  # unreadable, or an algorithm this process lacks
            return False
        _rehashed[key] = known
    return known == fingerprint


@dataclass(frozen=True)
class _Verdict:
    """A COMPLETE verdict and what it rests on."""

    files: tuple[tuple[Any, FileStat | None], ...]  # (target, stat) per output
    record: FileStat | None
    deps: tuple[luigi.Task, ...]


def _key(task: Task, rerun_stale: bool) -> tuple[str, str, bool]:
    return (task.task_id, record_path(task), rerun_stale)


class CompletionCache:
    """Remembered COMPLETE verdicts, each checked against the files it rests on before reuse."""

    def __init__(self) -> None:
        self._verdicts: dict[tuple[str, str, bool], _Verdict] = {}
        self._trusted: set[tuple[str, str, bool]] | None = None
        self._lock = threading.Lock()

    def reset(self) -> None:
        """Forget every verdict (and every file hashed again)."""
        with self._lock:
            self._verdicts.clear()
            _rehashed.clear()
            if self._trusted is not None:
                self._trusted.clear()

    @contextlib.contextmanager
    def scheduling_pass(self) -> Iterator[None]:
        """Within the block, a verdict found to hold is not checked again (one luigi scheduling pass)."""
        before = self._trusted
        self._trusted = set()
        try:
            yield
        finally:
            self._trusted = before

    def _holds(self, key: tuple[str, str, bool], verdict: _Verdict, task: Task) -> bool:
        """The files under ``verdict`` are as they were when it was reached."""
        if record_stat(task) != verdict.record:
            return False
        return all(target.stat() == stat for target, stat in verdict.files)

    def valid(self, task: luigi.Task, rerun_stale: bool) -> tuple[bool, set[str]]:
        """Whether a remembered verdict says ``task`` is complete and still holds.

        Also returns the ids of every task found complete on the way (the plan need not check them again).
        """
        complete: set[str] = set()
        if not isinstance(task, Task):
            return False, complete
        memo: dict[str, bool] = {}
        trusted = self._trusted
        stack: list[tuple[luigi.Task, bool]] = [(task, False)]
        while stack:
            current, expanded = stack.pop()
            task_id = current.task_id
            if task_id in memo and not expanded:
                continue
            if not isinstance(current, Task):
                memo[task_id] = bool(current.complete())  # plain luigi tasks answer for themselves
                continue
            key = _key(current, rerun_stale)
            verdict = self._verdicts.get(key)
            if verdict is None:
                memo[task_id] = False
                continue
            if expanded:
                memo[task_id] = all(memo.get(dep.task_id, False) for dep in verdict.deps)
                if memo[task_id] and trusted is not None:
                    trusted.add(key)
                continue
            if trusted is not None and key in trusted:
                memo[task_id] = True
                continue
            if not self._holds(key, verdict, current):
                with self._lock:
                    self._verdicts.pop(key, None)
                memo[task_id] = False
                continue
            stack.append((current, True))
            stack.extend((dep, False) for dep in verdict.deps if dep.task_id not in memo)
        complete.update(task_id for task_id, ok in memo.items() if ok)
        return memo.get(task.task_id, False), complete

    def remember(self, nodes: Iterable[Any], rerun_stale: bool, known: set[str]) -> None:
        """Remember the COMPLETE flowlib nodes of a plan (those in ``known`` are remembered already)."""
        trusted = self._trusted
        for node in nodes:
            task = node.task
            if not isinstance(task, Task) or not node.complete or node.task_id in known:
                continue
            targets = task.output()
            stats = node.stats or {}
            files = tuple((targets[key], stats.get(key)) for key in targets)
            key = _key(task, rerun_stale)
            verdict = _Verdict(files, record_stat(task), tuple(dep.task for dep in node.deps))
            with self._lock:
                self._verdicts[key] = verdict
                if trusted is not None:
                    trusted.add(key)


#: The process's one completion cache (``flowlib.caches.reset()`` clears it with the others).
completion_cache = CompletionCache()
