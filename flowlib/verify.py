"""Check every output of a flow on disk: present, readable, and still what its record says it is.

``verify`` walks the flow once and, for each persisted file output, checks that it
exists, that it parses (Parquet: its footer; CSV and JSON: a full parse; pickle: its
opcode stream, *without* running it), and that its size, row count and fingerprint
match the record the task wrote when it completed. It never changes anything.

The report is a sequence of the bad outputs only: empty, hence falsy, when every
output is sound (``report.ok`` says the same in words).

Example:
    >>> report = verify(Train(scale=2.0))  # doctest: +SKIP
    >>> if report:  # some outputs are bad
    ...     print(report)
    ...     report.invalidate()  # remove the damaged tasks' outputs; the next run redoes them
"""

from __future__ import annotations

import enum
import io
import json
import logging
import pickletools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import singledispatch
from typing import IO

import luigi
import pyarrow.parquet as pq

from flowlib.hashing import algorithm_of
from flowlib.plan import as_task_list, build_plan
from flowlib.record import read_record, record_stat
from flowlib.targets import DatasetTarget, FileTarget, JSONTarget, OutputInfo, ParquetTarget, PickleTarget
from flowlib.targets.base import describe
from flowlib.task import Task

__all__ = ["verify", "VerifyReport", "BadOutput", "Problem"]

logger = logging.getLogger(__name__)


class Problem(str, enum.Enum):
    """What is wrong with one output."""

    MISSING = "missing"  # the record, or the task's other outputs, say it should be there
    CORRUPT = "corrupt"  # it cannot be parsed in its format
    TRUNCATED = "truncated"  # it parses, but has fewer bytes or rows than recorded
    MODIFIED = "modified"  # its size, rows or fingerprint differ from the record
    UNRECORDED = "unrecorded"  # it exists but no record vouches for it (an interrupted run)

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class BadOutput:
    """One bad output: which task and output, where, what is wrong, and the details."""

    task: Task
    key: str
    path: str
    problem: Problem
    detail: str

    def __str__(self) -> str:
        return f"{self.problem.value}: {self.task} output {self.key!r} ({self.path}): {self.detail}"


@dataclass(frozen=True)
class VerifyReport:
    """The bad outputs of a flow; empty (and falsy) when every output is sound.

    ``checked`` counts the outputs examined, ``tasks`` the flowlib tasks with files,
    ``not_run`` the tasks that have neither outputs nor a record (nothing to check).
    """

    bad: tuple[BadOutput, ...] = ()
    checked: int = 0
    tasks: int = 0
    not_run: tuple[Task, ...] = ()

    @property
    def ok(self) -> bool:
        """``True`` when no output is bad."""
        return not self.bad

    def __len__(self) -> int:
        return len(self.bad)

    def __iter__(self) -> Iterator[BadOutput]:
        return iter(self.bad)

    def __getitem__(self, index: int) -> BadOutput:
        return self.bad[index]

    def __bool__(self) -> bool:
        """Truthy when something is wrong, like a non-empty list of problems."""
        return bool(self.bad)

    def bad_tasks(self) -> list[Task]:
        """The distinct tasks with at least one bad output, in flow order."""
        seen: dict[str, Task] = {}
        for item in self.bad:
            seen.setdefault(item.task.task_id, item.task)
        return list(seen.values())

    def paths(self) -> list[str]:
        """The paths of the bad outputs."""
        return [item.path for item in self.bad]

    def invalidate(self) -> list[Task]:
        """Remove the outputs and records of every task with a bad output; returns those tasks."""
        tasks = self.bad_tasks()
        for task in tasks:
            task.invalidate()
        return tasks

    def __str__(self) -> str:
        head = f"flowlib verify: {self.checked} outputs of {self.tasks} tasks checked"
        if not self.bad:
            suffix = f"; {len(self.not_run)} tasks not run yet" if self.not_run else ""
            return f"{head}, all sound{suffix}"
        lines = [f"{head}, {len(self.bad)} bad:"]
        lines.extend(f"  {item}" for item in self.bad)
        names = ", ".join(str(t) for t in self.bad_tasks())
        lines.append(f"Recover: report.invalidate() (or task.invalidate() for {names}), then run the flow again")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"VerifyReport(bad={len(self.bad)}, checked={self.checked}, tasks={self.tasks})"


def verify(tasks: luigi.Task | Iterable[luigi.Task], *, fingerprints: bool = True, deep: bool = False) -> VerifyReport:
    """Check every file output of the flow(s) ending in ``tasks``; the report lists only bad outputs.

    Args:
        fingerprints: also hash each file and compare with its recorded fingerprint (reads every byte
            once); ``False`` checks existence, format, size and rows only.
        deep: load every output fully with its format (catches damage inside Parquet data pages
            even without a record). Pickles are then *unpickled*, which runs code: trusted roots only.

    Example:
        >>> report = verify([Train(scale=2.0), Train(scale=3.0)])  # doctest: +SKIP
        >>> report.ok, len(report)  # doctest: +SKIP
        (True, 0)
    """
    plan = build_plan(as_task_list(tasks, "flowlib.verify()"), rerun_stale=False)
    bad: list[BadOutput] = []
    not_run: list[Task] = []
    checked = counted_tasks = 0
    for node in plan.nodes:
        task = node.task
        if not isinstance(task, Task) or not task.target_class.is_file:
            continue
        counted_tasks += 1
        found, examined = _verify_task(task, fingerprints=fingerprints, deep=deep)
        if examined is None:
            not_run.append(task)
            continue
        checked += examined
        bad.extend(found)
    report = VerifyReport(tuple(bad), checked, counted_tasks, tuple(not_run))
    logger.info("%s", report)
    return report


def _verify_task(task: Task, *, fingerprints: bool, deep: bool) -> tuple[list[BadOutput], int | None]:
    """The bad outputs of one task and how many outputs were examined (``None``: never run)."""
    record = read_record(task)
    targets = task.output()
    present = {key: target.exists() for key, target in targets.items()}
    record_damaged = record is None and record_stat(task) is not None
    if record is None and not record_damaged and not any(present.values()):
        return [], None
    recorded = record.outputs if record is not None else {}
    bad: list[BadOutput] = []
    for key, target in targets.items():
        if not present[key]:
            why = "its record says it was saved" if record is not None else "the task's other outputs exist"
            bad.append(BadOutput(task, key, target.path, Problem.MISSING, f"the file is gone; {why}"))
            continue
        assert isinstance(target, (FileTarget, DatasetTarget))
        found = _check_file(target, recorded.get(key), fingerprints=fingerprints, deep=deep)
        if found is None and record is None:
            why = "its record is damaged" if record_damaged else "the task has no record (an interrupted run?)"
            found = (Problem.UNRECORDED, f"{why}; the task will rerun")
        if found is not None:
            bad.append(BadOutput(task, key, target.path, *found))
    return bad, len(targets)


def _check_file(
    target: FileTarget | DatasetTarget, recorded: OutputInfo | None, *, fingerprints: bool, deep: bool
) -> tuple[Problem, str] | None:
    storage = target.storage
    try:
        found = target.stat()
        if found is None:
            raise FileNotFoundError(target.path)
        size = found.size
        if isinstance(target, DatasetTarget):
            rows: int | None = _dataset_rows(target, deep)
        else:
            with storage.reading(target.path) as source:
                rows = _load_rows(target, source) if deep else _parse(target, source)
    except FileNotFoundError:
        return Problem.MISSING, "the file vanished while being checked"
    except Exception as exc:  # noqa: BLE001 - any parse failure means the file is damaged
        return Problem.CORRUPT, f"cannot be read as {target.name}: {type(exc).__name__}: {exc}"
    if recorded is None:
        return None
    want_rows = recorded.rows
    if isinstance(want_rows, int) and rows is not None and rows != want_rows:
        kind = Problem.TRUNCATED if rows < want_rows else Problem.MODIFIED
        return kind, f"has {rows} rows; its record says {want_rows}"
    want_bytes = recorded.bytes
    if isinstance(want_bytes, int) and want_bytes and size != want_bytes:
        kind = Problem.TRUNCATED if size < want_bytes else Problem.MODIFIED
        return kind, f"is {size} bytes; its record says {want_bytes}"
    want_hash = recorded.fingerprint
    # Outputs saved without a content hash (settings.fingerprint_outputs off) have none to compare.
    if fingerprints and want_hash and algorithm_of(want_hash) is not None:
        try:
            actual = target.content_fingerprint(like=want_hash)
        except ValueError:  # made with an algorithm this process lacks (xxhash not installed)
            return None
        if actual != want_hash:
            return (
                Problem.MODIFIED,
                f"its content changed since it was saved (fingerprint {actual}, recorded {want_hash})",
            )
    return None


def _dataset_rows(target: DatasetTarget, deep: bool) -> int:
    """Rows of a dataset: every part the manifest lists is there with its size, and its footer reads
    (``deep``: every row is read)."""
    dataset = target.dataset()
    if deep:
        return sum(batch.num_rows for batch in target.batches())
    return sum(int(pq.read_metadata(path, filesystem=dataset.filesystem).num_rows) for path in dataset.files)


def _load_rows(target: FileTarget, source: str | IO[bytes]) -> int | None:
    """Load the output fully with its own format; its row count when it is a table."""
    rows, _schema = describe(target.read(source))
    return rows


@singledispatch
def _parse(target: FileTarget, source: str | IO[bytes]) -> int | None:
    """Parse the file as the target's format; rows when known. By default (CSV included): a full load
    with the target's own reader, so verify reads exactly what ``load`` would."""
    return _load_rows(target, source)


@_parse.register
def _(target: ParquetTarget, source: str | IO[bytes]) -> int | None:
    return int(pq.read_metadata(source).num_rows)  # the footer: cheap, and a truncated file has none


@_parse.register
def _(target: JSONTarget, source: str | IO[bytes]) -> int | None:
    if isinstance(source, str):
        with open(source, encoding="utf-8") as handle:
            data = json.load(handle)
    else:
        data = json.load(io.TextIOWrapper(source, encoding="utf-8"))
    if isinstance(data, dict) and isinstance(data.get("schema"), dict) and isinstance(data.get("data"), list):
        return len(data["data"])  # a DataFrame in pandas' table orient
    return None


@_parse.register
def _(target: PickleTarget, source: str | IO[bytes]) -> int | None:
    # Walk the opcodes to the STOP without executing any of them: verifying never runs a pickle's code.
    if isinstance(source, str):
        with open(source, "rb") as handle:
            _walk_pickle(handle)
    else:
        _walk_pickle(source)
    return None


def _walk_pickle(handle: IO[bytes]) -> None:
    stopped = False
    for opcode, _arg, _pos in pickletools.genops(handle):
        if opcode.name == "STOP":
            stopped = True
    if not stopped:  # pragma: no cover - genops raises on a missing STOP itself
        raise ValueError("pickle ends before its STOP opcode")
