"""Faults on disk: corrupted outputs, a full disk (a real file-size limit), bad roots, odd parameter values."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import flowlib
from flowlib.locks import LOCK_FILE

FRAME = pd.DataFrame({"x": range(300), "label": [f"item {i}" for i in range(300)], "w": [i * 0.25 for i in range(300)]})


class FltParquet(flowlib.TaskParquet):
    def run(self):
        self.save(FRAME)


class FltCsv(flowlib.TaskCSV):
    def run(self):
        self.save(FRAME)


class FltJson(flowlib.TaskJSON):
    def run(self):
        self.save(FRAME)


class FltPickle(flowlib.TaskPickle):
    def run(self):
        self.save(FRAME)


@flowlib.requires(FltCsv)
class FltDownstream(flowlib.TaskPickle):
    def run(self):
        self.save(len(self.input_load()))


TASKS = {"parquet": FltParquet, "csv": FltCsv, "json": FltJson, "pickle": FltPickle}


def _truncate(path: Path, fmt: str) -> None:
    data = path.read_bytes()
    cut = int(len(data) * 0.6)
    if fmt == "csv":  # end inside the first field of a row, so the last row is short of columns
        cut = data.index(b"\n", cut) + 2
    path.write_bytes(data[:cut])


def _garble(path: Path, fmt: str) -> None:
    """Change bytes, keep the size."""
    data = bytearray(path.read_bytes())
    if fmt == "parquet":
        data[-4:] = b"XXXX"  # the footer magic
    elif fmt == "csv":
        middle = data.index(b"\n", len(data) // 2)
        data[middle] = ord(",")  # two rows run together: too many columns
    else:
        data[:2] = b"\xff\xff"  # not UTF-8 (JSON), not an opcode (pickle)
    assert len(data) == path.stat().st_size
    path.write_bytes(bytes(data))


# -- corrupted outputs ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("damage", [_truncate, _garble], ids=["truncated", "garbled"])
@pytest.mark.parametrize("fmt", sorted(TASKS))
def test_damaged_output_raises_corrupt_output_error_naming_file_task_and_recovery(fmt, damage):
    task = TASKS[fmt]()
    flowlib.run(task)
    path = Path(task.output()["data"].path)
    damage(path, fmt)
    with pytest.raises(flowlib.CorruptOutputError) as info:
        task.output_load()
    message = str(info.value)
    assert str(path) in message
    assert f"{task}" in message
    assert "invalidate" in message
    assert isinstance(info.value, flowlib.FlowlibError)

    task.invalidate()  # the recovery the message gives
    flowlib.run(task)
    loaded = task.output_load()
    assert list(loaded["x"]) == list(FRAME["x"]) and list(loaded["label"]) == list(FRAME["label"])


def test_corrupt_upstream_output_is_rebuilt_before_the_downstream_task_reads_it():
    flowlib.run(FltCsv())
    _garble(Path(FltCsv().output()["data"].path), "csv")  # same size, new bytes and time
    result = flowlib.run(FltDownstream(), abort=False)
    assert result and [t.task_id for t in result.ran] == [FltCsv().task_id, FltDownstream().task_id]
    assert result.outcome(FltCsv()).reason == "output data changed on disk"
    assert list(FltCsv().output_load()["x"]) == list(FRAME["x"])


def test_corrupt_upstream_output_fails_the_downstream_task_with_the_reason(monkeypatch):
    flowlib.run(FltCsv())
    path = Path(FltCsv().output()["data"].path)
    before = path.stat()
    _garble(path, "csv")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # damage that keeps size and time is not seen
    result = flowlib.run(FltDownstream(), abort=False)
    assert [t.task_id for t in result.failed] == [FltDownstream().task_id]
    error = result.outcome(FltDownstream()).error
    assert "CorruptOutputError" in error and "FltCsv()" in error and "invalidate" in error


def test_csv_cut_at_a_line_boundary_is_not_loaded_silently_short():
    task = FltCsv()
    flowlib.run(task)
    path = Path(task.output()["data"].path)
    path.write_bytes(b"".join(path.read_bytes().splitlines(keepends=True)[:100]))
    with pytest.raises(flowlib.CorruptOutputError, match="invalidate"):
        task.output_load()


# -- a full disk: the file-size limit, for real --------------------------------------------------------------------

FSIZE_FLOW = """
import os
import numpy as np
import pandas as pd
import flowlib

BASE = {"parquet": flowlib.TaskParquet, "csv": flowlib.TaskCSV,
        "json": flowlib.TaskJSON, "pickle": flowlib.TaskPickle}[os.environ["FSIZE_FORMAT"]]


class FsizeSmall(BASE):
    def run(self):
        self.save(pd.DataFrame({"x": range(100)}))


@flowlib.requires(FsizeSmall)
class FsizeHuge(BASE):
    persist = ["little", "big"]

    def run(self):
        little = self.input_load()
        self.save(little, key="little")  # fits under the limit
        big = pd.DataFrame({"r": np.random.default_rng(1).random(200_000)})
        self.save(big, key="big")  # 1.6 MB of random floats: does not fit
"""

FSIZE_SCRIPT = """
import json, resource, signal, sys
import flowlib
from flowlib.hashing import hash_file
from fsize_flow import FsizeHuge, FsizeSmall

flowlib.set_dir(sys.argv[1])
limit = int(sys.argv[2])
out = {}
small = FsizeSmall().output()["data"].path
if limit:
    flowlib.run(FsizeSmall())
    out["small_before"] = hash_file(small)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # so write() fails with EFBIG instead of killing us
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    result = flowlib.run(FsizeHuge(), abort=False)
    out["failed"] = [str(t) for t in result.failed]
    out["error"] = result.outcome(FsizeHuge()).error
    try:
        flowlib.run(FsizeHuge())
    except flowlib.TaskFailedError as exc:
        out["raised"] = str(exc)
    out["small_after"] = hash_file(small)
else:
    result = flowlib.run(FsizeHuge())
    out["ran"] = [str(t) for t in result.ran]
    out["rows"] = len(FsizeHuge().output_load("big"))
print(json.dumps(out))
"""


def _run_fsize(tmp_path: Path, fmt: str, root: Path, limit: int) -> dict:
    env = {**os.environ, "FSIZE_FORMAT": fmt, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}
    done = subprocess.run(
        [sys.executable, str(tmp_path / "fsize_script.py"), str(root), str(limit)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("fmt", ["parquet", "csv", "json", "pickle"])
def test_file_size_limit_gives_storage_error_and_keeps_earlier_outputs(fmt, tmp_path):
    (tmp_path / "fsize_flow.py").write_text(FSIZE_FLOW)
    (tmp_path / "fsize_script.py").write_text(FSIZE_SCRIPT)
    root = tmp_path / "root"

    out = _run_fsize(tmp_path, fmt, root, limit=1 << 20)
    assert out["failed"] == ["FsizeHuge()"]
    last_line = out["error"].strip().splitlines()[-1]
    assert last_line.startswith("flowlib.errors.StorageError:")
    assert "FsizeHuge()" in last_line and "'big'" in last_line and "File too large" in last_line
    assert "earlier outputs are intact" in last_line
    assert "StorageError" in out["raised"] and "FsizeHuge() failed" in out["raised"]
    assert out["small_after"] == out["small_before"]  # the upstream output is untouched
    huge_dir = root / "FsizeHuge"
    leftovers = [p.name for p in huge_dir.iterdir() if p.name != LOCK_FILE] if huge_dir.exists() else []
    assert leftovers == []  # no 'little', no temporary file, no record

    out = _run_fsize(tmp_path, fmt, root, limit=0)  # space again: only the failed task reruns
    assert out["ran"] == ["FsizeHuge()"] and out["rows"] == 200_000


# -- roots -----------------------------------------------------------------------------------------------------------


def test_missing_root_is_created(tmp_path):
    root = tmp_path / "not" / "there" / "yet"
    flowlib.set_dir(root)
    assert flowlib.run(FltParquet())
    assert (root / "FltParquet").is_dir()
    assert len(FltParquet().output_load()) == len(FRAME)


@pytest.fixture
def unwritable_root(tmp_path):
    """A root below a regular file: cannot be created even by root (tests may run as root)."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    root = blocker / "sub"
    flowlib.set_dir(root)
    return root


def test_unwritable_root_raises_storage_error_naming_the_path(unwritable_root):
    with pytest.raises(flowlib.StorageError) as info:
        flowlib.run(FltParquet())
    assert str(unwritable_root) in str(info.value)


# -- odd parameter values --------------------------------------------------------------------------------------------


class FltParam(flowlib.TaskPickle):
    value = flowlib.Parameter()

    def run(self):
        self.save(self.value)


ODD_VALUES = st.one_of(
    st.text(max_size=40),
    st.text(alphabet="./\\~:*?<>|\x00 ", max_size=30),
    st.text(min_size=300, max_size=5000),
    st.sampled_from(
        [
            "",
            ".",
            "..",
            "../../etc",
            "../" * 30 + "etc/passwd",
            "/",
            "/etc/passwd",
            "a/b",
            "a\\b",
            "C:\\Windows",
            "~root",
            "Ünïcødé ✓ 数据",
            "-data",
            "x-data.pkl",
        ]
    ),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(ODD_VALUES, min_size=1, max_size=6, unique=True))
def test_odd_parameter_values_stay_under_the_root_and_never_collide(values):
    family_dir = Path(flowlib.settings.dir).resolve() / "FltParam"
    paths = [Path(FltParam(value=v).output()["data"].path) for v in values]
    for path in paths:
        assert path.resolve().parent == family_dir
        assert len(path.name) < 255
    assert len({str(p) for p in paths}) == len(values)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ODD_VALUES)
def test_tasks_with_odd_parameter_values_write_only_under_the_root(value):
    root = Path(flowlib.settings.dir).resolve()
    outside = root.parent
    before = {p for p in outside.rglob("*") if root not in p.parents and p != root}
    task = FltParam(value=value)
    flowlib.run(task)
    assert task.output_load() == value
    after = {p for p in outside.rglob("*") if root not in p.parents and p != root}
    assert after == before
    assert Path(task.output()["data"].path).resolve().parent == root / "FltParam"
