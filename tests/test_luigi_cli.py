"""flowlib tasks run from luigi's own command line, with outputs where flowlib.run puts them."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
from flows.pipeline import Broken, Numbers, Scored, Tagged
from flows.servers import executable

import flowlib

TESTS_DIR = Path(__file__).parent
REPO = TESTS_DIR.parent


def luigi_cli(
    *args: str,
    data: Path,
    cwd: Path = TESTS_DIR,
    pythonpath: Path | None = TESTS_DIR,
    log: Path | None = None,
    module_mode: bool = False,
) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, FLOWLIB_DIR=str(data))
    for name in ("PYTHONPATH", "FLOWLIB_SCHEDULER", "FLOWS_RUN_LOG"):
        env.pop(name, None)
    # this checkout's flowlib first, whichever one is installed; then the folder the test imports from
    env["PYTHONPATH"] = os.pathsep.join([str(REPO)] + ([str(pythonpath)] if pythonpath is not None else []))
    if log is not None:
        env["FLOWS_RUN_LOG"] = str(log)
    luigi = executable("luigi")
    if module_mode or luigi is None:
        command = [sys.executable, "-m", "luigi"]
    else:
        command = [luigi]
    return subprocess.run([*command, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_luigi_cli_runs_a_flow_at_flowlib_paths(tmp_path):
    data, log = tmp_path / "data", tmp_path / "runs.log"
    result = luigi_cli("--module", "flows.pipeline", "Scored", "--scale", "2", "--local-scheduler", data=data, log=log)
    assert result.returncode == 0, result.stderr
    assert "4 ran successfully" in result.stderr
    assert len(log.read_text().split()) == 4

    flowlib.set_dir(data)
    task = Scored(scale=2.0)
    for target in task.output().values():
        assert Path(target.path).is_file() and Path(target.path).is_relative_to(data)
    assert task.metadata() is not None  # flowlib wrote its record when luigi called run()
    assert task.output_load() == {"gap": 10.0}
    assert flowlib.run(task).ran == []  # flowlib finds everything luigi made

    again = luigi_cli("--module", "flows.pipeline", "Scored", "--scale", "2.0", "--local-scheduler", data=data, log=log)
    assert again.returncode == 0 and "complete" in again.stderr
    assert len(log.read_text().split()) == 4


def test_luigi_parses_parameters_to_the_same_task_ids(tmp_path):
    data = tmp_path / "data"
    result = luigi_cli(
        "--module",
        "flows.pipeline",
        "Tagged",
        "--label",
        "a b",
        "--sizes",
        "[3,4]",
        "--max-depth",
        "7",
        "--verbose",
        "--local-scheduler",
        data=data,
    )
    assert result.returncode == 0, result.stderr
    flowlib.set_dir(data)
    task = Tagged(label="a b", sizes=[3, 4], max_depth=7, verbose=True)
    assert task.complete()
    assert task.output_load() == {"label": "a b", "sizes": [3, 4], "max_depth": 7, "verbose": True}


def test_python_dash_m_luigi_imports_from_the_current_directory(tmp_path):
    data = tmp_path / "data"
    result = luigi_cli(
        "--module",
        "flows.pipeline",
        "Numbers",
        "--n",
        "3",
        "--local-scheduler",
        data=data,
        pythonpath=None,
        module_mode=True,
    )
    assert result.returncode == 0, result.stderr
    flowlib.set_dir(data)
    assert Numbers(n=3).output_load()["x"].tolist() == [0, 1, 2]


def test_a_failing_task_leaves_no_output_and_luigi_reports_it(tmp_path):
    data = tmp_path / "data"
    result = luigi_cli(
        "--module", "flows.pipeline", "Broken", "--local-scheduler", "--retcode-task-failed", "5", data=data
    )
    assert result.returncode == 5
    assert "broken on purpose" in result.stderr
    flowlib.set_dir(data)
    assert Numbers().complete() and not Broken().complete()
    assert not (data / "Broken").exists() or not any((data / "Broken").iterdir())


@pytest.mark.skipif(not (REPO / "examples" / "ml_workflow.py").exists(), reason="no examples/ml_workflow.py")
@pytest.mark.skipif(importlib.util.find_spec("sklearn") is None, reason="the example needs scikit-learn")
def test_the_issue_command_on_the_example(tmp_path):
    """`luigi --module examples.ml_workflow Train --scale 2 --local-scheduler`, from the repository root."""
    data = tmp_path / "data"
    result = luigi_cli(
        "--module",
        "examples.ml_workflow",
        "Train",
        "--scale",
        "2",
        "--local-scheduler",
        data=data,
        cwd=REPO,
        pythonpath=REPO,
    )
    assert result.returncode == 0, result.stderr
    assert "3 ran successfully" in result.stderr

    sys.path.insert(0, str(REPO))
    try:
        from examples.ml_workflow import Train
    finally:
        sys.path.remove(str(REPO))
    flowlib.set_dir(data)
    result = flowlib.run(Train(scale=2.0))
    assert result.ran == [] and len(result.complete) == 3
    assert hasattr(Train(scale=2.0).output_load(), "predict")
