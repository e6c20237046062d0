"""flowlib.d6tflow as a migrating user meets it: d6tflow's README example, formats, and the differences that matter."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import sklearn.datasets
import sklearn.linear_model
import sklearn.metrics

import flowlib
import flowlib.d6tflow as d6tflow


# d6tflow's README example, unchanged but for the import line.
class TaskGetData(d6tflow.tasks.TaskPqPandas):
    def run(self):
        iris = sklearn.datasets.load_iris()
        df_train = pd.DataFrame(iris.data, columns=[f"feature{i}" for i in range(4)])
        df_train["y"] = iris.target
        self.save(df_train)


@d6tflow.requires(TaskGetData)
class TaskPreprocess(d6tflow.tasks.TaskPqPandas):
    do_preprocess = d6tflow.BoolParameter(default=True)

    def run(self):
        df_train = self.input().load()
        if self.do_preprocess:
            df_train.iloc[:, :-1] = (df_train.iloc[:, :-1] - df_train.iloc[:, :-1].mean()) / df_train.iloc[:, :-1].std()
        self.save(df_train)


@d6tflow.requires(TaskPreprocess)
class TaskTrain(d6tflow.tasks.TaskPickle):
    def run(self):
        df_train = self.input().load()
        model = sklearn.linear_model.LogisticRegression(max_iter=500)
        model.fit(df_train.iloc[:, :-1], df_train["y"])
        self.save(model)


def test_readme_example_runs_and_reruns_only_what_changed(capsys: pytest.CaptureFixture[str]) -> None:
    shown = str(d6tflow.preview(TaskTrain()))  # flowlib's tree
    for label in ("TaskTrain(do_preprocess=True)", "TaskPreprocess(do_preprocess=True)", "TaskGetData()"):
        assert f"{label}  PENDING" in shown, shown
    result = d6tflow.run([TaskTrain()])
    assert [type(t).__name__ for t in result.ran] == ["TaskGetData", "TaskPreprocess", "TaskTrain"]
    model = TaskTrain().output().load()
    df_train = TaskPreprocess().output().load()
    assert sklearn.metrics.accuracy_score(df_train["y"], model.predict(df_train.iloc[:, :-1])) > 0.9
    shown = str(d6tflow.preview([TaskTrain(do_preprocess=False)]))
    assert "TaskGetData()  COMPLETE" in shown and "TaskPreprocess(do_preprocess=False)  PENDING" in shown
    again = d6tflow.run(TaskTrain(do_preprocess=False))
    assert [type(t).__name__ for t in again.ran] == ["TaskPreprocess", "TaskTrain"]
    assert "flowlib run succeeded" in capsys.readouterr().out  # d6tflow's run prints its summary


def test_execution_summary_can_be_silenced(capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    d6tflow.run(TaskGetData(), execution_summary=False)
    assert capsys.readouterr().out == ""
    monkeypatch.setattr(d6tflow.settings, "execution_summary", False)
    d6tflow.run(TaskGetData(), forced_all=True)
    assert capsys.readouterr().out == ""
    d6tflow.run(TaskGetData(), execution_summary=True)
    assert "1 already complete" in capsys.readouterr().out


def test_reset_and_invalidate_ask_first_as_in_d6tflow(monkeypatch) -> None:
    d6tflow.run(TaskGetData(), execution_summary=False)
    monkeypatch.setattr(sys, "stdin", io.StringIO("n\n"))
    assert TaskGetData().reset() is False
    assert TaskGetData().complete()
    monkeypatch.setattr(sys, "stdin", io.StringIO("y\n"))
    assert TaskGetData().invalidate() is True
    assert not TaskGetData().complete()
    d6tflow.run(TaskGetData(), execution_summary=False)
    assert TaskGetData().reset(confirm=False) and not TaskGetData().complete()  # no question with confirm=False


@pytest.mark.parametrize(
    ("base", "value"),
    [
        (d6tflow.tasks.TaskCachePandas, pd.DataFrame({"a": [1, 2]})),
        (d6tflow.tasks.TaskCache, {"any": object}),
        (d6tflow.tasks.TaskJson, {"test": 1}),
        (d6tflow.tasks.TaskPickle, {"test": 1}),
        (d6tflow.tasks.TaskCSVPandas, pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})),
        (d6tflow.tasks.TaskPqPandas, pd.DataFrame({"a": [1.5, 2.5]})),
        (d6tflow.tasks.TaskExcelPandas, pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})),
    ],
)
def test_formats_save_and_load(base: type, value: object) -> None:
    class FormatTask(base):  # type: ignore[misc, valid-type]
        def run(self):
            self.save(value)

    d6tflow.run(FormatTask(), execution_summary=False)
    loaded = FormatTask().output().load()
    if isinstance(value, pd.DataFrame):
        pd.testing.assert_frame_equal(loaded, value)
    else:
        assert loaded == value
    assert FormatTask().outputLoad() is not None and FormatTask().output().exists()


def test_excel_without_a_writer_says_what_to_install(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "openpyxl", None)
    monkeypatch.setitem(sys.modules, "xlsxwriter", None)

    class NoExcel(d6tflow.tasks.TaskExcelPandas):
        def run(self):
            self.save(pd.DataFrame({"a": [1]}))

    with pytest.raises(d6tflow.RunFailedError, match="pip install openpyxl"):
        d6tflow.run(NoExcel(), execution_summary=False)


def test_output_paths_are_strings_with_pathlib_methods() -> None:
    d6tflow.run(TaskGetData(), execution_summary=False)
    path = TaskGetData().output().path
    assert isinstance(path, str) and path.endswith("TaskGetData/TaskGetData__99914b932b-data.parquet")
    assert path.stat().st_size > 0 and path.parent.name == "TaskGetData"
    shown = d6tflow.Workflow(TaskGetData).outputPath()  # as d6tflow names it: under the folder you set
    assert shown == d6tflow.settings.dirpath / "TaskGetData" / "TaskGetData__99914b932b-data.parquet"


def test_failures_raise_runtime_errors_with_the_original_traceback() -> None:
    class Broken(d6tflow.tasks.TaskPickle):
        def run(self):
            raise ValueError("bad input")

    with pytest.raises(RuntimeError) as caught:
        d6tflow.run(Broken(), execution_summary=False)
    assert isinstance(caught.value, flowlib.TaskFailedError) and "ValueError: bad input" in caught.value.traceback
    with pytest.raises(d6tflow.CompatError, match="no default task"):
        d6tflow.Workflow().run()


def test_what_is_not_provided_says_what_to_use() -> None:
    with pytest.raises(d6tflow.NotProvidedError, match="d6tpipe"):
        d6tflow.FlowExport  # noqa: B018
    with pytest.raises(AttributeError, match="fsspec URL"):
        d6tflow.settings.cloud_fs_enabled = True
    with pytest.raises(AttributeError, match="has no 'nonsense'"):
        d6tflow.settings.nonsense = 1


def test_settings_map_onto_flowlib(tmp_path) -> None:
    assert d6tflow.set_dir(tmp_path / "d") == tmp_path / "d"
    assert flowlib.settings.dir == str(tmp_path / "d") and d6tflow.settings.dirpath == tmp_path / "d"
    d6tflow.settings.dirpath = tmp_path / "e"
    assert flowlib.settings.dir == str(tmp_path / "e")


def test_metadata_round_trips_through_the_record() -> None:
    class WithMeta(d6tflow.tasks.TaskPickle):
        def run(self):
            self.save(1)
            self.saveMeta({"score": 0.9, "frame": pd.DataFrame({"a": [1]})})

    @d6tflow.requires(WithMeta)
    class ReadsMeta(d6tflow.tasks.TaskPickle):
        def run(self):
            self.save(self.metaLoad()["score"])

    d6tflow.run(ReadsMeta(), execution_summary=False)
    assert ReadsMeta().outputLoad() == 0.9
    meta = WithMeta().outputLoadMeta()
    assert meta["score"] == 0.9 and meta["frame"].equals(pd.DataFrame({"a": [1]}))
    assert WithMeta().metadata().metadata["score"] == 0.9  # plain values stay readable in the record
    assert set(ReadsMeta().outputLoadAllMeta()) == {"WithMeta"}


def test_migration_guide_runs(tmp_path) -> None:
    """The ```python blocks of docs/migrating-from-d6tflow.md run, in order, as one script."""
    repo = Path(__file__).resolve().parent.parent
    text = (repo / "docs" / "migrating-from-d6tflow.md").read_text(encoding="utf-8")
    script = "\n".join(re.findall(r"^```python\n(.*?)^```", text, re.S | re.M))
    (tmp_path / "guide.py").write_text(script)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWLIB_")}
    env.update(FLOWLIB_DIR=str(tmp_path / "data"), PYTHONPATH=str(repo))
    done = subprocess.run(
        [sys.executable, "guide.py"], cwd=tmp_path, env=env, stdin=subprocess.DEVNULL,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "flowlib run succeeded" in done.stdout and "d6tflow outputs:" in done.stdout


def test_runs_on_worker_processes() -> None:
    result = d6tflow.run(TaskTrain(do_preprocess=False), workers=2, execution_summary=False)
    assert len(result.ran) == 3 and TaskTrain(do_preprocess=False).complete()
    assert TaskPreprocess(do_preprocess=False).output().path.exists()


def test_run_confirm_asks_before_running(monkeypatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("n\n"))
    result = d6tflow.run(TaskGetData(), confirm=True, execution_summary=False)
    assert result.cancelled and not TaskGetData().complete()
    monkeypatch.setattr(sys, "stdin", io.StringIO("y\n"))
    assert d6tflow.run(TaskGetData(), confirm=True, execution_summary=False).ran == [TaskGetData()]


def test_log_level_sets_flowlib_and_luigi_loggers(monkeypatch) -> None:
    import logging

    for name in ("flowlib", "luigi", "luigi-interface"):
        monkeypatch.setattr(logging.getLogger(name), "level", logging.getLogger(name).level)
    d6tflow.settings.log_level = "error"
    assert logging.getLogger("flowlib").level == logging.ERROR and logging.getLogger("luigi-interface").level == 40
    with pytest.raises(flowlib.FlowlibError, match="not a logging level"):
        d6tflow.settings.log_level = "loud"
    d6tflow.settings.log_level = "WARNING"


def test_a_run_that_saves_nothing_stays_incomplete_but_partial_saves_fail(caplog) -> None:
    class Checks(d6tflow.tasks.TaskPickle):  # d6tflow tests often assert inside run() and save nothing
        def run(self):
            assert True

    class Half(d6tflow.tasks.TaskPickle):
        persist = ["a", "b"]

        def run(self):
            self.save(1, key="a")

    assert d6tflow.run(Checks(), execution_summary=False).ran == [Checks()]
    assert not Checks().complete() and "saved no output" in caplog.text
    with pytest.raises(d6tflow.RunFailedError, match="without saving"):
        d6tflow.run(Half(), execution_summary=False)
    assert not Half().output()["a"].exists()  # all or nothing
