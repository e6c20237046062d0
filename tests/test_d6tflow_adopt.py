"""Adopting outputs written by real d6tflow 0.2.8: found, checked, taken over, and nothing reruns.

d6tflow runs in a subprocess (its import changes luigi's task-id settings for the whole process); it
writes the outputs of a small flow and pickles what it loads back. The same flow, with its import line
switched to ``import flowlib.d6tflow as d6tflow``, then adopts them here.
"""

from __future__ import annotations

import importlib.util
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pandas as pd
import pytest

import flowlib
import flowlib.d6tflow as d6tflow
from flowlib.cli import main
from flowlib.d6tflow import AdoptStatus
from flowlib.layout import RECORD_LOG

FLOW = """
import pandas as pd
import d6tflow


class AdGetData(d6tflow.tasks.TaskPqPandas):
    rows = d6tflow.IntParameter(default=5)

    def run(self):
        self.save(pd.DataFrame({"x": range(self.rows)}))


class Ad_Raw(d6tflow.tasks.TaskCSVPandas):  # d6tflow's folder for this family is "Ad"
    def run(self):
        self.save(pd.DataFrame({"a": [1, 2, 3], "b": ["u", "v", "w"]}))


@d6tflow.requires({"data": AdGetData, "raw": Ad_Raw})
class AdSplit(d6tflow.tasks.TaskPqPandas):
    persist = ["train", "test"]

    def run(self):
        df = self.inputLoad()["data"]
        self.save({"train": df.iloc[:3], "test": df.iloc[3:]})


@d6tflow.requires(AdSplit)
class AdSummary(d6tflow.tasks.TaskJson):
    def run(self):
        train, test = self.inputLoad()
        self.save({"n_train": len(train), "n_test": len(test)})


@d6tflow.requires(AdSummary)
class AdModel(d6tflow.tasks.TaskPickle):  # four parameters, one long: d6tflow's task id is not luigi's
    alpha = d6tflow.FloatParameter(default=0.5)
    beta = d6tflow.Parameter(default="a-parameter-value-longer-than-sixteen")
    gamma = d6tflow.IntParameter(default=7)

    def run(self):
        self.save({"summary": self.inputLoad(), "alpha": self.alpha})


class AdCached(d6tflow.tasks.TaskCache):
    def run(self):
        self.save({"in": "memory"})
"""

WRITER = """
import pickle, sys
sys.path.insert(0, sys.argv[1])
import d6tflow
d6tflow.set_dir(sys.argv[2])
import d6t_flows as f
task = f.AdModel()
d6tflow.run(task, execution_summary=False)
loaded = {type(t).__name__: t.outputLoad() for t in d6tflow.taskflow_upstream(task)}
with open(sys.argv[3], "wb") as handle:
    pickle.dump(loaded, handle)
"""


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder where real d6tflow 0.2.8 ran the flow: ``data/`` and ``expected.pkl`` (what d6tflow loads)."""
    folder = tmp_path_factory.mktemp("d6tflow-run")
    (folder / "d6t_flows.py").write_text(FLOW)
    (folder / "writer.py").write_text(WRITER)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the real d6tflow, not flowlib's
    done = subprocess.run(
        [sys.executable, "writer.py", str(folder), str(folder / "data"), str(folder / "expected.pkl")],
        cwd=folder, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return folder


def _flows(folder: Path) -> ModuleType:
    """The same flow on flowlib: one line changed."""
    path = folder / "mig_flows.py"
    path.write_text(FLOW.replace("import d6tflow\n", "import flowlib.d6tflow as d6tflow\n"))
    spec = importlib.util.spec_from_file_location("mig_flows", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["mig_flows"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def copy_of(written: Path, tmp_path: Path) -> Path:
    shutil.copytree(written / "data", tmp_path / "data")
    return tmp_path / "data"


def _d6tflow_files(data: Path) -> list[str]:
    return sorted(str(p.relative_to(data)) for p in data.rglob("*") if p.is_file() and not _is_record(p.name))


def _is_record(name: str) -> bool:
    return ".record." in name or name == RECORD_LOG


def test_real_d6tflow_layout_is_found(written: Path) -> None:
    flows = _flows(written)
    found = {str(p.relative_to(written / "data")) for task in [flows.AdModel(), flows.Ad_Raw()]
             for p in d6tflow.d6tflow_paths(task, written / "data").values()}  # fmt: skip
    assert found <= set(_d6tflow_files(written / "data"))
    assert any(name.startswith("Ad/Ad_Raw_") for name in found)  # the family folder cut at its first "_"
    model_id = d6tflow.d6tflow_task_id(flows.AdModel())
    assert model_id != flows.AdModel().task_id and "a_parameter_value_longer_than_sixteen" in model_id


def test_adopt_in_place_then_nothing_reruns(written: Path, copy_of: Path, capsys: pytest.CaptureFixture[str]) -> None:
    flowlib.set_dir(copy_of)  # flowlib's root is d6tflow's folder
    flows = _flows(written)
    before = _d6tflow_files(copy_of)
    report = d6tflow.adopt(flows.AdModel(), dirpath=copy_of)
    assert report and {str(t.task): t.status for t in report.tasks} == {
        "AdGetData(rows=5)": AdoptStatus.ADOPTED,
        "Ad_Raw()": AdoptStatus.ADOPTED,
        "AdSplit(rows=5)": AdoptStatus.ADOPTED,
        "AdSummary(rows=5)": AdoptStatus.ADOPTED,
        "AdModel(rows=5, alpha=0.5, beta=a-parameter-value-longer-than-sixteen, gamma=7)": AdoptStatus.ADOPTED,
    }, str(report)
    plan = flowlib.build_plan(flows.AdModel())
    assert all(n.complete for n in plan.nodes), flowlib.preview(flows.AdModel(), show=False)
    result = flowlib.run(flows.AdModel())
    assert result.ran == []
    with open(written / "expected.pkl", "rb") as handle:
        expected = pickle.load(handle)
    for task in d6tflow.taskflow_upstream(flows.AdModel()):
        got, want = task.outputLoad(), expected[type(task).__name__]
        if isinstance(want, pd.DataFrame):
            pd.testing.assert_frame_equal(got, want)
        elif isinstance(want, list):
            for a, b in zip(got, want):
                pd.testing.assert_frame_equal(a, b)
        else:
            assert got == want
    # moved, not copied: d6tflow's files whose flowlib path differs are gone from their old place
    after = _d6tflow_files(copy_of)
    assert not any(name.startswith("Ad/") for name in after) and len(after) == len(before)
    assert flows.AdModel().metadata().metadata["adopted_from_d6tflow"]


def test_adopt_copy_keeps_d6tflow_files_and_reports_unreadable(written: Path, copy_of: Path, tmp_path: Path) -> None:
    flowlib.set_dir(tmp_path / "flowlib")  # another root: the files are copied over
    flows = _flows(written)
    split = d6tflow.d6tflow_paths(flows.AdSplit(), copy_of)["test"]
    split.write_bytes(split.read_bytes()[:20])  # truncated: cannot load
    before = _d6tflow_files(copy_of)
    report = d6tflow.adopt([flows.AdModel()], dirpath=copy_of, copy=True)
    status = {type(t.task).__name__: t.status for t in report.tasks}
    assert status["AdSplit"] is AdoptStatus.UNREADABLE and not report
    assert status["AdGetData"] is AdoptStatus.ADOPTED and status["AdModel"] is AdoptStatus.ADOPTED
    assert "AdSplit" in str(report) and str(split) in str(report)
    assert _d6tflow_files(copy_of) == before  # copy=True leaves d6tflow's folder as it was
    assert not flows.AdSplit().complete()
    # what could not be read reruns, and what depends on it follows
    ran = {type(t).__name__ for t in flowlib.run(flows.AdModel()).ran}
    assert "AdSplit" in ran and "AdGetData" not in ran and "Ad_Raw" not in ran


def test_adopt_reports_missing_and_memory_outputs(written: Path, tmp_path: Path) -> None:
    flows = _flows(written)
    report = d6tflow.adopt([flows.AdGetData(rows=9), flows.AdCached()], dirpath=written / "data")
    status = {type(t.task).__name__: t.status for t in report.tasks}
    assert status == {"AdGetData": AdoptStatus.MISSING, "AdCached": AdoptStatus.IN_MEMORY}
    assert report  # nothing unreadable


def test_adopt_cli(written: Path, copy_of: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _flows(written)
    code = main(["adopt-d6tflow", f"{written / 'mig_flows.py'}:AdSummary", "--dir", str(copy_of)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "4 adopted" in out and "AdSummary(rows=5)" in out
    assert main(["run", f"{written / 'mig_flows.py'}:AdSummary", "--dir", str(copy_of)]) == 0
    assert " ran" not in capsys.readouterr().out  # every task complete: nothing ran


def test_adopt_cli_reports_unreadable_with_exit_code(written: Path, copy_of: Path, capsys) -> None:
    _flows(written)
    path = next((copy_of / "AdGetData").glob("*.parquet"))
    path.write_bytes(b"not parquet")
    code = main(["adopt-d6tflow", f"{written / 'mig_flows.py'}:AdGetData", "--dir", str(copy_of)])
    assert code == 1
    assert "unreadable" in capsys.readouterr().out
    assert path.read_bytes() == b"not parquet"


def test_flow_text_differs_from_d6tflow_only_by_its_import() -> None:
    changed = FLOW.replace("import d6tflow\n", "import flowlib.d6tflow as d6tflow\n")
    diff = [(a, b) for a, b in zip(FLOW.splitlines(), changed.splitlines()) if a != b]
    assert diff == [("import d6tflow", "import flowlib.d6tflow as d6tflow")]
