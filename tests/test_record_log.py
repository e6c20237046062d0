"""The record log: one appended line per record, shared by a task family, from several processes at once."""

from __future__ import annotations

import multiprocessing
import os
import time

import pytest

import flowlib
import flowlib.record.log as log_module
from flowlib.record import FileRecordStore, LogRecordStore, Record, RecordKey, forget_logs, read_record, record_path
from flowlib.storage import get_storage


def a_record(task_id: str, version: int = 0) -> Record:
    return Record(family="Train", task_id=task_id, code=f"code2:{version}", metadata={"version": version})


@pytest.fixture
def storage(tmp_path):
    forget_logs()
    yield get_storage(str(tmp_path / "root"))
    forget_logs()


def key_of(storage, task_id: str) -> RecordKey:
    return RecordKey(storage, "Train", task_id)


def log_lines(storage) -> list[bytes]:
    with open(f"{storage.root}/Train/.flowlib-records.jsonl", "rb") as handle:
        return [line for line in handle.read().split(b"\n") if line]


def _writer(root: str, worker: int, count: int) -> None:
    store, storage = LogRecordStore(), get_storage(root)
    for version in (1, 2):
        for i in range(count):
            store.write(key_of(storage, f"Train_{worker}_{i}"), a_record(f"Train_{worker}_{i}", version))


def test_writers_in_several_processes_lose_no_record_while_the_log_is_compacted(storage, monkeypatch):
    monkeypatch.setattr(log_module, "COMPACT_AFTER", 64)  # forked writers inherit it: many compactions
    workers, count = 4, 150
    context = multiprocessing.get_context("fork")
    processes = [context.Process(target=_writer, args=(storage.root, w, count)) for w in range(workers)]
    for process in processes:
        process.start()
    store = LogRecordStore()
    while any(process.is_alive() for process in processes):  # read (and compact) meanwhile
        store.read(key_of(storage, "Train_0_0"))
    for process in processes:
        process.join()
        assert process.exitcode == 0
    forget_logs()
    for w in range(workers):
        for i in range(count):
            record = store.read(key_of(storage, f"Train_{w}_{i}"))
            assert record is not None and record.metadata == {"version": 2}, (w, i)
    assert len(log_lines(storage)) < 3 * workers * count  # compacted at least once


def test_a_line_torn_by_a_crash_is_a_damaged_record_and_the_lines_after_it_survive(storage):
    store = LogRecordStore()
    store.write(key_of(storage, "Train_a"), a_record("Train_a"))
    with open(f"{storage.root}/Train/.flowlib-records.jsonl", "ab") as handle:
        handle.write(b'\n{"task_id":"Train_b","record":{"format":2,"task_id":"Tr')  # killed mid-write
    other = LogRecordStore()  # another process, after the crash
    forget_logs()
    other.write(key_of(storage, "Train_c"), a_record("Train_c"))
    forget_logs()
    assert store.read(key_of(storage, "Train_a")) == a_record("Train_a")
    assert store.read(key_of(storage, "Train_c")) == a_record("Train_c")
    assert store.read(key_of(storage, "Train_b")) is None  # the task runs again
    assert store.stat(key_of(storage, "Train_b")) is not None  # ...and verify can say its record is damaged


def test_a_line_still_being_written_is_read_once_it_is_complete(storage):
    store = LogRecordStore()
    store.write(key_of(storage, "Train_a"), a_record("Train_a"))
    line = b'{"task_id":"Train_b","record":' + a_record("Train_b").to_json() + b"}"
    path = f"{storage.root}/Train/.flowlib-records.jsonl"
    with open(path, "ab") as handle:
        handle.write(b"\n" + line[:20])
    assert store.read(key_of(storage, "Train_b")) is None
    with open(path, "ab") as handle:
        handle.write(line[20:] + b"\n")
    assert store.read(key_of(storage, "Train_b")) == a_record("Train_b")


def test_stat_changes_only_when_the_task_s_own_record_changes(storage):
    store = LogRecordStore()
    store.write(key_of(storage, "Train_a"), a_record("Train_a"))
    before = store.stat(key_of(storage, "Train_a"))
    store.write(key_of(storage, "Train_b"), a_record("Train_b"))
    assert store.stat(key_of(storage, "Train_a")) == before
    store.write(key_of(storage, "Train_a"), a_record("Train_a", 1))
    assert store.stat(key_of(storage, "Train_a")) != before


def test_compaction_keeps_the_newest_line_of_each_live_task(storage, monkeypatch):
    monkeypatch.setattr(log_module, "COMPACT_AFTER", 20)
    store = LogRecordStore()
    for version in range(30):
        store.write(key_of(storage, "Train_a"), a_record("Train_a", version))
        store.read(key_of(storage, "Train_a"))
    store.write(key_of(storage, "Train_gone"), a_record("Train_gone"))
    store.remove(key_of(storage, "Train_gone"))
    assert len(log_lines(storage)) < 25
    forget_logs()
    assert store.read(key_of(storage, "Train_a")).metadata == {"version": 29}
    assert store.read(key_of(storage, "Train_gone")) is None
    store.drop(storage, "Train", set())
    assert len(log_lines(storage)) == 1


def test_a_record_file_of_an_older_flowlib_is_read_and_removed_with_the_record(storage):
    key = key_of(storage, "Train_a")
    FileRecordStore().write(key, a_record("Train_a"))
    store = LogRecordStore()
    assert store.read(key) == a_record("Train_a")
    store.write(key, a_record("Train_a", 1))
    assert store.read(key).metadata == {"version": 1}  # the log's line is newer than the file
    store.remove(key)
    assert store.read(key) is None and not os.path.exists(key.path)


class RlData(flowlib.TaskPickle):
    n = flowlib.IntParameter(default=1)

    def run(self):
        self.save(self.n)


def test_local_records_go_to_the_family_log_unless_settings_ask_for_files(tmp_path, monkeypatch):
    flowlib.set_dir(str(tmp_path / "logs"))
    try:
        flowlib.run([RlData(n=1), RlData(n=2)], execution_summary=False)
        folder = tmp_path / "logs" / "RlData"
        assert sorted(p.name for p in folder.iterdir() if p.name.endswith(".jsonl")) == [".flowlib-records.jsonl"]
        assert not list(folder.glob("*.record.json"))
        assert record_path(RlData(n=1)) == str(folder / ".flowlib-records.jsonl")
        assert read_record(RlData(n=2)).outputs["data"].path == RlData(n=2).output()["data"].path

        monkeypatch.setattr(flowlib.settings, "record_store", "files")
        flowlib.set_dir(str(tmp_path / "files"))
        flowlib.run(RlData(n=3), execution_summary=False)
        assert (tmp_path / "files" / "RlData" / f"{RlData(n=3).task_id}.record.json").exists()
        assert not (tmp_path / "files" / "RlData" / ".flowlib-records.jsonl").exists()

        monkeypatch.setattr(flowlib.settings, "record_store", "sqlite")
        with pytest.raises(flowlib.FlowlibError, match=r"record_store is 'sqlite'; set it to one of"):
            read_record(RlData(n=3))
    finally:
        flowlib.set_dir(None)


def _rewrite_in_place(path: str, data: bytes) -> None:
    """Replace a file's bytes keeping its inode, as when a removed log's inode is reused for a new one."""
    with open(path, "r+b") as handle:
        handle.truncate(0)
        handle.write(data)


def test_a_log_replaced_under_the_same_inode_is_read_again(storage):
    store = LogRecordStore()
    for name in ("Train_a", "Train_b"):
        store.write(key_of(storage, name), a_record(name))
    assert store.read(key_of(storage, "Train_a")) is not None  # this process has read the log
    path = f"{storage.root}/Train/.flowlib-records.jsonl"
    inode = os.stat(path).st_ino
    other = b"".join(
        b"\n" + b'{"task_id":"%s","record":' % name.encode() + a_record(name, 7).to_json() + b"}\n"
        for name in ("Train_c", "Train_d", "Train_e")
    )
    _rewrite_in_place(path, other)  # a different, longer log at the same inode
    assert os.stat(path).st_ino == inode and len(other) > 2 * len(log_lines(storage)[0])
    assert store.read(key_of(storage, "Train_a")) is None
    assert store.read(key_of(storage, "Train_d")).metadata == {"version": 7}


def test_a_log_rewritten_in_place_with_the_same_size_is_read_again(storage):
    store = LogRecordStore()
    store.write(key_of(storage, "Train_a"), a_record("Train_a", 1))
    assert store.read(key_of(storage, "Train_a")).metadata == {"version": 1}
    path = f"{storage.root}/Train/.flowlib-records.jsonl"
    data = open(path, "rb").read()
    time.sleep(0.01)  # a modification time of its own
    _rewrite_in_place(path, data.replace(b'"version":1', b'"version":2'))
    assert store.read(key_of(storage, "Train_a")).metadata == {"version": 2}
