"""Partitioned Parquet datasets: TaskDataset, save_batches, lazy loading, fingerprints, cleanup, object stores."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pytest

import flowlib
import flowlib.caches
from flowlib.execution.attempt import sweep_temp_files
from flowlib.layout import RECORD_LOG
from flowlib.record import record_stat
from flowlib.targets import DatasetTarget
from flowlib.targets.dataset import MANIFEST


def frame(start: int, rows: int) -> pd.DataFrame:
    values = np.arange(start, start + rows)
    return pd.DataFrame(
        {
            "day": values % 4,
            "user": [f"u{v % 7}" for v in values],
            "amount": values * 0.5,
            "n": values,
        }
    )


class DsEvents(flowlib.TaskDataset):
    """Streams 10 batches of 1000 rows, 3000 rows per part file."""

    batches = flowlib.IntParameter(default=10)
    part_rows = 3000

    def run(self):
        self.save_batches(frame(i * 1000, 1000) for i in range(self.batches))


class DsByDay(flowlib.TaskDataset):
    partition_on = ["day"]

    def run(self):
        self.save(frame(0, 2000))


@flowlib.requires(DsEvents)
class DsTotal(flowlib.TaskJSON):
    def run(self):
        sizes, total = [], 0.0
        for batch in self.input_batches(columns=["amount"], batch_size=700):
            sizes.append(batch.num_rows)
            total += batch["amount"].to_numpy().sum()
        self.save({"total": total, "largest_batch": max(sizes), "columns": batch.schema.names})


def part_files(task) -> list[Path]:
    return sorted(p for p in Path(task.output()["data"].path).rglob("*.parquet"))


def test_save_batches_streams_into_bounded_parts_and_loads_back():
    flowlib.run(DsTotal(), execution_summary=False)
    loaded = DsEvents().output_load()
    pd.testing.assert_frame_equal(loaded, frame(0, 10_000), check_dtype=False)
    assert list(loaded.dtypes.astype(str)) == ["int64", "str", "float64", "int64"]
    rows = [pa.parquet.read_metadata(p).num_rows for p in part_files(DsEvents())]
    assert rows == [3000, 3000, 3000, 1000]
    manifest = json.loads((Path(DsEvents().output()["data"].path) / MANIFEST).read_text())
    assert manifest["rows"] == 10_000 and manifest["files"] == 4
    assert [part["bytes"] for part in manifest["parts"]] == [p.stat().st_size for p in part_files(DsEvents())]
    result = DsTotal().output_load()
    assert result == {"total": frame(0, 10_000)["amount"].sum(), "largest_batch": 700, "columns": ["amount"]}


def test_the_record_describes_the_manifest_and_the_data():
    flowlib.run(DsEvents(), execution_summary=False)
    info = DsEvents().metadata().outputs["data"]
    manifest = Path(info.path) / MANIFEST
    assert info.bytes == manifest.stat().st_size and info.mtime_ns == manifest.stat().st_mtime_ns
    assert info.rows == 10_000
    assert set(info.schema) == {"day", "user", "amount", "n"}


def test_hive_partitions_on_disk_and_filters_and_columns_on_load():
    flowlib.run(DsByDay(), execution_summary=False)
    folder = Path(DsByDay().output()["data"].path)
    assert sorted(p.name for p in folder.iterdir() if p.is_dir()) == ["day=0", "day=1", "day=2", "day=3"]
    assert "day" not in pa.parquet.read_schema(next((folder / "day=2").iterdir())).names
    expected = frame(0, 2000)
    whole = DsByDay().output_load().sort_values("n").reset_index(drop=True)
    pd.testing.assert_frame_equal(whole, expected, check_dtype=False)
    assert whole["day"].dtype == np.int64  # the partition column keeps its type
    picked = DsByDay().output_load(columns=["n", "user"], filters=[("day", "=", 3), ("n", "<", 100)])
    want = expected[(expected.day == 3) & (expected.n < 100)][["n", "user"]]
    assert sorted(picked["n"]) == sorted(want["n"]) and list(picked.columns) == ["n", "user"]
    by_expression = DsByDay().output_load(filters=ds.field("user") == "u3")
    assert len(by_expression) == (expected.user == "u3").sum()


def test_output_dataset_is_a_pyarrow_dataset_that_prunes_partitions():
    flowlib.run(DsByDay(), execution_summary=False)
    dataset = DsByDay().output_dataset()
    assert isinstance(dataset, ds.Dataset)
    fragments = list(dataset.get_fragments(filter=ds.field("day") == 1))
    assert len(fragments) == 1 and "day=1" in fragments[0].path
    table = dataset.to_table(columns=["amount"], filter=ds.field("day") == 1)
    assert table.num_rows == 500 and table.column_names == ["amount"]


def test_errors_name_the_task_and_the_fix():
    flowlib.run(DsEvents(), execution_summary=False)

    class DsPlain(flowlib.TaskParquet):
        def run(self):
            self.save(frame(0, 3))

    class DsWrongRows(flowlib.TaskDataset):
        def run(self):
            self.save_batches([frame(0, 3), pd.DataFrame({"other": [1]})])

    class DsNoBatch(flowlib.TaskDataset):
        def run(self):
            self.save_batches([])

    flowlib.run(DsPlain(), execution_summary=False)
    with pytest.raises(flowlib.TargetFormatError, match="TaskDataset"):
        DsPlain().output_load(columns=["n"])
    with pytest.raises(flowlib.TargetFormatError, match="output_dataset"):
        DsPlain().output_dataset()
    with pytest.raises(flowlib.TaskIncompleteError, match="has not been run"):
        DsByDay().output_dataset()
    with pytest.raises(flowlib.TaskFailedError) as failed:
        flowlib.run(DsWrongRows(), execution_summary=False)
    assert "same columns" in str(failed.value.__cause__)
    assert not Path(DsWrongRows().output()["data"].path).exists()
    assert not [p for p in Path(DsWrongRows().output()["data"].path).parent.iterdir() if p.is_dir()]
    with pytest.raises(flowlib.TaskFailedError) as failed:
        flowlib.run(DsNoBatch(), execution_summary=False)
    assert "got no batch" in str(failed.value.__cause__)


def test_same_data_gives_the_same_fingerprint_so_downstream_is_cut_off(monkeypatch):
    flowlib.run(DsTotal(), execution_summary=False)
    before = DsEvents().metadata().outputs["data"].fingerprint
    monkeypatch.setattr(DsEvents, "version", "2")  # new code, same data
    flowlib.caches.reset()
    result = flowlib.run(DsTotal(), execution_summary=False)
    assert result.ran == [DsEvents()]
    assert result.outcome(DsTotal()).reason == "upstream outputs unchanged"
    assert DsEvents().metadata().outputs["data"].fingerprint == before
    assert flowlib.run(DsEvents(batches=11), execution_summary=False)
    assert DsEvents(batches=11).metadata().outputs["data"].fingerprint != before


def test_a_replaced_dataset_is_stale_and_a_touched_manifest_is_not():
    flowlib.run(DsEvents(), execution_summary=False)
    manifest = Path(DsEvents().output()["data"].path) / MANIFEST
    os.utime(manifest, ns=(1, 1))  # same content, other time: rehashed, still complete
    assert flowlib.preview(DsEvents()).plan.roots[0].complete
    text = manifest.read_text()
    manifest.write_text(text.replace('"files": 4', '"files":  4'))  # other size: changed on disk
    node = flowlib.build_plan([DsEvents()]).roots[0]
    assert node.status is flowlib.Status.STALE and "changed on disk" in node.reason


def test_a_folder_without_manifest_is_not_complete_and_a_damaged_part_is_caught():
    flowlib.run(DsEvents(), execution_summary=False)
    target = DsEvents().output()["data"]
    part = part_files(DsEvents())[1]
    part.write_bytes(part.read_bytes()[:-10])
    with pytest.raises(flowlib.CorruptOutputError, match="part part-00001.parquet has"):
        DsEvents().output_load()
    report = flowlib.verify(DsEvents())
    assert not report.ok and report[0].problem is flowlib.Problem.CORRUPT
    os.remove(Path(target.path) / MANIFEST)
    assert not target.exists()
    assert flowlib.build_plan([DsEvents()]).roots[0].reason == "no output"
    assert flowlib.run(DsEvents(), execution_summary=False).ran == [DsEvents()]
    assert flowlib.verify(DsEvents(), deep=True).ok


def test_saving_again_replaces_the_old_parts():
    flowlib.run(DsEvents(), execution_summary=False)
    first = {p.name: p.stat().st_ino for p in part_files(DsEvents())}

    target = DsEvents().output()["data"]
    target.save_batches([frame(0, 10)])
    assert [p.name for p in part_files(DsEvents())] == ["part-00000.parquet"]
    assert part_files(DsEvents())[0].stat().st_ino != first["part-00000.parquet"]
    assert len(target.load()) == 10
    assert [p.name for p in Path(target.path).parent.iterdir() if p.name.endswith(".tmp")] == []  # old one gone


def test_sweep_and_clean_remove_dead_writers_folders_and_old_datasets(flowlib_root):
    flowlib.run([DsEvents(), DsEvents(batches=2)], execution_summary=False)
    folder = flowlib_root / "DsEvents"
    name = Path(DsEvents().output()["data"].path).name
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    dead = folder / f".{name}.{child.pid}.{uuid.uuid4().hex[:8]}.tmp"
    (dead / "day=1").mkdir(parents=True)
    (dead / "day=1" / "part-00000.parquet").write_bytes(b"partial")
    old = DsEvents(batches=2).output()["data"].path
    orphans = flowlib.orphans(DsEvents())
    assert orphans == sorted([str(dead), old, f"{folder}/{RECORD_LOG}#{DsEvents(batches=2).task_id}"])
    report = flowlib.clean(DsEvents(), dry_run=False)
    assert report.files == tuple(orphans) and not report.failed
    assert not dead.exists() and not Path(old).exists() and DsEvents().output()["data"].exists()
    (dead / "x").mkdir(parents=True)
    assert sweep_temp_files({str(folder)}) == 1 and not dead.exists()


def test_clean_reports_the_bytes_of_a_dataset_folder(flowlib_root):
    flowlib.run([DsEvents(), DsEvents(batches=2)], execution_summary=False)
    old = Path(DsEvents(batches=2).output()["data"].path)
    size = sum(p.stat().st_size for p in old.rglob("*") if p.is_file())
    record = record_stat(DsEvents(batches=2)).size  # its line in the family's record log
    assert flowlib.clean(DsEvents()).bytes == size + record


def test_memory_store_writes_parts_then_the_manifest():
    fsspec = pytest.importorskip("fsspec")
    url = f"memory://ds-{uuid.uuid4().hex[:8]}"
    flowlib.set_dir(url)
    try:
        flowlib.run([DsTotal(), DsByDay()], execution_summary=False)
        assert DsTotal().output_load()["total"] == frame(0, 10_000)["amount"].sum()
        assert len(DsByDay().output_load(filters=[("day", "=", 2)])) == 500
        before = DsEvents().metadata().outputs["data"].fingerprint
        target = DsEvents().output()["data"]
        fs = fsspec.filesystem("memory")
        old = set(fs.find(target.path))
        target.save_batches(frame(i * 1000, 1000) for i in range(10))
        new = set(fs.find(target.path))
        assert len(new) == 5 and len(old & new) == 1  # four new parts and the manifest; old parts gone
        assert target.content_fingerprint() == before
        assert flowlib.verify([DsTotal(), DsByDay()]).ok
        flowlib.run(DsEvents(batches=2), execution_summary=False)
        old = DsEvents(batches=2).output()["data"].path
        assert old in flowlib.orphans([DsTotal(), DsByDay()])
        report = flowlib.clean([DsTotal(), DsByDay()], dry_run=False)
        assert old in report.files and not fs.exists(old) and flowlib.orphans([DsTotal(), DsByDay()]) == []
    finally:
        fsspec.filesystem("memory").rm(url, recursive=True)


def test_the_dataset_target_alone():
    storage = DsEvents().storage()
    target = DatasetTarget(f"{storage.root}/Alone/x.dataset", storage, partition_on=["day"])
    info = target.save(pa.Table.from_pandas(frame(0, 40), preserve_index=False))
    assert info.rows == 40 and info.extra["files"] == 4
    assert sum(batch.num_rows for batch in target.batches(filters=[("day", "in", [0, 1])])) == 20
    with pytest.raises(flowlib.TargetFormatError, match="save_batches"):
        target.save([1, 2])
    with pytest.raises(flowlib.TargetFormatError, match="lacks"):
        DatasetTarget(f"{storage.root}/Alone/y.dataset", storage, partition_on=["nope"]).save(frame(0, 3))
    target.remove()
    assert not target.exists() and not os.path.exists(target.path)


# -- the target contract, for a folder (tests/test_targets.py holds it for single files) ---------------------------


def rich_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "int": [1, -2, 2**62],
            "float": [1.5, np.nan, 0.1 + 0.2],
            "text": ["a", "ç ü ✓", 'x,"y"'],
            "when_tz": pd.date_range("2024-03-31 00:30", periods=3, freq="h", tz="Europe/Paris"),
            "category": pd.Categorical(["b", "a", "b"], categories=["b", "a"], ordered=True),
            "int_na": pd.array([1, None, 3], dtype="Int64"),
            "string_na": pd.array(["a", None, ""], dtype="string"),
        }
    )


@pytest.fixture
def target(flowlib_root):
    storage = DsEvents().storage()
    return DatasetTarget(f"{storage.root}/Contract/Contract_0123-data.dataset", storage)


def everything_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_a_dataset_keeps_what_parquet_keeps(target):
    info = target.save(rich_frame())
    pd.testing.assert_frame_equal(target.load(), rich_frame(), check_exact=True)
    assert info.schema == {name: str(dtype) for name, dtype in rich_frame().dtypes.items()}


def test_loading_a_dataset_never_saved_is_file_not_found(target):
    with pytest.raises(FileNotFoundError):
        target.load()


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()], ids=["error", "interrupt"])
def test_a_save_that_fails_midway_keeps_the_earlier_dataset_and_leaves_no_temporary_folder(target, error):
    target.save(frame(0, 50))
    family = Path(target.path).parent
    before = everything_under(family)

    def batches():
        yield frame(0, 10)
        yield frame(10, 10)
        raise error

    with pytest.raises(type(error)):
        target.save_batches(batches())
    assert everything_under(family) == before
    pd.testing.assert_frame_equal(target.load(), frame(0, 50), check_dtype=False)


def test_a_save_that_fails_with_no_earlier_dataset_leaves_nothing(target):
    with pytest.raises(flowlib.TargetFormatError):
        target.save_batches([frame(0, 3), "not a frame"])
    assert everything_under(Path(target.path).parent) == []


def test_an_os_error_while_writing_becomes_a_storage_error(target):
    target.save(frame(0, 5))

    def batches():
        yield frame(0, 5)
        raise OSError(28, "No space left on device")

    with pytest.raises(flowlib.StorageError, match="intact"):
        target.save_batches(batches())
    assert len(target.load()) == 5 and not [p for p in Path(target.path).parent.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize(
    "damage", [b"", b"{not json", b'{"format": "flowlib-dataset"}'], ids=["empty", "garbled", "cut"]
)
def test_a_damaged_manifest_raises_corrupt_output_error_naming_it(target, damage):
    target.save(frame(0, 5))
    (Path(target.path) / MANIFEST).write_bytes(damage)
    with pytest.raises(flowlib.CorruptOutputError, match="manifest of dataset .* is damaged"):
        target.load()
