"""orphans / clean: files under the root that none of the given flows produce (issue 5 item 7)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pandas as pd
import pytest

import flowlib
from flowlib.cleanup import CleanReport, clean, orphans
from flowlib.locks import LOCK_FILE, locking_available
from flowlib.record import RECORD_SUFFIX, RecordKey, log_records, record_path
from flowlib.storage import get_storage


def flow():
    """Source(n) -> Double(n), Double with two outputs."""

    class ClSource(flowlib.TaskParquet):
        n = flowlib.IntParameter(default=3)

        def run(self):
            self.save(pd.DataFrame({"x": range(self.n)}))

    @flowlib.requires(ClSource)
    class ClDouble(flowlib.TaskPickle):
        persist = ["doubled", "count"]

        def run(self):
            df = self.input_load()
            self.save({"doubled": (df.x * 2).tolist(), "count": len(df)})

    return ClSource, ClDouble


def files_of(*tasks):
    """The output paths of ``tasks`` and their records (``<log>#<task_id>`` for a line in a family's log)."""
    paths = []
    for task in tasks:
        paths.extend(target.path for target in task.output().values())
        path = record_path(task)
        paths.append(path if path.endswith(RECORD_SUFFIX) else f"{path}#{task.task_id}")
    return sorted(paths)


def exists(path: str) -> bool:
    """Whether a file, or a record in a family's log (``<log>#<task_id>``), is there."""
    return _record_stat(path) is not None if "#" in path else os.path.exists(path)


def size(path: str) -> int:
    return _record_stat(path).size if "#" in path else os.path.getsize(path)


def _record_stat(path: str):
    log, _, task_id = path.partition("#")
    folder = os.path.dirname(log)
    storage = get_storage(os.path.dirname(folder))
    return log_records.stat(RecordKey(storage, os.path.basename(folder), task_id))


def dead_pid() -> int:
    """The pid of a process that has exited."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_nothing_is_orphaned_right_after_a_run():
    ClSource, ClDouble = flow()
    flowlib.run(ClDouble())
    assert orphans(ClDouble()) == []
    assert clean(ClDouble()) == CleanReport(files=(), bytes=0, dry_run=True)


def test_old_parameter_sets_are_orphans_and_clean_removes_them_only_when_asked():
    ClSource, ClDouble = flow()
    flowlib.run([ClDouble(n=2), ClDouble(n=5)])
    old = files_of(ClSource(n=2), ClDouble(n=2))
    assert orphans(ClDouble(n=5)) == old
    assert orphans([ClDouble(n=5), ClDouble(n=2)]) == []  # every flow passed keeps its files

    report = clean(ClDouble(n=5))
    assert report.dry_run and list(report.files) == old
    assert report.bytes == sum(size(p) for p in old) > 0
    assert all(exists(p) for p in old)  # a dry run removes nothing
    assert "dry run: 5 orphaned files" in str(report) and "dry_run=False" in str(report)

    done = clean(ClDouble(n=5), dry_run=False)
    assert not done.dry_run and done.files == report.files and done.bytes == report.bytes and done.failed == ()
    assert str(done).startswith("removed 5 orphaned files")
    assert not any(exists(p) for p in old)
    assert orphans(ClDouble(n=5)) == []
    assert flowlib.run(ClDouble(n=5)).ran == []  # the kept flow is untouched and complete
    assert ClDouble(n=5).output_load("count") == 5


def test_outputs_of_incomplete_tasks_in_the_flow_are_kept():
    ClSource, ClDouble = flow()
    flowlib.run(ClDouble())
    Path(ClDouble().output()["count"].path).unlink()  # ClDouble is now PENDING, its other output stays
    assert orphans(ClDouble()) == []


def test_a_removed_task_leaves_orphans(flowlib_root):
    ClSource, ClDouble = flow()

    class ClRetired(flowlib.TaskPickle):
        def run(self):
            self.save("no longer used")

    flowlib.run([ClDouble(), ClRetired()])
    assert orphans(ClDouble()) == files_of(ClRetired())
    clean(ClDouble(), dry_run=False)
    folder = flowlib_root / "ClRetired"
    # The folder and its lock file stay (a running process may hold the lock); nothing else does.
    assert sorted(p.name for p in folder.iterdir()) == ([LOCK_FILE] if locking_available() else [])
    # The same process can run the task again (its storage and lock caches still hold).
    assert flowlib.run(ClRetired()).ran == [ClRetired()]


def test_a_folder_deleted_by_hand_is_made_again(flowlib_root):
    ClSource, ClDouble = flow()
    flowlib.run(ClDouble())
    shutil.rmtree(flowlib_root / "ClDouble")
    assert flowlib.run(ClDouble()).ran == [ClDouble()]


def test_files_flowlib_did_not_write_are_never_listed(flowlib_root):
    ClSource, ClDouble = flow()
    flowlib.run(ClDouble())
    user_files = [
        flowlib_root / "README.txt",
        flowlib_root / "raw" / "input.csv",
        flowlib_root / "ClDouble" / "notes.txt",
        flowlib_root / "ClDouble" / "Other_1_abc-data.pkl",  # not named after the folder's family
        flowlib_root / "ClDouble" / "sub" / "ClDouble_x-data.pkl",  # deeper than a family folder
        flowlib_root / "ClDouble" / ".hidden.tmp",
    ]
    for path in user_files:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("keep me")
    assert orphans(ClDouble()) == []
    clean(ClDouble(), dry_run=False)
    assert all(path.exists() for path in user_files)


def test_leftover_temporary_files_of_dead_processes(flowlib_root):
    ClSource, ClDouble = flow()
    flowlib.run(ClDouble())
    folder = flowlib_root / "ClDouble"
    name = Path(ClDouble().output()["count"].path).name
    dead = folder / f".{name}.{dead_pid()}.{uuid.uuid4().hex[:8]}.tmp"
    alive = folder / f".{name}.{os.getppid()}.{uuid.uuid4().hex[:8]}.tmp"  # a live process may be writing it
    mine = folder / f".{name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
    for path in (dead, alive, mine):
        path.write_bytes(b"partial")
    assert orphans(ClDouble()) == [str(dead)]
    report = clean(ClDouble(), dry_run=False)
    assert report.files == (str(dead),) and report.bytes == len(b"partial")
    assert not dead.exists() and alive.exists() and mine.exists()


def test_several_flows_and_a_root_of_their_own(tmp_path):
    ClSource, ClDouble = flow()
    own_root = str(tmp_path / "elsewhere")

    class ClOwnRoot(flowlib.TaskPickle):
        root = own_root
        k = flowlib.IntParameter()

        def run(self):
            self.save(self.k)

    flowlib.run([ClDouble(), ClOwnRoot(k=1), ClOwnRoot(k=2)])
    assert orphans([ClDouble(), ClOwnRoot(k=1), ClOwnRoot(k=2)]) == []
    assert orphans([ClDouble(), ClOwnRoot(k=1)]) == files_of(ClOwnRoot(k=2))
    # root= scans one root only: the default root holds nothing of ClOwnRoot.
    assert orphans([ClDouble()], root=own_root) == files_of(ClOwnRoot(k=1), ClOwnRoot(k=2))
    assert orphans([], root=own_root) == orphans([ClDouble()], root=own_root)


def test_fsspec_root():
    pytest.importorskip("fsspec")
    import fsspec

    url = f"memory://flowlib-clean-{uuid.uuid4().hex[:8]}"
    flowlib.set_dir(url)
    ClSource, ClDouble = flow()
    flowlib.run([ClDouble(n=1), ClDouble(n=4)])
    old = files_of(ClSource(n=1), ClDouble(n=1))
    assert all(p.startswith(f"memory:///flowlib-clean-{url.rsplit('-', 1)[1]}/") for p in old)  # scheme kept
    assert orphans(ClDouble(n=4)) == old
    fs = fsspec.filesystem("memory")
    assert clean(ClDouble(n=4)).bytes == sum(fs.size(p) for p in old)
    report = clean(ClDouble(n=4), dry_run=False)
    assert report.files == tuple(old)
    assert not any(fs.exists(p) for p in old)
    assert orphans(ClDouble(n=4)) == []
    assert flowlib.run(ClDouble(n=4)).ran == []
    fs.rm(url, recursive=True)


def test_a_file_that_cannot_be_removed_is_reported(flowlib_root, monkeypatch):
    ClSource, ClDouble = flow()
    flowlib.run([ClDouble(n=1), ClDouble(n=2)])
    storage = ClDouble().storage()
    stuck = next(p for p in files_of(ClDouble(n=1)) if "#" not in p)  # an output file
    real_remove = type(storage).remove

    def remove(self, path):
        if path == stuck:
            raise PermissionError(13, "Permission denied", path)
        real_remove(self, path)

    monkeypatch.setattr(type(storage), "remove", remove)
    report = clean(ClDouble(n=2), dry_run=False)
    assert report.failed == (stuck,) and stuck not in report.files
    assert "1 could not be removed" in str(report)
    assert orphans(ClDouble(n=2)) == [stuck]
