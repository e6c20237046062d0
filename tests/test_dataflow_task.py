"""DataFlowTask (issue 13 item 6): a dataflow in a flow, persisted like any output, STALE when an operation changes."""

from __future__ import annotations

import importlib.util
import itertools
import sys
import textwrap

import luigi
import pandas as pd
import pytest

import flowlib
from flowlib.dataflow import DataFlow, Definition, Input, get_multi, get_single, op
from flowlib.fingerprint import forget_code_fingerprints

TEXT, RESULT = Definition("calc_string", str), Definition("result", int)
CALLS: list[str] = []


@op(inputs={"text": TEXT}, outputs={"result": RESULT})
def calculate(text):
    CALLS.append(text)
    verb, left, _, right = text.split()
    if verb == "add":
        return {"result": int(left) + int(right)}
    if verb == "multiply":
        return {"result": int(left) * int(right)}
    raise ValueError(f"cannot {verb}")


class Questions(flowlib.TaskJSON):
    factor = flowlib.IntParameter(default=10)

    def run(self):
        self.save({"add": "add 40 and 2", "mul": f"multiply 42 and {self.factor}"})


@flowlib.requires(Questions)
class Calculator(flowlib.DataFlowTask):
    dataflow = DataFlow(calculate, get_single(RESULT))

    def inputs(self):
        return {name: [Input(text, TEXT)] for name, text in self.input_load().items()}


class CalculatorJSON(Calculator, flowlib.TaskJSON):
    pass


class CalculatorParquet(Calculator, flowlib.TaskParquet):
    pass


def test_dataflow_task_is_public_api():
    assert "DataFlowTask" in flowlib.__all__ and flowlib.DataFlowTask is flowlib.dataflow.DataFlowTask
    assert issubclass(flowlib.DataFlowTask, flowlib.Task)


def test_results_persist_as_the_output_keyed_by_parameters_and_do_not_rerun():
    CALLS.clear()
    result = flowlib.run(Calculator())
    assert [type(t).__name__ for t in result.ran] == ["Questions", "Calculator"]
    assert Calculator().output_load() == {"add": {"result": 42}, "mul": {"result": 420}}
    assert Calculator().output()["data"].path.endswith(".pkl")
    assert flowlib.run(Calculator()).ran == [] and len(CALLS) == 2  # complete: the flow does not run again
    flowlib.run(Calculator(factor=3))
    assert Calculator(factor=3).output_load()["mul"] == {"result": 126}
    assert Calculator().output_load()["mul"] == {"result": 420}  # the other parameters' output is untouched


def test_json_and_parquet_outputs_when_the_class_chooses():
    flowlib.run([CalculatorJSON(), CalculatorParquet()])
    assert CalculatorJSON().output()["data"].path.endswith(".json")
    assert CalculatorJSON().output_load() == {"add": {"result": 42}, "mul": {"result": 420}}
    frame = CalculatorParquet().output_load()
    assert CalculatorParquet().output()["data"].path.endswith(".parquet")
    expected = pd.DataFrame({"result": [42, 420]}, index=pd.Index(["add", "mul"], name="context"))
    pd.testing.assert_frame_equal(frame, expected, check_dtype=False)


def test_a_failing_operation_fails_the_task_and_leaves_no_output():
    class BadQuestions(Questions):
        def run(self):
            self.save({"bad": "divide 4 and 2"})

    @flowlib.requires(BadQuestions)
    class BadCalculator(Calculator):
        pass

    with pytest.raises(flowlib.TaskFailedError, match=r"operation 'calculate' failed in context 'bad'"):
        flowlib.run(BadCalculator())
    assert not BadCalculator().output()["data"].exists()


def test_seeds_only_flow_and_a_class_without_a_dataflow():
    n = Definition("n", int)

    @op(inputs={"n": n}, outputs={"n": n})
    def decrement(n):
        return {"n": n - 1} if n > 0 else None

    class Countdown(flowlib.DataFlowTask):
        dataflow = DataFlow(decrement, get_multi(n), seed=[Input(3, n)])

    flowlib.run(Countdown())
    assert Countdown().output_load() == {"default": {"n": [3, 2, 1, 0]}}
    with pytest.raises(flowlib.TaskDefinitionError, match="dataflow must be a flowlib.dataflow.DataFlow"):

        class Wrong(flowlib.DataFlowTask):
            dataflow = [decrement]


# -- the code fingerprint covers every operation ---------------------------------------------------

FLOW = """
import sys
from pathlib import Path

import flowlib
from flowlib.dataflow import DataFlow, Definition, Input, get_single, op, subprocess_op

N, M, K = Definition("n", int), Definition("m", int), Definition("k", int)
SCRIPT = Path(__file__).with_name("plus.py")


@op(inputs={"n": N}, outputs={"m": M})
def double(n):
    return {"m": n * 2}


plus = subprocess_op([sys.executable, str(SCRIPT)], inputs={"m": M}, outputs={"k": K}, name="plus")


class Doubler(flowlib.DataFlowTask):
    n = flowlib.IntParameter(default=5)
    dataflow = DataFlow(double, plus, get_single(K))

    def inputs(self):
        return [Input(self.n, N)]
"""
PLUS = "import json, sys\nprint(json.dumps({'k': json.load(sys.stdin)['m'] + 1}))\n"
_counter = itertools.count()


@pytest.fixture
def module_file(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    folder = tmp_path / "code"
    folder.mkdir()
    (folder / "plus.py").write_text(PLUS)
    path = folder / "df_flow.py"

    def load(source):
        path.write_text(textwrap.dedent(source))
        name = f"df_flow_{next(_counter)}"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        luigi.task_register.Register.clear_instance_cache()
        forget_code_fingerprints()
        return module

    load.folder = folder
    yield load
    for name in [n for n in sys.modules if n.startswith("df_flow_")]:
        del sys.modules[name]


def status(task):
    node = flowlib.preview(task, show=False).plan.nodes[0]
    return node.status.value, node.reason


def test_editing_an_operation_makes_the_task_stale(module_file):
    m = module_file(FLOW)
    flowlib.run(m.Doubler())
    assert m.Doubler().output_load() == {"default": {"k": 11}}
    assert status(m.Doubler()) == ("COMPLETE", "")

    m = module_file(FLOW + "\n# a comment changes nothing\n")
    assert status(m.Doubler()) == ("COMPLETE", "")

    m = module_file(FLOW.replace('return {"m": n * 2}', 'return {"m": n * 3}'))  # the operation's code
    assert status(m.Doubler()) == ("STALE", "code changed")
    flowlib.run(m.Doubler())
    assert m.Doubler().output_load() == {"default": {"k": 16}}


def test_editing_a_subprocess_script_or_the_wiring_makes_the_task_stale(module_file):
    m = module_file(FLOW)
    flowlib.run(m.Doubler())
    (module_file.folder / "plus.py").write_text(PLUS.replace("+ 1", "+ 2"))
    m = module_file(FLOW)
    assert status(m.Doubler()) == ("STALE", "code changed")
    flowlib.run(m.Doubler())
    assert m.Doubler().output_load() == {"default": {"k": 12}}
    m = module_file(FLOW.replace('outputs={"m": M})\ndef double', 'outputs={"m": M}, name="twice")\ndef double'))
    assert status(m.Doubler()) == ("STALE", "code changed")
