"""Kill -9 in the middle of a save: nothing partial is ever taken for complete, and a rerun repairs it.

A subprocess runs a flow whose task saves a large DataFrame in two outputs; the test
kills it with SIGKILL at random moments of the save (seeded, a bounded number of
rounds), then checks the files on disk and the plan, and finally lets a run finish.
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
from flowlib.storage import TEMP_SUFFIX
from flowlib.verify import verify

ROUNDS = 5
SEED = 20240607

FLOW = """
import os
import pathlib

import numpy as np
import pandas as pd

import flowlib

ROWS = 2_000_000


def expected(rows=ROWS):
    rng = np.random.default_rng(7)
    frame = pd.DataFrame({"a": rng.random(rows), "b": rng.integers(0, 1 << 40, rows), "c": rng.random(rows)})
    half = rows // 2
    return frame.iloc[:half].reset_index(drop=True), frame.iloc[half:].reset_index(drop=True)


class KillSource(flowlib.TaskParquet):
    def run(self):
        self.save(pd.DataFrame({"seed": [7]}))


@flowlib.requires(KillSource)
class KillBig(flowlib.TaskParquet):
    persist = ["first", "second"]

    def run(self):
        first, second = expected()
        marker = os.environ.get("KILL_MARKER")
        if marker:
            pathlib.Path(marker).write_text(str(os.getpid()))  # saving starts now
        self.save({"first": first, "second": second})
"""

SCRIPT = """
import sys
import flowlib
from killflow import KillBig

flowlib.set_dir(sys.argv[1])
result = flowlib.run(KillBig())
print(result)
"""


@pytest.fixture
def flow(tmp_path, flowlib_root):
    (tmp_path / "killflow.py").write_text(FLOW)
    (tmp_path / "kill_script.py").write_text(SCRIPT)
    spec = importlib.util.spec_from_file_location("killflow", tmp_path / "killflow.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["killflow"] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("killflow", None)


def _start(tmp_path: Path, root: Path, marker: Path | None) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}
    env.pop("KILL_MARKER", None)
    if marker is not None:
        env["KILL_MARKER"] = str(marker)
    return subprocess.Popen(
        [sys.executable, str(tmp_path / "kill_script.py"), str(root)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _temp_files(folder: Path) -> list[Path]:
    return (
        [p for p in folder.iterdir() if p.name.startswith(".") and p.name.endswith(TEMP_SUFFIX)]
        if folder.exists()
        else []
    )


def _wait_for(condition, proc: subprocess.Popen, timeout: float = 60.0) -> bool:
    """Poll until ``condition()`` or the process exits; ``True`` if the condition came first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.002)
    raise AssertionError("the flow subprocess neither progressed nor exited")


def _assert_sound(flow, task) -> None:
    """Every file standing at an output path is complete and loads with the right data."""
    wanted = dict(zip(task.persist, flow.expected()))
    for key, target in task.output().items():
        if os.path.exists(target.path):
            pd.testing.assert_frame_equal(target.load(), wanted[key])


def test_kill_9_during_save_never_leaves_a_partial_output(flow, tmp_path, flowlib_root):
    big, source = flow.KillBig(), flow.KillSource()
    folder = Path(big.storage().family_dir("KillBig"))
    rng = random.Random(SEED)
    delays = [0.0] + [rng.uniform(0.0, 0.8) for _ in range(ROUNDS - 1)]  # the first kill lands right at the start
    killed_mid_save = 0
    earlier_temps: set[str] = set()

    for delay in delays:
        if flowlib.build_plan(big).roots[0].complete:  # a kill that came too late: make the task run again
            big.invalidate()
        marker = tmp_path / "saving"
        marker.unlink(missing_ok=True)
        proc = _start(tmp_path, flowlib_root, marker)
        try:
            if _wait_for(marker.exists, proc) and _wait_for(lambda: bool(_temp_files(folder)), proc):
                time.sleep(delay)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)

        temps = _temp_files(folder)
        # The next run removed what the previous kill left behind.
        assert earlier_temps.isdisjoint(p.name for p in temps)
        earlier_temps = {p.name for p in temps}
        plan = flowlib.build_plan(big)
        assert plan.node(source).complete  # finished before the kill, and stays complete
        if temps:  # killed while a file was still being written
            killed_mid_save += 1
            assert not plan.roots[0].complete
            assert read_record(big) is None
            names = [Path(target.path).name for target in big.output().values()]
            assert all(any(tmp.name.startswith(f".{name}.{proc.pid}.") for name in names) for tmp in temps)
        _assert_sound(flow, big)  # a file at a final path is never partial
        if plan.roots[0].complete:
            assert verify(big).ok

    assert killed_mid_save >= 1

    proc = _start(tmp_path, flowlib_root, marker=None)  # an undisturbed run repairs everything
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert _temp_files(folder) == []
    plan = flowlib.build_plan(big)
    assert plan.roots[0].complete
    first, second = big.output_load()
    want_first, want_second = flow.expected()
    pd.testing.assert_frame_equal(first, want_first)
    pd.testing.assert_frame_equal(second, want_second)
    assert verify(big).ok
