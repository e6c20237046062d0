"""Workflows and invalidation (issue 3 items 9 and 10)."""

from __future__ import annotations

import io

import pytest

import flowlib


def flow():
    class Load(flowlib.TaskPickle):
        def run(self):
            self.save([1, 2, 3])

    @flowlib.requires(Load)
    class Scale(flowlib.TaskPickle):
        factor = flowlib.IntParameter(default=1)
        persist = ["scaled", "total"]

        def run(self):
            scaled = [x * self.factor for x in self.input_load()]
            self.save({"scaled": scaled, "total": sum(scaled)})

    @flowlib.requires(Scale)
    class Report(flowlib.TaskJSON):
        def run(self):
            self.save({"total": self.input_load(keys="total")})

    return Load, Scale, Report


def test_workflow_runs_previews_and_loads():
    Load, Scale, Report = flow()
    wf = flowlib.Workflow(Report, params={"factor": 10})
    assert "PENDING" in str(wf.preview(show=False))
    assert wf.run()
    assert wf.output_load() == {"total": 60}
    assert wf.output_load(Scale, keys="total") == 60
    assert wf.output_load(Scale, as_dict=True) == {"scaled": [10, 20, 30], "total": 60}
    assert wf.output_load(Load) == [1, 2, 3]
    assert isinstance(wf.preview(show=False), flowlib.Preview)
    with pytest.raises(flowlib.ParameterError, match=r"has no parameter 'factr' \(given 1\); its parameters: "):
        flowlib.Workflow(Report, params={"factr": 1})


def test_workflow_multi_runs_parameter_sets_side_by_side():
    Load, Scale, Report = flow()
    multi = flowlib.WorkflowMulti(Report, {"small": {"factor": 1}, "big": {"factor": 100}})
    result = multi.run()
    assert len(result.ran) == 5, "Load is shared and runs once"
    assert multi.output_load(Report) == {"small": {"total": 6}, "big": {"total": 600}}
    assert multi.output_load(Scale, keys="total") == {"small": 6, "big": 600}
    assert isinstance(multi.preview(show=False), flowlib.Preview)


def test_invalidate_upstream_and_downstream():
    Load, Scale, Report = flow()
    flowlib.run(Report(factor=2))
    flowlib.invalidate_downstream(Scale(factor=2), Report(factor=2))
    assert Load().complete()
    assert not Scale(factor=2).output()["total"].exists()
    assert not Report(factor=2).output()["data"].exists()
    flowlib.run(Report(factor=2))
    flowlib.invalidate_upstream(Scale(factor=2))
    assert not Load().output()["data"].exists() and not Scale(factor=2).output()["scaled"].exists()
    assert Report(factor=2).output()["data"].exists(), "downstream outputs are kept"
    assert not Report(factor=2).complete(), "but no longer complete: upstream will rerun"


def test_invalidate_confirm_asks(monkeypatch):
    Load, Scale, Report = flow()
    flowlib.run(Load())
    monkeypatch.setattr("sys.stdin", io.StringIO("no\n"))
    assert Load().invalidate(confirm=True) is False
    assert Load().complete()
    monkeypatch.setattr("sys.stdin", io.StringIO("yes\n"))
    assert flowlib.invalidate_upstream(Load(), confirm=True) is True
    assert not Load().complete()


def test_an_unknown_experiment_lists_the_experiments():
    """Issue 10 item 9: flows["nope"] and flow="nope" name the experiments there are."""

    class Exp(flowlib.TaskPickle):
        scale = flowlib.FloatParameter(default=1.0)

        def run(self):
            self.save(self.scale * 10)

    flows = flowlib.WorkflowMulti(Exp, {"small": {"scale": 1.0}, "big": {"scale": 3.0}})
    flows.run(execution_summary=False)
    assert flows["big"].output_load() == 30.0
    assert flows.output_load(flow="big") == 30.0
    assert flows.output_load() == {"small": 10.0, "big": 30.0}
    assert flows.get_task(flow="small") == Exp(scale=1.0)
    expected = r"no experiment 'nope' in this WorkflowMulti of Exp; its experiments: \['small', 'big'\]"
    with pytest.raises(flowlib.UnknownExperimentError, match=expected) as info:
        flows["nope"]
    assert isinstance(info.value, KeyError) and isinstance(info.value, flowlib.FlowlibError)
    for call in (
        lambda: flows.output_load(flow="nope"),
        lambda: flows.run(flow="nope"),
        lambda: flows.preview(flow=["small", "nope"]),
    ):
        with pytest.raises(flowlib.UnknownExperimentError, match=expected):
            call()
    assert flows.preview(flow="small", show=False).counts()["COMPLETE"] == 1
