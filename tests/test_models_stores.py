"""Contract tests: every registry store (local folder, fsspec memory://) behaves the same."""

from __future__ import annotations

import uuid

import pytest

from flowlib.models.stores import TAG_FILE, FsspecStore, LocalStore, RegistryStore, open_store


@pytest.fixture(params=["local", "memory"])
def store(request, tmp_path) -> RegistryStore:
    if request.param == "local":
        return open_store(tmp_path / "store")
    return open_store(f"memory://store-{uuid.uuid4().hex}")


def test_open_store_picks_the_backend(tmp_path):
    assert isinstance(open_store(tmp_path), LocalStore)
    assert isinstance(open_store(f"file://{tmp_path}"), LocalStore)
    assert isinstance(open_store("memory://x"), FsspecStore)


def test_empty_store(store):
    assert store.children("") == []
    assert store.children("p/1.0") == []
    assert store.generations("p/1.0") == []
    assert not store.exists("p/1.0/1/tag.json")
    with pytest.raises(FileNotFoundError):
        store.read("p/1.0/1/tag.json")


def test_publish_numbers_and_contents(store):
    assert store.publish("p/1.0", {"state.pkl": b"one", TAG_FILE: b"{}"}) == 1
    assert store.publish("p/1.0", {"state.pkl": b"two", TAG_FILE: b"{}"}) == 2
    assert store.publish("p/2.0", {"state.pkl": b"other", TAG_FILE: b"{}"}) == 1
    assert store.generations("p/1.0") == [1, 2]
    assert store.read("p/1.0/2/state.pkl") == b"two"
    assert store.exists("p/1.0/1/tag.json")
    assert store.children("") == ["p"]
    assert store.children("p") == ["1.0", "2.0"]
    assert sorted(store.children("p/1.0/1")) == ["state.pkl", TAG_FILE]


def test_retire_leaves_a_tombstone_and_numbers_are_not_reused(store):
    for _ in range(3):
        store.publish("p/1.0", {"state.pkl": b"x", TAG_FILE: b"{}"})
    store.retire("p/1.0", 3)
    store.retire("p/1.0", 1)
    assert store.generations("p/1.0") == [2]
    with pytest.raises(FileNotFoundError):
        store.read("p/1.0/3/state.pkl")
    assert store.publish("p/1.0", {"state.pkl": b"y", TAG_FILE: b"{}"}) == 4


def test_a_generation_without_its_tag_is_not_listed(store):
    store.publish("p/1.0", {"state.pkl": b"x"})  # no tag file: not a finished generation
    assert store.generations("p/1.0") == []
    assert store.publish("p/1.0", {"state.pkl": b"y", TAG_FILE: b"{}"}) == 2  # its number stays taken
    assert store.generations("p/1.0") == [2]
