"""Tasks: parameters, persistence keyed by parameters, save and load (issue 3 items 2-4, 11)."""

from __future__ import annotations

import os

import luigi
import pandas as pd
import pytest

import flowlib
from flowlib.errors import PersistKeyError


def example_flow():
    """The flow of the README, defined afresh for each test."""

    class GetData(flowlib.TaskParquet):
        def run(self):
            self.save(pd.DataFrame({"x": range(100)}))

    @flowlib.requires(GetData)
    class Preprocess(flowlib.TaskParquet):
        scale = flowlib.FloatParameter(default=1.0)
        persist = ["train", "test"]

        def run(self):
            df = self.input_load() * self.scale
            self.save({"train": df.iloc[:80], "test": df.iloc[80:]})

    @flowlib.requires(Preprocess)
    class Train(flowlib.TaskPickle):
        def run(self):
            train, test = self.input_load()
            self.save({"mean": train["x"].mean()})

    return GetData, Preprocess, Train


def test_task_is_a_luigi_task_and_parameters_come_from_luigi():
    assert issubclass(flowlib.Task, luigi.Task)
    exported = {name for name in dir(luigi) if name.endswith("Parameter")}
    assert exported <= set(flowlib.__all__)
    for name in exported:
        assert getattr(flowlib, name) is getattr(luigi, name)


def test_readme_flow_runs_and_loads(flowlib_root):
    GetData, Preprocess, Train = example_flow()
    result = flowlib.run(Train(scale=2.0))
    assert result and len(result.ran) == 3
    assert Train(scale=2.0).output_load() == {"mean": 79.0}
    train, test = Preprocess(scale=2.0).output_load()
    assert list(train["x"][:3]) == [0, 2, 4] and len(test) == 20
    again = flowlib.run(Train(scale=2.0))
    assert again.ran == [] and len(again.complete) == 3


def test_output_paths_are_keyed_by_task_id(flowlib_root):
    GetData, Preprocess, Train = example_flow()
    a, b = Preprocess(scale=2.0), Preprocess(scale=3.0)
    paths_a = {k: t.path for k, t in a.output().items()}
    paths_b = {k: t.path for k, t in b.output().items()}
    assert paths_a["train"] == f"{flowlib_root}/Preprocess/{a.task_id}-train.parquet"
    assert paths_a["test"].endswith(f"{a.task_id}-test.parquet")
    assert set(paths_a.values()).isdisjoint(paths_b.values())
    assert {k: t.path for k, t in Preprocess(scale=2.0).output().items()} == paths_a
    assert Train(scale=2.0).output()["data"].path.endswith(".pkl")


def test_root_resolution_order(tmp_path, monkeypatch):
    class Leaf(flowlib.TaskPickle):
        def run(self):
            self.save(1)

    flowlib.set_dir(None)
    monkeypatch.chdir(tmp_path)
    assert Leaf().output()["data"].path.startswith(f"{tmp_path}/data/Leaf/")
    config = tmp_path / "luigi.cfg"
    config.write_text(f"[flowlib]\ndir = {tmp_path / 'from-config'}\n")
    luigi.configuration.get_config().add_config_path(str(config))
    try:
        assert Leaf().output()["data"].path.startswith(f"{tmp_path}/from-config/")
        monkeypatch.setenv("FLOWLIB_DIR", str(tmp_path / "from-env"))
        assert Leaf().output()["data"].path.startswith(f"{tmp_path}/from-env/")
        flowlib.set_dir(tmp_path / "from-code")
        assert Leaf().output()["data"].path.startswith(f"{tmp_path}/from-code/")
    finally:
        luigi.configuration.get_config().remove_section("flowlib")

    class OwnRoot(flowlib.TaskPickle):
        root = str(tmp_path / "own")

        def run(self):
            self.save(1)

    assert OwnRoot().output()["data"].path.startswith(f"{tmp_path}/own/OwnRoot/")


def test_requires_accepts_list_and_dict():
    class A(flowlib.TaskPickle):
        a = flowlib.IntParameter(default=1)

        def run(self):
            self.save(self.a)

    class B(flowlib.TaskPickle):
        b = flowlib.IntParameter(default=2)

        def run(self):
            self.save(self.b)

    @flowlib.requires(A, B)
    class Listed(flowlib.TaskPickle):
        def run(self):
            self.save(self.input_load())

    @flowlib.requires({"first": A, "second": B})
    class Named(flowlib.TaskPickle):
        def run(self):
            self.save(self.input_load())

    @flowlib.inherits({"first": A})
    class Inherited(flowlib.TaskPickle):
        def requires(self):
            return self.clone_parents()

        def run(self):
            self.save(self.input_load(task="first"))

    flowlib.run([Listed(a=5), Named(b=7), Inherited(a=9)])
    assert Listed(a=5).output_load() == [5, 2]
    assert Named(b=7).output_load() == {"first": 1, "second": 7}
    assert Inherited(a=9).output_load() == 9
    assert Named().requires() == {"first": A(), "second": B()}


def test_requires_rejects_instances():
    class A(flowlib.TaskPickle):
        pass

    with pytest.raises(flowlib.TaskDefinitionError, match="not an instance"):
        flowlib.requires(A())


def test_input_load_shapes_keys_and_task_selection():
    class Two(flowlib.TaskPickle):
        persist = ["a", "b"]

        def run(self):
            self.save({"a": 1, "b": 2})

    class One(flowlib.TaskPickle):
        def run(self):
            self.save("one")

    seen = {}

    class Consumer(flowlib.TaskPickle):
        def requires(self):
            return {"two": Two(), "one": One()}

        def run(self):
            seen["all"] = self.input_load()
            seen["dict"] = self.input_load(task="two", as_dict=True)
            seen["keys"] = self.input_load(task="two", keys=["b", "a"])
            seen["key"] = self.input_load(task="two", keys="b")
            seen["one"] = self.input_load(task="one")
            self.save(True)

    class ListConsumer(flowlib.TaskPickle):
        def requires(self):
            return [One(), Two()]

        def run(self):
            seen["index"] = self.input_load(task=1, keys="a")
            self.save(True)

    flowlib.run([Consumer(), ListConsumer()])
    assert seen["all"] == {"two": [1, 2], "one": "one"}
    assert seen["dict"] == {"a": 1, "b": 2}
    assert seen["keys"] == [2, 1]
    assert seen["key"] == 2
    assert seen["one"] == "one"
    assert seen["index"] == 1
    assert Two().output_load(as_dict=True) == {"a": 1, "b": 2}
    assert Two().output_load(keys=["b"], as_dict=True) == {"b": 2}


def test_save_names_missing_and_extra_keys():
    class Split(flowlib.TaskPickle):
        persist = ["train", "test"]

        def run(self):
            self.save({"train": 1, "valid": 2})

    with pytest.raises(flowlib.TaskFailedError) as info:
        flowlib.run(Split())
    message = str(info.value)
    assert "missing ['test']" in message and "not in persist ['valid']" in message and "Split()" in message
    assert not Split().complete()
    assert not any(t.exists() for t in Split().output().values())


def test_run_without_saving_every_output_fails_naming_keys():
    class Lazy(flowlib.TaskPickle):
        persist = ["a", "b"]

        def run(self):
            self.save(1, key="a")

    result = flowlib.run(Lazy(), abort=False)
    assert not result and result.failed == [Lazy()]
    assert "without saving ['b']" in result.outcome(Lazy()).error
    assert not Lazy().output()["a"].exists(), "a failed task keeps no outputs"


def test_unknown_output_key_raises_persist_key_error():
    class Two(flowlib.TaskPickle):
        persist = ["a", "b"]

        def run(self):
            self.save({"a": 1, "b": 2})

    flowlib.run(Two())
    with pytest.raises(PersistKeyError, match=r"Two\(\) has no output 'c'; persist is \['a', 'b'\]"):
        Two().output_load("c")


def test_loading_an_incomplete_task_says_run_it_first():
    class NotYet(flowlib.TaskPickle):
        def run(self):
            self.save(1)

    with pytest.raises(flowlib.TaskIncompleteError, match=r"NotYet\(\) has not been run.*run it first"):
        NotYet().output_load()


def test_empty_persist_is_rejected_at_definition():
    with pytest.raises(flowlib.TaskDefinitionError, match="Nothing.persist is empty"):

        class Nothing(flowlib.TaskPickle):
            persist = []


def test_saving_wrong_object_to_parquet_names_task_and_fix():
    class Bad(flowlib.TaskParquet):
        def run(self):
            self.save({"not": "a frame"})

    with pytest.raises(flowlib.TaskFailedError) as info:
        flowlib.run(Bad())
    cause = str(info.value)
    assert "Bad()" in cause and "Parquet holds pandas DataFrames, got dict" in cause and "TaskPickle" in cause


def test_parameter_of_wrong_type_names_task_and_parameter():
    class Typed(flowlib.TaskPickle):
        scale = flowlib.FloatParameter(default=1.0)
        n = flowlib.IntParameter(default=1)

    with pytest.raises(flowlib.ParameterError, match=r"Typed: parameter 'scale' expects a float.*got 'abc'"):
        Typed(scale="abc")
    with pytest.raises(flowlib.ParameterError, match=r"parameter 'n' expects an int, got 1.5"):
        Typed(n=1.5)
    assert Typed(scale="2.5").scale == 2.5  # strings parse as on luigi's command line
    assert Typed(scale=2).task_id == Typed(scale=2.0).task_id


def test_save_outside_run_is_refused():
    class Outside(flowlib.TaskPickle):
        def run(self):
            self.save(1)

    with pytest.raises(flowlib.FlowlibError, match="inside run"):
        Outside().save(1)


def test_memory_task_outputs_stay_in_process_without_files(flowlib_root):
    frame = pd.DataFrame({"x": [1, 2]})

    class InMemory(flowlib.TaskMemory):
        def run(self):
            self.save(frame)

    flowlib.run(InMemory())
    assert InMemory().output_load() is frame
    assert not os.path.exists(flowlib_root) or not any(files for _, _, files in os.walk(flowlib_root))


def test_invalidate_removes_outputs_and_record():
    class Once(flowlib.TaskPickle):
        def run(self):
            self.save(1)

    flowlib.run(Once())
    assert Once().complete() and Once().metadata() is not None
    Once().invalidate()
    assert not Once().complete() and Once().metadata() is None
    assert not Once().output()["data"].exists()


def test_fsync_setting_still_saves(monkeypatch):
    calls = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: calls.append(fd) or real(fd))
    monkeypatch.setattr(flowlib.settings, "fsync", True)

    class Synced(flowlib.TaskPickle):
        def run(self):
            self.save(1)

    flowlib.run(Synced())
    assert Synced().output_load() == 1 and len(calls) >= 2, "the output and the record were fsynced"


def test_input_load_as_dict_gives_values_for_single_output_requirements():
    """Issue 10 item 5: over a list or dict of requirements, one output -> its value, several -> a dict."""

    class Pair(flowlib.TaskPickle):
        persist = ["a", "b"]

        def run(self):
            self.save({"a": 1, "b": 2})

    class Single(flowlib.TaskPickle):
        def run(self):
            self.save("one")

    seen = {}

    class ByName(flowlib.TaskPickle):
        def requires(self):
            return {"pair": Pair(), "single": Single()}

        def run(self):
            seen["dict"] = self.input_load(as_dict=True)
            seen["picked"] = self.input_load(task="single", as_dict=True)
            self.save(True)

    class ByList(flowlib.TaskPickle):
        def requires(self):
            return [Single(), Pair()]

        def run(self):
            seen["list"] = self.input_load(as_dict=True)
            self.save(True)

    class OnlyOne(flowlib.TaskPickle):
        def requires(self):
            return Pair()

        def run(self):
            seen["one"] = self.input_load(as_dict=True)
            self.save(True)

    flowlib.run([ByName(), ByList(), OnlyOne()], execution_summary=False)
    assert seen["dict"] == {"pair": {"a": 1, "b": 2}, "single": "one"}
    assert seen["list"] == ["one", {"a": 1, "b": 2}]
    assert seen["one"] == {"a": 1, "b": 2}
    assert seen["picked"] == {"data": "one"}  # one requirement asked for as a dict: its outputs by name


def test_every_parameter_problem_is_a_parameter_error():
    """Issue 10 item 6: dates from strings, bad choices, unknown and missing parameters."""
    import datetime

    class Dated(flowlib.TaskPickle):
        day = flowlib.DateParameter(default=datetime.date(2024, 1, 1))
        month = flowlib.MonthParameter(default=datetime.date(2024, 1, 1))
        mode = flowlib.ChoiceParameter(choices=["fast", "slow"], default="fast")

    class Needs(flowlib.TaskPickle):
        rows = flowlib.IntParameter()

    # strings parse as on luigi's command line
    assert Dated(day="2024-02-03").day == datetime.date(2024, 2, 3)
    assert Dated(month="2024-05").month == datetime.date(2024, 5, 1)
    assert Dated(day="2024-02-03").task_id == Dated(day=datetime.date(2024, 2, 3)).task_id

    cases = [
        (
            lambda: Dated(day="3rd of May"),
            "day",
            "3rd of May",
            r"Dated: parameter 'day' expects a date, got "
            r"'3rd of May' \(str\); pass e.g. day=datetime.date\(2024, 1, 31\) or a string .*'2024-01-31'",
        ),
        (lambda: Dated(month="May"), "month", "May", r"parameter 'month' expects a date.*'2024-01'"),
        (
            lambda: Dated(mode="medium"),
            "mode",
            "medium",
            r"Dated: parameter 'mode' got 'medium'.*it accepts one of \['fast', 'slow'\]",
        ),
        (
            lambda: Dated(days="2024-01-01"),
            "days",
            "2024-01-01",
            r"Dated has no parameter 'days' \(given '2024-01-01'\); its parameters: day, month, mode",
        ),
        (lambda: Needs(), "rows", None, r"Needs needs the parameter 'rows' \(an int; it has no default\)"),
    ]
    for make, name, value, message in cases:
        with pytest.raises(flowlib.ParameterError, match=message) as info:
            make()
        error = info.value
        assert isinstance(error, flowlib.FlowlibError) and isinstance(error, TypeError)
        assert not isinstance(error, luigi.parameter.ParameterException)
        assert (error.task, error.parameter, error.value) == (error.task, name, value)
        assert error.task in ("Dated", "Needs") and error.accepted


def test_saving_a_dict_of_frames_to_one_parquet_output_suggests_persist():
    """Issue 10 item 8: the right fix is naming the outputs."""

    class Frames(flowlib.TaskParquet):
        def run(self):
            self.save({"train": pd.DataFrame({"x": [1]}), "test": pd.DataFrame({"x": [2]})})

    with pytest.raises(flowlib.TaskFailedError) as info:
        flowlib.run(Frames(), execution_summary=False)
    message = str(info.value)
    assert "persist = ['train', 'test']" in message and "Frames" in message
    assert isinstance(info.value.__cause__, flowlib.TargetFormatError)
