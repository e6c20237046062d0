"""Kill -9 during a dataset save: no folder that looks complete is left, an old dataset survives, a rerun repairs.

A subprocess streams a dataset with ``save_batches``; the test kills it with SIGKILL while
part files are open (deterministically: the generator stops after a few batches and
waits to be killed), and at random moments of a save, then checks what is on disk.
"""

from __future__ import annotations

import importlib.util
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

import flowlib
from flowlib.record import read_record
from flowlib.targets.dataset import MANIFEST

SEED = 20261201

FLOW = """
import os
import pathlib
import time

import numpy as np
import pandas as pd

import flowlib

BATCHES, ROWS = 24, 25_000


def batch(i):
    values = np.arange(i * ROWS, (i + 1) * ROWS)
    return pd.DataFrame({"part": values % 3, "n": values, "x": values * 0.25})


def expected():
    return pd.concat([batch(i) for i in range(BATCHES)], ignore_index=True)


def batches():
    marker = os.environ.get("KILL_MARKER")
    stop = int(os.environ.get("KILL_AFTER", "-1"))
    for i in range(BATCHES):
        if marker and i == max(stop, 0):
            pathlib.Path(marker).write_text(str(os.getpid()))
            if stop >= 0:
                time.sleep(120)  # part files are open: the test kills the process now
        yield batch(i)


class KillData(flowlib.TaskDataset):
    partition_on = ["part"]
    part_rows = 60_000

    def run(self):
        self.save_batches(batches())
"""

SCRIPT = """
import sys
import flowlib
from killdata import KillData

flowlib.set_dir(sys.argv[1])
forced = KillData() if len(sys.argv) > 2 else None
print(flowlib.run(KillData(), forced=forced))
"""


@pytest.fixture
def flow(tmp_path, flowlib_root):
    (tmp_path / "killdata.py").write_text(FLOW)
    (tmp_path / "kill_script.py").write_text(SCRIPT)
    spec = importlib.util.spec_from_file_location("killdata", tmp_path / "killdata.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["killdata"] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("killdata", None)


def _run(tmp_path: Path, root: Path, *, marker: Path | None = None, after: int = -1, forced: bool = False):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}
    env.pop("KILL_MARKER", None)
    if marker is not None:
        env["KILL_MARKER"], env["KILL_AFTER"] = str(marker), str(after)
    args = [sys.executable, str(tmp_path / "kill_script.py"), str(root)] + (["forced"] if forced else [])
    return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.002)
    raise AssertionError("the flow subprocess neither progressed nor exited")


def _kill(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)


def _temp_folders(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.is_dir() and p.name.startswith(".") and p.name.endswith(".tmp")]


def _assert_sound(flow, task) -> None:
    """A folder at the output path is a whole dataset: it has its manifest and loads all the data."""
    path = Path(task.output()["data"].path)
    if not path.exists():
        return
    assert (path / MANIFEST).exists(), f"{path} exists without its manifest"
    loaded = task.output()["data"].load().sort_values("n").reset_index(drop=True)
    pd.testing.assert_frame_equal(loaded, flow.expected(), check_dtype=False, check_like=True)


def test_kill_9_mid_write_leaves_nothing_that_looks_complete(flow, tmp_path, flowlib_root):
    task = flow.KillData()
    folder = Path(task.storage().family_dir("KillData"))
    final = Path(task.output()["data"].path)
    marker = tmp_path / "writing"

    # 1. The first save, killed with parts open: no final folder, a temporary folder without manifest.
    proc = _run(tmp_path, flowlib_root, marker=marker, after=8)
    assert _wait_for(marker, proc), proc.communicate()
    _kill(proc)
    assert not final.exists()
    [leftover] = _temp_folders(folder)
    assert leftover.name.startswith(f".{final.name}.{proc.pid}.")
    assert list(leftover.rglob("*.parquet")) and not (leftover / MANIFEST).exists()
    node = flowlib.build_plan([task]).roots[0]
    assert node.status is flowlib.Status.PENDING and node.reason == "no output"
    assert read_record(task) is None

    # 2. An undisturbed run completes and sweeps the dead writer's folder.
    proc = _run(tmp_path, flowlib_root)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert _temp_folders(folder) == [] and flowlib.build_plan([task]).roots[0].complete
    first_manifest = (final / MANIFEST).read_bytes()

    # 3. A forced resave killed mid-write: the old dataset stays whole at the final path.
    marker.unlink()
    proc = _run(tmp_path, flowlib_root, marker=marker, after=16, forced=True)
    assert _wait_for(marker, proc), proc.communicate()
    _kill(proc)
    assert (final / MANIFEST).read_bytes() == first_manifest
    _assert_sound(flow, task)
    assert len(_temp_folders(folder)) == 1

    # 4. Kills at random moments of a save: a folder at the final path is always whole.
    rng = random.Random(SEED)
    for delay in [rng.uniform(0.0, 0.3) for _ in range(2)]:
        marker.unlink(missing_ok=True)
        proc = _run(tmp_path, flowlib_root, marker=marker, forced=True)
        try:
            if _wait_for(marker, proc):
                time.sleep(delay)
        finally:
            _kill(proc)
        _assert_sound(flow, task)
        assert len(_temp_folders(folder)) <= 1  # each run swept the one before

    proc = _run(tmp_path, flowlib_root, forced=True)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert _temp_folders(folder) == []
    assert flowlib.build_plan([task]).roots[0].complete and flowlib.verify(task).ok
    _assert_sound(flow, task)
