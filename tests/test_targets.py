"""Contract tests for every registered target, and the tested facts of each format.

One parametrized module (``FORMATS``): a new format is correct the day it passes these.
The format-specific sections pin down exactly what CSV and JSON lose (docs/targets.md
lists the same facts), what Parquet and pickle keep, and what the memory target does.
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

import flowlib
from flowlib.hashing import ALGORITHM, algorithm_of, hash_bytes, hash_file
from flowlib.storage import TEMP_SUFFIX, Storage, get_storage
from flowlib.targets import (
    CSVTarget,
    FileTarget,
    JSONTarget,
    MemoryTarget,
    OutputInfo,
    ParquetTarget,
    PickleTarget,
    Target,
    get_target_class,
    register_target,
)
from flowlib.targets.base import TARGETS, describe

BUILT_IN = {
    "parquet": ParquetTarget,
    "csv": CSVTarget,
    "json": JSONTarget,
    "pickle": PickleTarget,
    "memory": MemoryTarget,
}
# "dask" loads as a dask DataFrame (its contract: tests/test_dask.py); datasets are folders, whose
# file-level contract (atomic writes, damage) is tests/test_dataset.py's.
FORMATS = sorted(
    name for name, cls in TARGETS.items() if cls.__module__.startswith("flowlib.targets") and name != "dask"
)
FILE_FORMATS = [name for name in FORMATS if issubclass(TARGETS[name], FileTarget)]
TABLE_ONLY = {"parquet", "csv"}  # formats that hold nothing but DataFrames


@pytest.fixture
def storage(tmp_path: Path) -> Storage:
    return get_storage(str(tmp_path / "store"))


def make_target(fmt: str, storage: Storage, key: str = "data", cls: type[Target] | None = None) -> Target:
    cls = cls or TARGETS[fmt]
    return cls(storage.output_path("Contract", "Contract_0123abcd", key, cls.suffix), storage)


def files_under(root: str) -> list[str]:
    """Every file below ``root``, temporary ones included, relative to it."""
    found = []
    for folder, _dirs, names in os.walk(root):
        found += [os.path.relpath(os.path.join(folder, name), root) for name in names]
    return sorted(found)


def simple_frame() -> pd.DataFrame:
    """Values every DataFrame format keeps exactly: ints, non-whole floats, plain text."""
    return pd.DataFrame({"x": [1, 2, 3], "y": [0.5, -1.25, 1e-3], "name": ["ann", "bob", "cy"]})


def rich_frame() -> pd.DataFrame:
    """int, float, string, bool, datetime with and without time zone, categorical, nullable."""
    return pd.DataFrame(
        {
            "int": [1, -2, 2**62],
            "float": [1.5, np.nan, 0.1 + 0.2],
            "text": ["a", "ç ü ✓", 'x,"y"'],
            "flag": [True, False, True],
            "when_tz": pd.date_range("2024-03-31 00:30", periods=3, freq="h", tz="Europe/Paris"),  # over a DST jump
            "when": pd.to_datetime(["2024-01-01 00:00:00.5", "1999-12-31", "2038-01-19 03:14:08"], format="ISO8601"),
            "category": pd.Categorical(["b", "a", "b"], categories=["b", "a"], ordered=True),
            "int_na": pd.array([1, None, 3], dtype="Int64"),
            "bool_na": pd.array([True, None, False], dtype="boolean"),
            "string_na": pd.array(["a", None, ""], dtype="string"),
            "str_nan": pd.Series(["p", None, "q"], dtype="str"),
        }
    )


def unholdable(fmt: str) -> Any:
    """An object ``fmt`` cannot hold."""
    return {"parquet": {"a": 1}, "csv": {"a": 1}, "json": {1, 2}, "pickle": threading.Lock()}[fmt]


def save_good(fmt: str, target: Target) -> Any:
    obj = simple_frame()
    target.save(obj)
    return obj


# -- the interface, for every format -------------------------------------------------------------------------------


def test_every_built_in_format_is_registered_and_covered():
    assert {name: TARGETS[name] for name in BUILT_IN} == BUILT_IN
    assert set(BUILT_IN) <= set(FORMATS)
    assert all(get_target_class(name) is cls for name, cls in BUILT_IN.items())


@pytest.mark.parametrize("fmt", FORMATS)
def test_save_then_load_returns_equal_frame(fmt, storage):
    target = make_target(fmt, storage)
    frame = simple_frame()
    target.save(frame)
    pd.testing.assert_frame_equal(target.load(), frame, check_exact=True)


@pytest.mark.parametrize("fmt", FORMATS)
def test_exists_and_remove(fmt, storage):
    target = make_target(fmt, storage)
    assert not target.exists()
    target.remove()  # removing what is not there is fine
    target.save(simple_frame())
    assert target.exists()
    target.remove()
    assert not target.exists()
    assert files_under(storage.root) == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_save_overwrites_an_earlier_output(fmt, storage):
    target = make_target(fmt, storage)
    target.save(simple_frame())
    second = simple_frame().iloc[::-1].reset_index(drop=True)
    target.save(second)
    pd.testing.assert_frame_equal(target.load(), second)


@pytest.mark.parametrize("fmt", FILE_FORMATS)
def test_load_of_a_missing_file_raises_file_not_found(fmt, storage):
    with pytest.raises(FileNotFoundError):
        make_target(fmt, storage).load()


@pytest.mark.parametrize("fmt", FORMATS)
def test_output_info_describes_a_frame(fmt, storage):
    target = make_target(fmt, storage)
    frame = simple_frame()
    info = target.save(frame)
    assert isinstance(info, OutputInfo)
    assert info.path == target.path
    assert info.rows == 3
    assert info.schema == {"x": "int64", "y": "float64", "name": "str"}
    assert info.to_dict()["rows"] == 3
    if isinstance(target, FileTarget):
        assert info.bytes == os.path.getsize(target.path) > 0
        assert algorithm_of(info.fingerprint) == ALGORITHM
        assert info.fingerprint == hash_file(target.path)


@pytest.mark.parametrize("fmt", ["pickle", "json"])
def test_a_file_fingerprinted_while_written_has_the_fingerprint_of_its_bytes(fmt, storage):
    # Large enough that the pickled buffers are hashed on the helper thread beside their writes.
    values = np.random.default_rng(0).standard_normal(3_000_000)
    obj = {"values": values, "small": [1, 2, 3]} if fmt == "pickle" else {"values": values[:200_000].tolist()}
    target = make_target(fmt, storage)
    info = target.save(obj)
    assert os.path.getsize(target.path) > 2 * (1 << 20)
    assert info.fingerprint == hash_file(target.path) == hash_bytes(Path(target.path).read_bytes())
    assert algorithm_of(info.fingerprint) == ALGORITHM
    changed = make_target(fmt, storage).save({**obj, "small": [1, 2, 4]} if fmt == "pickle" else {"values": [0.0]})
    assert changed.fingerprint != info.fingerprint


def test_a_file_keeps_matching_the_fingerprint_an_earlier_version_recorded(storage):
    # Earlier versions recorded the first 32 hex digits of SHA-256: the file still checks against them.
    target = make_target("pickle", storage)
    target.save([1, 2, 3])
    data = Path(target.path).read_bytes()
    old = hashlib.sha256(data).hexdigest()[:32]
    assert algorithm_of(old) == "sha256"
    assert hash_file(target.path, like=old) == old
    assert hash_file(target.path, like="sha256:" + old) == "sha256:" + old
    assert hash_file(target.path) != old


@pytest.mark.parametrize("fmt", ["json", "pickle", "memory"])
def test_output_info_of_a_plain_object_has_no_rows(fmt, storage):
    info = make_target(fmt, storage).save({"a": [1, 2]})
    assert info.rows is None and info.schema is None
    assert "rows" not in info.to_dict()


@pytest.mark.parametrize("fmt", FILE_FORMATS)
def test_fingerprint_is_the_same_for_the_same_data_and_differs_for_other_data(fmt, storage):
    first, second = make_target(fmt, storage, "a"), make_target(fmt, storage, "b")
    fingerprint = first.save(rich_frame() if fmt != "csv" else simple_frame()).fingerprint
    again = second.save(rich_frame() if fmt != "csv" else simple_frame()).fingerprint
    assert again == fingerprint
    assert Path(first.path).read_bytes() == Path(second.path).read_bytes()  # deterministic files
    other = simple_frame().assign(y=[0.5, -1.25, 2e-3])
    assert first.save(other).fingerprint != fingerprint


@pytest.mark.parametrize("codec", ["zstd", "snappy"])
def test_parquet_files_are_deterministic_with_either_codec(codec, storage, monkeypatch):
    monkeypatch.setattr(flowlib.settings, "parquet_compression", codec)
    infos = [make_target("parquet", storage, key).save(rich_frame()) for key in ("a", "b")]
    assert infos[0].fingerprint == infos[1].fingerprint


def test_memory_fingerprint_is_new_on_every_save(storage):
    target = make_target("memory", storage)
    frame = simple_frame()
    assert target.save(frame).fingerprint != target.save(frame).fingerprint


@pytest.mark.parametrize("fmt", FILE_FORMATS)
def test_every_file_format_works_on_an_fsspec_root(fmt, tmp_path):
    """Remote roots hand ``_read`` an open binary file instead of a path."""
    pytest.importorskip("fsspec")
    storage = get_storage(f"memory://contract-{tmp_path.name}")
    target = make_target(fmt, storage)
    frame = simple_frame().assign(note=pd.Series(["a\nb", "", None], dtype="str"))
    target.save(frame)
    assert target.exists()
    pd.testing.assert_frame_equal(target.load(), frame)
    data = storage.read_bytes(target.path)
    storage.write_bytes(target.path, data[:-1])
    with pytest.raises(flowlib.CorruptOutputError, match="damaged"):
        target.load()
    target.remove()
    assert not target.exists()


# -- atomic writes -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FILE_FORMATS)
def test_a_save_the_format_refuses_leaves_nothing(fmt, storage):
    target = make_target(fmt, storage)
    with pytest.raises(flowlib.TargetFormatError):
        target.save(unholdable(fmt))
    assert not target.exists()
    assert files_under(storage.root) == []


@pytest.mark.parametrize("fmt", FILE_FORMATS)
def test_a_refused_save_keeps_the_earlier_output(fmt, storage):
    target = make_target(fmt, storage)
    good = save_good(fmt, target)
    before = Path(target.path).read_bytes()
    with pytest.raises(flowlib.TargetFormatError):
        target.save(unholdable(fmt))
    assert Path(target.path).read_bytes() == before
    pd.testing.assert_frame_equal(target.load(), good)
    assert files_under(storage.root) == [os.path.relpath(target.path, storage.root)]


def half_writer(cls: type[FileTarget], error: BaseException) -> type[FileTarget]:
    """A subclass of ``cls`` that writes half the real file, then raises ``error``.

    It fails in the method the format really writes with: ``_write_encoded`` for what a format
    encodes in memory (small Parquet frames), ``_write_stream`` for formats that stream (and are
    fingerprinted while writing), else ``_write``.
    """
    if cls._encode is not FileTarget._encode:

        def _write_encoded(self: FileTarget, data: Any, path: str) -> None:
            cls._write_encoded(self, data[: len(data) // 2], path)
            raise error

        return type(f"Half{cls.__name__}", (cls,), {"_write_encoded": _write_encoded})
    if cls.streams:

        def _write_stream(self: FileTarget, obj: Any, handle: Any) -> None:
            buffer = io.BytesIO()
            cls._write_stream(self, obj, buffer)
            data = buffer.getvalue()
            handle.write(data[: len(data) // 2])
            raise error

        return type(f"Half{cls.__name__}", (cls,), {"_write_stream": _write_stream})

    def _write(self: FileTarget, obj: Any, path: str) -> None:
        cls._write(self, obj, path)
        data = Path(path).read_bytes()
        Path(path).write_bytes(data[: len(data) // 2])
        raise error

    return type(f"Half{cls.__name__}", (cls,), {"_write": _write})


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()], ids=["error", "interrupt"])
@pytest.mark.parametrize("fmt", FILE_FORMATS)
def test_a_write_that_fails_midway_leaves_no_partial_file_and_keeps_the_earlier_output(fmt, error, storage):
    good_target = make_target(fmt, storage)
    good = save_good(fmt, good_target)
    before = Path(good_target.path).read_bytes()
    broken = make_target(fmt, storage, cls=half_writer(TARGETS[fmt], error))  # type: ignore[arg-type]
    assert broken.path == good_target.path
    with pytest.raises(type(error)):
        broken.save(simple_frame().iloc[:1])
    assert Path(good_target.path).read_bytes() == before
    pd.testing.assert_frame_equal(good_target.load(), good)
    assert files_under(storage.root) == [os.path.relpath(good_target.path, storage.root)]  # no temporary file


@pytest.mark.parametrize("fmt", FILE_FORMATS)
def test_a_write_that_fails_midway_with_no_earlier_output_leaves_nothing(fmt, storage):
    target = make_target(fmt, storage, cls=half_writer(TARGETS[fmt], RuntimeError("boom")))  # type: ignore[arg-type]
    with pytest.raises(RuntimeError):
        target.save(simple_frame())
    assert files_under(storage.root) == []


@pytest.mark.parametrize("fmt", FILE_FORMATS)
def test_an_os_error_while_writing_becomes_a_storage_error(fmt, storage):
    target = make_target(fmt, storage)
    save_good(fmt, target)
    before = Path(target.path).read_bytes()
    failing = make_target(fmt, storage, cls=half_writer(TARGETS[fmt], OSError(28, "No space left on device")))  # type: ignore[arg-type]
    with pytest.raises(flowlib.StorageError, match="intact"):
        failing.save(simple_frame())
    assert Path(target.path).read_bytes() == before
    assert not [name for name in files_under(storage.root) if name.endswith(TEMP_SUFFIX)]


# -- format errors -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt,label", [("parquet", "Parquet"), ("csv", "CSV")])
@pytest.mark.parametrize("obj", [{"a": 1}, [1, 2], pd.Series([1, 2]), "text"], ids=["dict", "list", "series", "str"])
def test_table_formats_refuse_other_objects_naming_the_format_and_a_fix(fmt, label, obj, storage):
    with pytest.raises(flowlib.TargetFormatError) as info:
        make_target(fmt, storage).save(obj)
    message = str(info.value)
    assert label in message and type(obj).__name__ in message
    assert "TaskPickle" in message


def test_json_refuses_objects_it_cannot_hold(storage):
    target = make_target("json", storage)
    with pytest.raises(flowlib.TargetFormatError, match="JSON holds DataFrames, dicts and lists.*TaskPickle"):
        target.save({1, 2})


def test_pickle_refuses_an_unpicklable_object_with_a_hint(storage):
    with pytest.raises(flowlib.TargetFormatError, match="cannot pickle lock"):
        make_target("pickle", storage).save(threading.Lock())


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_a_column_of_mixed_types_is_a_format_error(fmt, storage):
    frame = pd.DataFrame({"mixed": [1, "one"]}, dtype=object)
    with pytest.raises(flowlib.TargetFormatError, match="TaskPickle"):
        make_target(fmt, storage).save(frame)


@pytest.mark.parametrize("fmt", ["parquet", "csv", "json"])
def test_duplicate_column_names_are_a_format_error(fmt, storage):
    with pytest.raises(flowlib.TargetFormatError):
        make_target(fmt, storage).save(pd.DataFrame([[1, 2]], columns=["a", "a"]))


def test_an_unknown_parquet_codec_is_refused_before_writing(storage, monkeypatch):
    monkeypatch.setattr(flowlib.settings, "parquet_compression", "gzip")
    target = make_target("parquet", storage)
    with pytest.raises(flowlib.FlowlibError, match="parquet_compression.*snappy.*zstd"):
        target.save(simple_frame())
    assert files_under(storage.root) == []


@pytest.mark.parametrize("codec,stored", [("zstd", "ZSTD"), ("snappy", "SNAPPY")])
def test_parquet_uses_the_configured_codec(codec, stored, storage, monkeypatch):
    monkeypatch.setattr(flowlib.settings, "parquet_compression", codec)
    target = make_target("parquet", storage)
    target.save(rich_frame())
    assert pq.ParquetFile(target.path).metadata.row_group(0).column(0).compression == stored


def test_zstd_is_the_default_codec():
    assert flowlib.Settings().parquet_compression == "zstd"


# -- corrupted files -----------------------------------------------------------------------------------------------


def garble(data: bytes, fmt: str) -> bytes:
    """Damage the structure of a file, keeping its size."""
    damaged = bytearray(data)
    if fmt == "parquet":
        damaged[-8:-4] = b"\xff\xff\xff\x7f"  # the footer length
    elif fmt == "csv":
        damaged[len(damaged) // 2] = 0xFF  # not UTF-8
        damaged[data.index(b"\n") + 1 : data.index(b"\n") + 2] = b"\x00"
        row = data.index(b"\n", len(data) // 3)
        damaged[row] = ord(",")  # two rows run together
    elif fmt == "json":
        damaged[len(damaged) // 2] = 0  # a control character is never valid JSON
    else:
        damaged[len(damaged) // 2 :] = b"\x00" * (len(damaged) - len(damaged) // 2)
    return bytes(damaged)


@pytest.mark.parametrize("fmt", FILE_FORMATS)
def test_a_garbled_file_raises_corrupt_output_error_naming_it(fmt, storage):
    target = make_target(fmt, storage)
    target.save(simple_frame())
    path = Path(target.path)
    path.write_bytes(garble(path.read_bytes(), fmt))
    with pytest.raises(flowlib.CorruptOutputError) as info:
        target.load()
    assert target.path in str(info.value) and "invalidate" in str(info.value)
    assert info.value.__cause__ is not None


@pytest.mark.parametrize("fmt", FILE_FORMATS)
def test_an_empty_file_raises_corrupt_output_error(fmt, storage):
    target = make_target(fmt, storage)
    target.save(simple_frame())
    Path(target.path).write_bytes(b"")
    with pytest.raises(flowlib.CorruptOutputError, match=target.path):
        target.load()


def row_ends(data: bytes) -> set[int]:
    return {i + 1 for i, byte in enumerate(data) if byte == ord("\n")}


@pytest.mark.parametrize("fmt", FILE_FORMATS)
def test_a_file_cut_anywhere_raises_corrupt_output_error(fmt, storage):
    """Every proper prefix of the file, except (for CSV) prefixes ending exactly after a row."""
    target = make_target(fmt, storage)
    frame = rich_frame() if fmt != "csv" else simple_frame().assign(note=pd.Series(["a\nb", "", None], dtype="str"))
    target.save(frame)
    path = Path(target.path)
    data = path.read_bytes()
    boundaries = row_ends(data) if fmt == "csv" else set()
    loaded = []
    for cut in sorted(set(range(len(data))) - boundaries, reverse=True):
        os.truncate(path, cut)  # shorter and shorter prefixes of the same file
        try:
            target.load()
        except flowlib.CorruptOutputError as exc:
            assert target.path in str(exc) and "damaged" in str(exc)
        else:
            loaded.append(cut)
    assert loaded == []


def test_a_csv_cut_at_a_row_boundary_loads_short_limit_of_the_file_alone(storage):
    """The one truncation a CSV file cannot reveal by itself: the run record's fingerprint catches it."""
    target = make_target("csv", storage)
    frame = pd.DataFrame({"x": range(10), "name": [f"n{i}" for i in range(10)]})
    target.save(frame)
    path = Path(target.path)
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:5]))
    pd.testing.assert_frame_equal(target.load(), frame.iloc[:4])


def test_a_corrupt_output_loaded_through_a_task_names_the_task_and_the_recovery():
    class CorruptCheckCsv(flowlib.TaskCSV):
        def run(self):
            self.save(simple_frame())

    task = CorruptCheckCsv()
    flowlib.run(task)
    path = Path(task.output()["data"].path)
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(flowlib.CorruptOutputError) as info:
        task.output_load()
    message = str(info.value)
    assert "CorruptCheckCsv()" in message and str(path) in message and "invalidate()" in message


# -- Parquet and pickle: everything comes back ---------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["parquet", "pickle", "memory"])
def test_every_dtype_comes_back_exactly(fmt, storage):
    target = make_target(fmt, storage)
    frame = rich_frame()
    target.save(frame)
    back = target.load()
    pd.testing.assert_frame_equal(back, frame, check_exact=True)
    assert back["category"].cat.ordered and list(back["category"].cat.categories) == ["b", "a"]
    assert str(back["when_tz"].dt.tz) == "Europe/Paris"


@pytest.mark.parametrize("fmt", ["parquet", "pickle"])
@pytest.mark.parametrize(
    "frame",
    [
        pd.DataFrame({"v": [1.0, 2.0]}, index=pd.Index(["a", "b"], name="key")),
        pd.DataFrame({"v": [1, 2]}, index=pd.MultiIndex.from_tuples([("a", 1), ("a", 2)], names=["k", "n"])),
        pd.DataFrame({("a", "b"): [1, 2], ("a", "c"): [3, 4]}),
        pd.DataFrame({0: [1], 1: ["x"]}),
        pd.DataFrame(
            {
                "d": pd.to_timedelta([1.5, -3], unit="s"),
                "f32": np.array([0.1, 2], dtype="float32"),
                "F64": pd.array([0.1, None], dtype="Float64"),
                "u8": np.array([0, 255], dtype="uint8"),
            }
        ),
        pd.DataFrame({"v": [1, 2]}, index=pd.Index([7, 7])),
        pd.DataFrame(index=range(3)),
        pd.DataFrame({"empty": pd.Series([], dtype="int32")}),
    ],
    ids=[
        "named-index",
        "multiindex",
        "multiindex-columns",
        "int-names",
        "narrow-and-nullable",
        "dup-index",
        "no-columns",
        "no-rows",
    ],
)
def test_parquet_and_pickle_keep_index_names_and_narrow_dtypes(fmt, frame, storage):
    target = make_target(fmt, storage)
    target.save(frame)
    pd.testing.assert_frame_equal(target.load(), frame, check_exact=True)


@pytest.mark.parametrize("fmt", ["parquet", "json"])
def test_a_categorical_without_categories_comes_back_as_missing_values(fmt, storage):
    """pyarrow and pandas' JSON table drop the dtype of a categorical with no categories at all."""
    target = make_target(fmt, storage)
    target.save(pd.DataFrame({"c": pd.Categorical([None, None])}))
    back = target.load()["c"]
    assert back.isna().all() and len(back) == 2
    assert not (isinstance(back.dtype, pd.CategoricalDtype) and back.dtype.categories.dtype == "float64")


def test_parquet_keeps_categories_only_of_frames_with_rows(storage):
    """Parquet stores categories with the data: a frame without rows keeps the dtype, not the categories."""
    target = make_target("parquet", storage)
    target.save(pd.DataFrame({"c": pd.Categorical(["a"], categories=["a", "b"], ordered=True)}))
    assert list(target.load()["c"].cat.categories) == ["a", "b"]
    target.save(pd.DataFrame({"c": pd.Categorical([], categories=["a", "b"], ordered=True)}))
    back = target.load()["c"]
    assert back.dtype == "category" and back.cat.ordered and list(back.cat.categories) == []


def test_parquet_refuses_column_and_index_names_it_would_rename(storage):
    target = make_target("parquet", storage)
    for frame in (
        pd.DataFrame({0: [1], "a": [2]}),
        pd.DataFrame({True: [1], False: [2]}),
        pd.DataFrame({"v": [1]}, index=pd.Index([1], name=0)),
    ):
        with pytest.raises(flowlib.TargetFormatError, match="str"):
            target.save(frame)
    assert files_under(storage.root) == []


def test_parquet_turns_object_text_columns_into_str_like_pandas(storage):
    target = make_target("parquet", storage)
    target.save(pd.DataFrame({"o": pd.Series(["a", None], dtype=object)}))
    back = target.load()
    assert back["o"].dtype == "str"
    assert back["o"].iloc[0] == "a" and pd.isna(back["o"].iloc[1])


def test_pickle_keeps_lambdas_and_locally_defined_classes(storage):
    class Local:
        def __init__(self, value: int) -> None:
            self.value = value

        def double(self) -> int:
            return 2 * self.value

    offset = 3
    target = make_target("pickle", storage)
    target.save({"f": lambda x: x + offset, "obj": Local(21)})
    back = target.load()
    assert back["f"](1) == 4
    assert back["obj"].double() == 42 and type(back["obj"]).__name__ == "Local"


def test_pickle_of_a_missing_module_says_why_it_may_not_load(storage):
    target = make_target("pickle", storage)
    Path(target.path).parent.mkdir(parents=True)
    Path(target.path).write_bytes(b"\x80\x05cno_such_module_here\nThing\n.")
    with pytest.raises(flowlib.CorruptOutputError, match="cannot import"):
        target.load()


# -- memory: the same object, no copy, no file ---------------------------------------------------------------------


def test_memory_returns_the_very_same_object_and_writes_no_file(storage, tmp_path):
    target = make_target("memory", storage)
    frame = rich_frame()
    info = target.save(frame)
    assert target.load() is frame
    frame.loc[0, "int"] = 99  # no copy: the change is visible
    assert target.load().loc[0, "int"] == 99
    assert info.bytes == 0 and info.rows == 3
    assert files_under(str(tmp_path)) == []
    assert not MemoryTarget.is_file


def test_memory_keeps_any_object_and_forgets_it_on_remove_or_clear(storage):
    from flowlib.targets import clear_memory

    target = make_target("memory", storage)
    thing = object()
    target.save(thing)
    assert target.load() is thing
    target.remove()
    with pytest.raises(flowlib.FlowlibError, match="run the task first"):
        target.load()
    target.save(thing)
    clear_memory()
    assert not target.exists()


def test_memory_tasks_run_in_the_main_process_when_workers_are_processes():
    class MemoryPid(flowlib.TaskMemory):
        def run(self):
            self.save(os.getpid())

    @flowlib.requires(MemoryPid)
    class FilePidAfterMemory(flowlib.TaskPickle):
        def run(self):
            self.save((self.input_load(), os.getpid()))

    result = flowlib.run(FilePidAfterMemory(), workers=2)
    assert result
    assert FilePidAfterMemory().output_load() == (os.getpid(), os.getpid())


# -- CSV: values, not types ----------------------------------------------------------------------------------------


def test_csv_loses_exactly_the_documented_types(storage):
    target = make_target("csv", storage)
    frame = rich_frame()
    target.save(frame)
    back = target.load()
    expected = frame.assign(
        when_tz=frame["when_tz"].dt.tz_convert("UTC").dt.as_unit("ns"),  # the instant stays, the zone is UTC
        when=frame["when"].dt.as_unit("ns"),
        category=pd.Series(["b", "a", "b"], dtype="str"),  # categories -> plain strings
        int_na=pd.Series([1.0, np.nan, 3.0]),  # Int64 with NA -> float64
        bool_na=pd.Series([True, None, False], dtype=object),  # boolean with NA -> object
        string_na=pd.Series(["a", None, ""], dtype="str"),  # "string" -> str; NA and "" stay apart
    )
    pd.testing.assert_frame_equal(back, expected, check_exact=True)


@pytest.mark.parametrize(
    "column,expected",
    [
        (pd.Series([1.0, 2.0]), pd.Series([1, 2])),  # whole floats -> int64
        (pd.Series([1.0, np.nan]), pd.Series([1.0, np.nan])),
        (pd.array([1, 2], dtype="Int64"), pd.Series([1, 2])),  # Int64 without NA -> int64
        (pd.array([True, False], dtype="boolean"), pd.Series([True, False])),
        (np.array([1, 2], dtype="int8"), pd.Series([1, 2])),  # narrow ints widen
        (np.array([0.5, 2.25], dtype="float32"), pd.Series([0.5, 2.25])),
        (pd.Series(["007", "12"], dtype="str"), pd.Series([7, 12])),  # text that looks like numbers
        (pd.Series(["true", "false"], dtype="str"), pd.Series([True, False])),
        (pd.Series(["True", "yes"], dtype="str"), pd.Series(["True", "yes"], dtype="str")),
        (pd.Series(["1.5e3", "inf"], dtype="str"), pd.Series([1500.0, np.inf])),
        (
            pd.Series(["2024-01-31", "1999-12-31"], dtype="str"),
            pd.Series([pd.Timestamp("2024-01-31").date(), pd.Timestamp("1999-12-31").date()], dtype=object),
        ),
        (
            pd.Series(["NA", "nan", "null", "", "N/A"], dtype="str"),
            pd.Series(["NA", "nan", "null", "", "N/A"], dtype="str"),
        ),
        (pd.Series([np.nan, np.nan]), pd.Series([None, None], dtype=object)),  # nothing to infer from
        (pd.to_datetime(["3000-01-01"]).as_unit("us"), pd.Series(["3000-01-01 00:00:00.000000"], dtype="str")),
    ],
    ids=[
        "whole-floats",
        "whole-floats-nan",
        "Int64",
        "boolean",
        "int8",
        "float32",
        "numeric-text",
        "true-text",
        "other-bool-words",
        "float-text",
        "date-text",
        "na-words",
        "all-missing",
        "beyond-2262",
    ],
)
def test_csv_type_inference_facts(column, expected, storage):
    target = make_target("csv", storage)
    target.save(pd.DataFrame({"c": column}))
    pd.testing.assert_series_equal(target.load()["c"], pd.Series(expected, name="c"), check_exact=True)


def test_csv_keeps_the_instant_of_historic_sub_minute_offsets(storage):
    """Paris was +00:09:21 before 1911: written in UTC, the instant survives (pyarrow would cut the seconds)."""
    utc = pd.Series(pd.to_datetime(["1911-01-01 00:00:00", "2024-07-01 12:00:00"], format="ISO8601")).dt.tz_localize(
        "UTC"
    )
    target = make_target("csv", storage)
    target.save(pd.DataFrame({"t": utc.dt.tz_convert("Europe/Paris")}))
    assert target.load()["t"].tolist() == utc.tolist()


def test_csv_keeps_awkward_text_and_missing_values_apart(storage):
    values = [
        "",
        None,
        "NA",
        'quote " inside',
        "comma, inside",
        "line\nbreak",
        "carriage\rreturn",
        "crlf\r\n",
        " pad ",
        "é ✓ 日本",
        "\t",
    ]
    frame = pd.DataFrame({"t": pd.Series(values, dtype="str"), "n": range(len(values))})
    target = make_target("csv", storage)
    target.save(frame)
    pd.testing.assert_frame_equal(target.load(), frame)


def test_csv_single_column_with_missing_values_keeps_every_row(storage):
    frame = pd.DataFrame({"v": [1.5, np.nan, np.nan, 2.5, np.nan]})
    target = make_target("csv", storage)
    target.save(frame)
    pd.testing.assert_frame_equal(target.load(), frame)


def test_csv_marks_multiline_values_with_crlf_and_reads_them_across_blocks(storage):
    """Values with line breaks spread over many of pyarrow's 1 MiB blocks still come back exactly."""
    n = 120_000
    text = pd.Series([f'row {i}\nsecond line, "quoted"' if i % 7 == 0 else f"row {i}" for i in range(n)], dtype="str")
    frame = pd.DataFrame({"text": text, "i": range(n)})
    target = make_target("csv", storage)
    target.save(frame)
    data = Path(target.path).read_bytes()
    assert len(data) > 2 * (1 << 20) and data.endswith(b"\r\n")
    pd.testing.assert_frame_equal(target.load(), frame)
    plain = make_target("csv", storage, "plain")
    plain.save(frame.assign(text=frame["text"].str.replace("\n", " ")))
    assert b"\r" not in Path(plain.path).read_bytes()


def test_csv_without_line_end_choice_reads_every_file_as_multiline(storage, monkeypatch):
    """pyarrow before 22 cannot write CRLF rows: then every file is read with the multi-line parser."""
    from flowlib.targets import csv as csv_module

    monkeypatch.setattr(csv_module, "_WRITE_MULTILINE", csv_module._WRITE)
    monkeypatch.setattr(csv_module, "_MARKS_MULTILINE", False)
    n = 120_000
    frame = pd.DataFrame({"text": pd.Series([f"row {i}\nnext" for i in range(n)], dtype="str"), "i": range(n)})
    target = make_target("csv", storage)
    target.save(frame)
    assert b"\r" not in Path(target.path).read_bytes()
    pd.testing.assert_frame_equal(target.load(), frame)


def test_csv_infers_a_column_from_the_whole_file_not_its_first_block(storage):
    """pyarrow guesses types from the first 1 MiB; a later non-number keeps the column text."""
    values = [str(i) for i in range(300_000)] + ["not a number"]
    frame = pd.DataFrame({"code": pd.Series(values, dtype="str")})
    target = make_target("csv", storage)
    target.save(frame)
    assert os.path.getsize(target.path) > 2 * (1 << 20)
    pd.testing.assert_frame_equal(target.load(), frame)


def test_csv_writes_a_non_default_index_as_columns(storage):
    frame = pd.DataFrame({"v": [1, 2]}, index=pd.Index(["a", "b"], name="key"))
    target = make_target("csv", storage)
    target.save(frame)
    pd.testing.assert_frame_equal(target.load(), frame.reset_index())
    unnamed = make_target("csv", storage, "unnamed")
    unnamed.save(pd.DataFrame({"v": [1, 2]}, index=[5, 5]))
    pd.testing.assert_frame_equal(unnamed.load(), pd.DataFrame({"index": [5, 5], "v": [1, 2]}))
    clash = make_target("csv", storage, "clash")  # a column is already called "index"
    clash.save(pd.DataFrame({"index": [1, 2]}, index=[3, 4]))
    pd.testing.assert_frame_equal(clash.load(), pd.DataFrame({"level_0": [3, 4], "index": [1, 2]}))


def test_csv_column_names_come_back_as_strings(storage):
    target = make_target("csv", storage)
    target.save(pd.DataFrame({0: [1], "a b": [2], "": [3], "é\n,": [4]}))
    assert list(target.load().columns) == ["0", "a b", "", "é\n,"]


def test_csv_empty_frame_keeps_columns_not_types(storage):
    target = make_target("csv", storage)
    target.save(pd.DataFrame({"a": pd.Series([], dtype="int64"), "b": pd.Series([], dtype="str")}))
    back = target.load()
    assert list(back.columns) == ["a", "b"] and len(back) == 0
    assert list(back.dtypes) == [object, object]


@pytest.mark.parametrize(
    "frame,match",
    [
        (pd.DataFrame(index=range(2)), "without columns"),
        (pd.DataFrame({("a", "b"): [1]}), "MultiIndex columns"),
        (pd.DataFrame({"d": pd.to_timedelta([1], unit="s")}), "timedelta"),
        (pd.DataFrame({1: [1], "1": [2]}), "unique as text"),
    ],
    ids=["no-columns", "multiindex-columns", "timedelta", "names-equal-as-text"],
)
def test_csv_refuses_what_it_would_change_beyond_recognition(frame, match, storage):
    target = make_target("csv", storage)
    with pytest.raises(flowlib.TargetFormatError, match=match):
        target.save(frame)
    assert files_under(storage.root) == []


# -- JSON: values and most dtypes, floats exactly ------------------------------------------------------------------


def test_json_loses_exactly_the_documented_types(storage):
    target = make_target("json", storage)
    frame = rich_frame()
    target.save(frame)
    back = target.load()
    expected = frame.assign(when_tz=frame["when_tz"].dt.as_unit("ns"), when=frame["when"].dt.as_unit("ns"))
    pd.testing.assert_frame_equal(back, expected, check_exact=True)
    assert back["category"].cat.ordered and list(back["category"].cat.categories) == ["b", "a"]


def test_json_keeps_every_digit_of_a_float(storage):
    values = [
        0.1 + 0.2,
        1 / 3,
        5e-324,
        2.2250738585072014e-308,
        1.7976931348623157e308,
        -0.0,
        123456789.12345679,
        np.nan,
    ]
    frame = pd.DataFrame(
        {"f": values, "g": pd.array(values[:-1] + [None], dtype="Float64")}, index=pd.Index(values[::-1], name="key")
    )
    target = make_target("json", storage)
    target.save(frame)
    back = target.load()
    pd.testing.assert_frame_equal(back, frame, check_exact=True)
    assert np.signbit(back["f"].iloc[5])


def test_json_float32_widens_to_the_same_float64(storage):
    frame = pd.DataFrame({"f": np.array([0.1, 3.5], dtype="float32"), "i": np.array([1, 2], dtype="int32")})
    target = make_target("json", storage)
    target.save(frame)
    back = target.load()
    assert list(back.dtypes) == [np.float64, np.int64]
    assert back["f"].tolist() == frame["f"].astype("float64").tolist()


@pytest.mark.parametrize(
    "frame,expected",
    [
        (pd.DataFrame({"v": [1, 2]}, index=pd.Index([5, 5])), None),  # duplicates in the index stay the index
        (pd.DataFrame({"v": [1]}, index=pd.MultiIndex.from_tuples([("a", 1.5)], names=["k", "f"])), None),
        (
            pd.DataFrame({"o": pd.Series(["a", None], dtype=object)}),
            pd.DataFrame({"o": pd.Series(["a", None], dtype="str")}),
        ),
        (pd.DataFrame(), pd.DataFrame()),
        (pd.DataFrame({"a": pd.Series([], dtype="int64")}), None),
    ],
    ids=["dup-index", "multiindex", "object-text", "empty", "no-rows"],
)
def test_json_index_and_edge_facts(frame, expected, storage):
    target = make_target("json", storage)
    target.save(frame)
    pd.testing.assert_frame_equal(target.load(), frame if expected is None else expected, check_exact=True)


def test_json_an_index_named_index_loses_its_name_with_a_warning(storage):
    target = make_target("json", storage)
    with pytest.warns(UserWarning, match="not round-trippable"):
        target.save(pd.DataFrame({"v": [1]}, index=pd.Index([9], name="index")))
    pd.testing.assert_frame_equal(target.load(), pd.DataFrame({"v": [1]}, index=[9]))


@pytest.mark.parametrize(
    "frame,match",
    [
        (pd.DataFrame({0: [1], 1: ["x"]}), "string column and index names"),
        (pd.DataFrame({"v": [1]}, index=pd.Index([1], name=0)), "string column and index names"),
        (pd.DataFrame({("a", "b"): [1]}), "MultiIndex columns"),
        (pd.DataFrame({"f": [1.0, np.inf]}), "inf"),
        (pd.DataFrame({"d": pd.to_timedelta([1], unit="s")}), "timedeltas"),
        (pd.DataFrame({"t": pd.to_datetime(["3000-01-01"]).as_unit("us")}), "2262"),
        (pd.DataFrame({"c": pd.Categorical([0.1, 0.2])}), "float categories"),
        (pd.DataFrame({"p": pd.period_range("2020", periods=2, freq="M")}), "JSON cannot hold"),
        (pd.DataFrame({"index": [1]}), "JSON cannot hold"),
        (pd.DataFrame({"a\x00b": [1]}), "NUL"),
    ],
    ids=[
        "int-names",
        "int-index-name",
        "multiindex-columns",
        "inf",
        "timedelta",
        "beyond-2262",
        "float-categories",
        "period",
        "column-named-index",
        "nul-in-name",
    ],
)
def test_json_refuses_frames_it_would_change(frame, match, storage):
    target = make_target("json", storage)
    with pytest.raises(flowlib.TargetFormatError, match=match):
        target.save(frame)
    assert files_under(storage.root) == []


@pytest.mark.parametrize(
    "value",
    [
        {"metrics": {"auc": 0.1 + 0.2, "n": 2**70, "ok": True, "none": None}, "tags": ["a", "ü", ""]},
        [1, [2, [3, {"x": -0.5}]], "s", None],
        {},
        [],
        {"schema": {"fields": []}, "data": []},  # looks a bit like a table, but is a plain dict
    ],
    ids=["dict", "nested-list", "empty-dict", "empty-list", "table-like"],
)
def test_json_dicts_and_lists_round_trip(value, storage):
    target = make_target("json", storage)
    target.save(value)
    assert target.load() == value


def test_json_subclasses_of_plain_types_come_back_as_the_plain_type(storage):
    target = make_target("json", storage)
    target.save({"mean": np.float64(0.1 + 0.2), "flag": True})
    back = target.load()
    assert back == {"mean": 0.1 + 0.2, "flag": True} and type(back["mean"]) is float


@pytest.mark.parametrize(
    "value,match",
    [
        ({"shape": (3, 4)}, "no tuples.*'shape'"),
        ({1: "a"}, "keys are strings"),
        ({"auc": float("nan")}, "nan.*'auc'"),
        ([float("inf")], "inf"),
        ({"n": np.int64(3)}, "int64"),
        ({"s": {1, 2}}, "set"),
        ({"schema": {"pandas_version": "1.4.0", "fields": []}, "data": []}, "layout of a JSON table"),
    ],
    ids=["tuple", "int-key", "nan", "inf", "numpy-int", "set", "pandas-table-layout"],
)
def test_json_refuses_plain_values_it_would_change(value, match, storage):
    target = make_target("json", storage)
    with pytest.raises(flowlib.TargetFormatError, match=match):
        target.save(value)
    assert files_under(storage.root) == []


def test_json_files_are_readable_by_pandas_itself(storage):
    target = make_target("json", storage)
    frame = rich_frame().drop(columns=["float"])
    target.save(frame)
    text = Path(target.path).read_text(encoding="utf-8")
    pd.testing.assert_frame_equal(pd.read_json(io.StringIO(text), orient="table"), target.load())


# -- through tasks: the shortcuts, the paths -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "base,suffix",
    [
        (flowlib.TaskParquet, ".parquet"),
        (flowlib.TaskCSV, ".csv"),
        (flowlib.TaskJSON, ".json"),
        (flowlib.TaskPickle, ".pkl"),
    ],
)
def test_task_shortcuts_save_at_root_family_task_id_key_ext(base, suffix, flowlib_root):
    class PathCheck(base):  # type: ignore[misc, valid-type]
        size = flowlib.IntParameter(default=3)
        persist = ["train", "test"]

        def run(self):
            frame = pd.DataFrame({"x": range(self.size), "y": [0.5] * self.size})
            self.save({"train": frame, "test": frame.iloc[:1]})

    PathCheck.__name__ = PathCheck.__qualname__ = f"PathCheck{base.__name__}"
    task = PathCheck(size=4)
    flowlib.run(task)
    for key in ("train", "test"):
        path = Path(task.output()[key].path)
        assert path == Path(flowlib_root) / task.get_task_family() / f"{task.task_id}-{key}{suffix}"
        assert path.is_file()
    train, test = task.output_load()
    assert len(train) == 4 and len(test) == 1
    assert task.output()["train"].path != PathCheck(size=5).output()["train"].path


def test_task_memory_saves_no_file(flowlib_root):
    frame = simple_frame()

    class MemoryShortcut(flowlib.TaskMemory):
        def run(self):
            self.save(frame)

    flowlib.run(MemoryShortcut())
    assert MemoryShortcut().output_load() is frame
    assert not [p for p in Path(flowlib_root).rglob("*") if p.is_file() and "MemoryShortcut" in str(p)]


def test_task_saving_a_dict_to_parquet_fails_naming_task_format_and_fix():
    class DictToParquet(flowlib.TaskParquet):
        def run(self):
            self.save({"mean": 1.0})

    result = flowlib.run(DictToParquet(), abort=False)
    assert not result
    error = result.outcome(DictToParquet()).error
    assert "TargetFormatError" in error and "DictToParquet()" in error and "Parquet" in error and "TaskPickle" in error
    assert not DictToParquet().output()["data"].exists()


def test_task_json_round_trips_a_dict_and_a_frame():
    class JsonBoth(flowlib.TaskJSON):
        persist = ["meta", "table"]

        def run(self):
            self.save({"meta": {"n": 3, "names": ["a", "b"]}, "table": rich_frame()})

    flowlib.run(JsonBoth())
    meta, table = JsonBoth().output_load()
    assert meta == {"n": 3, "names": ["a", "b"]}
    assert len(table) == 3 and table["category"].dtype == "category"


# -- registering a new format --------------------------------------------------------------------------------------


class TextTarget(FileTarget):
    """The example of docs/targets.md: a str stored as a UTF-8 text file."""

    name = "text"
    suffix = ".txt"

    def check(self, obj: object) -> None:
        if not isinstance(obj, str):
            raise flowlib.TargetFormatError(f"text holds str, got {type(obj).__name__}; use TaskPickle")

    def _write(self, obj: str, path: str) -> None:
        with open(path, "w", encoding="utf-8", newline="") as handle:
            handle.write(obj)

    def _read(self, source: Any) -> str:
        if isinstance(source, str):
            with open(source, encoding="utf-8", newline="") as handle:
                return handle.read()
        return source.read().decode("utf-8")


@pytest.fixture
def text_format(monkeypatch):
    monkeypatch.delitem(TARGETS, "text", raising=False)
    cls = register_target(TextTarget)
    yield cls
    TARGETS.pop("text", None)


def test_a_new_format_is_one_subclass_and_a_decorator(text_format, storage, flowlib_root):
    assert get_target_class("text") is TextTarget
    target = make_target("text", storage)
    info = target.save("héllo\r\nworld")
    assert target.load() == "héllo\r\nworld" and info.rows is None
    with pytest.raises(flowlib.TargetFormatError):
        target.save(b"bytes")

    class Notes(flowlib.Task):
        target_class = TextTarget

        def run(self):
            self.save("notes")

    flowlib.run(Notes())
    assert Notes().output_load() == "notes"
    assert Notes().output()["data"].path.endswith(f"{Notes().task_id}-data.txt")


def test_register_target_checks_name_and_suffix():
    class Nameless(FileTarget):
        suffix = ".x"

    class NoDot(FileTarget):
        name = "nodot"
        suffix = "x"

    for cls in (Nameless, NoDot):
        with pytest.raises(ValueError, match="name and a suffix"):
            register_target(cls)
    assert "nodot" not in TARGETS


def test_an_unknown_format_name_lists_the_known_ones():
    with pytest.raises(flowlib.FlowlibError, match="known formats.*parquet"):
        get_target_class("xlsx")


def test_hash_value_of_frames_and_series_follows_their_content():
    from flowlib.hashing import hash_value

    frame = pd.DataFrame({"x": [1, 2]})
    assert hash_value(frame) == hash_value(pd.DataFrame({"x": [1, 2]}))
    assert hash_value(frame) != hash_value(pd.DataFrame({"x": [1, 3]}))
    assert hash_value(frame) != hash_value(frame.rename(columns={"x": "y"}))
    assert hash_value(pd.Series([1], name="s")) != hash_value(pd.Series([1], name="t"))


_DTYPE_FRAMES = {
    "numbers": pd.DataFrame({"a": [1], "b": [0.5], "u": np.array([1], dtype="uint8"), "f": np.array([1], "float32")}),
    "strings": pd.DataFrame({"s": ["x"], "py": pd.array(["x"], dtype="string[python]")}),
    "objects": pd.DataFrame({"o": pd.Series(["x", None], dtype=object), "d": [pd.Timestamp(0).date()] * 2}),
    "category": pd.DataFrame({"c": pd.Categorical(["x", "y"], ordered=True)}),
    "times": pd.DataFrame(
        {
            "naive": pd.to_datetime(["2020-01-01"]),
            "ns": np.array(["2020-01-01"], dtype="datetime64[ns]"),
            "tz": pd.to_datetime(["2020-01-01"]).tz_localize("Europe/Paris"),
            "delta": pd.to_timedelta([1], unit="s"),
        }
    ),
    "nullable": pd.DataFrame({"i": pd.array([1], "Int64"), "f": pd.array([1.0], "Float64"), "b": [True]}),
    "period": pd.DataFrame({"p": pd.period_range("2020", periods=1, freq="M")}),
    "names": pd.DataFrame({0: [1], 1: [2]}),
    "named index": pd.DataFrame({"a": [1]}, index=pd.Index([5], name="k")),
    "no columns": pd.DataFrame(index=range(3)),
}


@pytest.mark.parametrize("name", sorted(_DTYPE_FRAMES))
def test_a_parquet_record_names_the_dtypes_as_pandas_does(name, tmp_path):
    frame = _DTYPE_FRAMES[name]
    info = ParquetTarget(str(tmp_path / "x.parquet"), get_storage(str(tmp_path))).save(frame)
    assert (info.rows, info.schema) == describe(frame)
