"""Two processes run the same flow on the same root at once: each task runs once, every output is whole.

Also: a lock held by a process that was killed is free at once; a lock held by a
live process makes the other wait, up to ``settings.lock_timeout``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

import flowlib
from flowlib.verify import verify

FLOW = '''
import os
import time

import numpy as np
import pandas as pd

import flowlib


def note(name):
    """Log one execution of an expensive task (append-only, one short line)."""
    with open(os.path.join(os.environ["CONC_LOG"], name), "a") as handle:
        handle.write(f"{os.getpid()}\\n")


def base_frame():
    return pd.DataFrame({"x": np.arange(200_000), "y": np.random.default_rng(3).random(200_000)})


class ConcRoot(flowlib.TaskParquet):
    def run(self):
        note("ConcRoot")
        time.sleep(0.4)
        self.save(base_frame())


@flowlib.requires(ConcRoot)
class ConcLeft(flowlib.TaskParquet):
    def run(self):
        note("ConcLeft")
        time.sleep(0.3)
        self.save(self.input_load() * 2)


@flowlib.requires(ConcRoot)
class ConcRight(flowlib.TaskCSV):
    def run(self):
        note("ConcRight")
        time.sleep(0.3)
        self.save(self.input_load().head(1000))


@flowlib.requires(ConcLeft, ConcRight)
class ConcJoin(flowlib.TaskPickle):
    def run(self):
        note("ConcJoin")
        time.sleep(0.3)
        left, right = self.input_load()
        self.save({"left": float(left["y"].sum()), "right": len(right)})


class ConcGate(flowlib.TaskPickle):
    """Holds its run, after the flow was planned, until the file CONC_GATE exists."""

    def run(self):
        gate = os.environ["CONC_GATE"]
        open(gate + ".reached", "w").close()
        while not os.path.exists(gate):
            time.sleep(0.005)
        self.save("opened")
'''

SCRIPT = """
import json, os, sys, time
import flowlib
from concflow import ConcJoin

root, ready, go, workers = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
flowlib.set_dir(root)
open(ready, "w").close()
while not os.path.exists(go):  # start both runs together
    time.sleep(0.001)
result = flowlib.run(ConcJoin(), workers=workers)
print(json.dumps({"ok": bool(result), "ran": [str(t) for t in result.ran],
                  "complete": [str(t) for t in result.complete]}))
"""

HOLDER = """
import sys, time
from flowlib.locks import task_lock

with task_lock(sys.argv[1], sys.argv[2], timeout=5):
    print("held", flush=True)
    time.sleep(120)
"""

NAMES = ["ConcRoot", "ConcLeft", "ConcRight", "ConcJoin"]


def _env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "CONC_LOG": str(tmp_path / "log"), "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}


@pytest.fixture
def flow(tmp_path, monkeypatch):
    (tmp_path / "log").mkdir()
    (tmp_path / "concflow.py").write_text(FLOW)
    monkeypatch.setenv("CONC_LOG", str(tmp_path / "log"))
    spec = importlib.util.spec_from_file_location("concflow", tmp_path / "concflow.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["concflow"] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("concflow", None)


def _executions(tmp_path: Path) -> dict[str, int]:
    log = tmp_path / "log"
    return {name: len((log / name).read_text().split()) if (log / name).exists() else 0 for name in NAMES}


@pytest.mark.parametrize("workers", [1, 2])
def test_two_processes_run_the_same_flow_each_task_once(flow, tmp_path, flowlib_root, workers):
    (tmp_path / "conc_script.py").write_text(SCRIPT)
    go = tmp_path / "go"
    procs, ready = [], []
    for i in range(2):
        ready.append(tmp_path / f"ready{i}")
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    str(tmp_path / "conc_script.py"),
                    str(flowlib_root),
                    str(ready[-1]),
                    str(go),
                    str(workers),
                ],
                env=_env(tmp_path),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    deadline = time.monotonic() + 60
    while not all(r.exists() for r in ready):
        assert time.monotonic() < deadline and all(p.poll() is None for p in procs), "a run did not start"
        time.sleep(0.01)
    go.touch()
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))

    assert all(r["ok"] for r in results)  # both runs succeed
    assert _executions(tmp_path) == dict.fromkeys(NAMES, 1)  # the expensive work was done once
    ran = [set(r["ran"]) for r in results]
    assert ran[0].isdisjoint(ran[1]) and ran[0] | ran[1] == {f"{name}()" for name in NAMES}
    for mine, other in zip(results, reversed(results)):  # what one ran, the other found complete
        assert set(other["ran"]) <= set(mine["complete"])

    base = flow.base_frame()  # every output whole and correct
    pd.testing.assert_frame_equal(flow.ConcRoot().output_load(), base)
    pd.testing.assert_frame_equal(flow.ConcLeft().output_load(), base * 2)
    pd.testing.assert_frame_equal(flow.ConcRight().output_load(), base.head(1000))
    assert flow.ConcJoin().output_load() == {"left": float((base * 2)["y"].sum()), "right": 1000}
    assert verify(flow.ConcJoin()).ok


GATED_SCRIPT = """
import sys
import threading
import flowlib
from concflow import ConcGate, ConcRoot

flowlib.set_dir(sys.argv[1])
result = flowlib.run([ConcGate(), ConcRoot()])  # planned now; ConcRoot runs after the gate opens
print(result)
"""


def test_task_completed_by_another_process_after_planning_is_not_run_again(flow, tmp_path, flowlib_root):
    (tmp_path / "gated.py").write_text(GATED_SCRIPT)
    gate = tmp_path / "gate"
    env = {**_env(tmp_path), "CONC_GATE": str(gate)}
    proc = subprocess.Popen(
        [sys.executable, str(tmp_path / "gated.py"), str(flowlib_root)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not Path(f"{gate}.reached").exists():  # the other run has planned ConcRoot as pending
            assert time.monotonic() < deadline and proc.poll() is None, "the gated run did not start"
            time.sleep(0.01)
        assert flowlib.run(flow.ConcRoot())  # this process runs ConcRoot meanwhile, start to finish
        gate.touch()
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert _executions(tmp_path)["ConcRoot"] == 1


def _hold_lock(tmp_path: Path, task: flowlib.Task) -> subprocess.Popen:
    (tmp_path / "holder.py").write_text(HOLDER)
    directory = task.storage().family_dir(task.get_task_family())
    proc = subprocess.Popen(
        [sys.executable, str(tmp_path / "holder.py"), directory, task.task_id],
        env=_env(tmp_path),
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_lock_of_a_killed_process_is_taken_over_at_once(flow, tmp_path, monkeypatch):
    monkeypatch.setattr(flowlib.settings, "lock_timeout", 10.0)
    holder = _hold_lock(tmp_path, flow.ConcRoot())
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=30)
    started = time.monotonic()
    result = flowlib.run(flow.ConcRoot())
    assert [t.task_id for t in result.ran] == [flow.ConcRoot().task_id]
    assert time.monotonic() - started < 10.0  # did not sit out the lock timeout
    assert _executions(tmp_path)["ConcRoot"] == 1


def test_lock_of_a_live_process_makes_the_run_wait_then_time_out(flow, tmp_path, monkeypatch):
    monkeypatch.setattr(flowlib.settings, "lock_timeout", 0.3)
    holder = _hold_lock(tmp_path, flow.ConcRoot())
    try:
        result = flowlib.run(flow.ConcRoot(), abort=False)
        error = result.outcome(flow.ConcRoot()).error
        assert "LockTimeoutError" in error and flow.ConcRoot().task_id in error
        assert _executions(tmp_path)["ConcRoot"] == 0  # waited, never ran it alongside the holder
    finally:
        holder.kill()
        holder.wait(timeout=30)
    assert flowlib.run(flow.ConcRoot())
    assert _executions(tmp_path)["ConcRoot"] == 1


def test_two_threads_running_the_same_flow_run_each_task_once(flow, tmp_path):
    barrier = threading.Barrier(2)
    results: list[flowlib.RunResult] = []

    def run() -> None:
        barrier.wait()
        results.append(flowlib.run(flow.ConcRoot()))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(results) == 2 and all(results)
    assert _executions(tmp_path)["ConcRoot"] == 1
