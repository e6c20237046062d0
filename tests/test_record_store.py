"""The typed record and the RecordStore contract, run over every backend (log, file and memory)."""

from __future__ import annotations

import json

import pytest

import flowlib
from flowlib.record import (
    FORMAT_VERSION,
    FileRecordStore,
    LogRecordStore,
    MemoryRecordStore,
    NewerRecordError,
    Record,
    RecordFormatError,
    RecordKey,
    RecordStore,
)
from flowlib.storage import get_storage
from flowlib.targets import OutputInfo


def a_record(task_id: str = "Train_abc", **changes) -> Record:
    fields = dict(
        family="Train",
        task_id=task_id,
        params={"lr": "0.1"},
        code="code2:abc",
        outputs={"data": OutputInfo("/x/Train/Train_abc-data.pkl", "xxh3:1", 12, 3, {"x": "int64"}, mtime_ns=5)},
        inputs={"Prep_1": {"data": "xxh3:2"}},
        started="2026-12-01T10:00:00+0000",
        duration=0.5,
        versions={"flowlib": flowlib.__version__},
        metadata={"accuracy": 0.9},
        data="FileFeed:1",
    )
    fields.update(changes)
    return Record(**fields)


def test_a_record_round_trips_through_json_with_its_format_version():
    record = a_record()
    text = record.to_json()
    assert json.loads(text)["format"] == FORMAT_VERSION
    assert Record.from_json(text) == record
    assert record.output_fingerprints() == {"data": "xxh3:1"}


def test_a_record_of_the_first_format_still_reads():
    old = {
        "task_family": "A",
        "task_id": "A_1",
        "code": "abc",
        "outputs": {"data": {"path": "p", "fingerprint": "f", "bytes": 3}},
    }
    record = Record.from_json(json.dumps(old))
    assert record.family == "A" and record.outputs["data"].bytes == 3 and record.data is None


def test_a_record_from_a_newer_flowlib_is_a_clear_error():
    newer = dict(a_record().to_dict(), format=FORMAT_VERSION + 1, versions={"flowlib": "9.0"})
    with pytest.raises(NewerRecordError, match="upgrade flowlib") as info:
        Record.from_json(json.dumps(newer))
    assert "9.0" in str(info.value) and isinstance(info.value, flowlib.FlowlibError)


@pytest.mark.parametrize("text", ["{not json", "[1, 2]"])
def test_text_that_is_not_a_record_is_a_record_format_error(text):
    with pytest.raises(RecordFormatError):
        Record.from_json(text)


def test_metadata_that_json_cannot_hold_is_a_clear_error():
    circular: dict = {}
    circular["me"] = circular
    with pytest.raises(flowlib.FlowlibError, match="save_metadata takes plain values"):
        a_record(metadata={"circular": circular}).to_json()


# -- the contract, over every backend --------------------------------------------------------------------------


@pytest.fixture(params=["log", "file", "memory"])
def store(request) -> RecordStore:
    return {"log": LogRecordStore, "file": FileRecordStore, "memory": MemoryRecordStore}[request.param]()


@pytest.fixture
def key(tmp_path) -> RecordKey:
    return RecordKey(get_storage(str(tmp_path / "root")), "Train", "Train_abc")


def test_store_reads_none_before_a_write(store, key):
    assert store.read(key) is None and store.stat(key) is None


def test_store_reads_what_it_wrote_and_stat_changes_with_each_write(store, key):
    store.write(key, a_record())
    assert store.read(key) == a_record()
    first = store.stat(key)
    store.write(key, a_record(duration=1.5))
    assert store.read(key).duration == 1.5
    assert store.stat(key) != first


def test_store_remove_forgets_and_removing_twice_is_fine(store, key):
    store.write(key, a_record())
    store.remove(key)
    store.remove(key)
    assert store.read(key) is None and store.stat(key) is None


def test_keys_of_different_tasks_do_not_mix(store, key):
    other = RecordKey(key.storage, "Train", "Train_def")
    store.write(key, a_record())
    store.write(other, a_record("Train_def"))
    assert store.read(key).task_id == "Train_abc" and store.read(other).task_id == "Train_def"


def test_the_file_store_keeps_the_layout_and_counts_a_damaged_record_as_none(key):
    store = FileRecordStore()
    store.write(key, a_record())
    path = key.path
    assert path.endswith("/Train/Train_abc.record.json")
    with open(path, "w") as handle:
        handle.write("{damaged")
    assert store.read(key) is None
