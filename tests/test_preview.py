"""Preview: the tree, statuses, shared subtrees drawn once (issue 3 item 8)."""

from __future__ import annotations

import sys

import pandas as pd

import flowlib


def test_preview_shows_status_and_significant_parameters(capsys):
    class GetData(flowlib.TaskParquet):
        def run(self):
            self.save(pd.DataFrame({"x": range(10)}))

    @flowlib.requires(GetData)
    class Prep(flowlib.TaskParquet):
        scale = flowlib.FloatParameter(default=1.0)
        secret = flowlib.Parameter(default="x", significant=False)

        def run(self):
            self.save(self.input_load() * self.scale)

    flowlib.run(Prep(scale=2.0))
    capsys.readouterr()  # the run's summary
    shown = flowlib.preview(Prep(scale=3.0))
    printed = capsys.readouterr().out
    assert printed.strip() == str(shown).strip()
    lines = str(shown).splitlines()
    assert lines[0] == "Prep(scale=3.0)  PENDING  (no output)"
    assert lines[1] == "└─ GetData()  COMPLETE"
    assert lines[2] == "2 tasks: 1 COMPLETE, 1 PENDING"
    assert "secret" not in str(shown)
    assert shown.status(GetData()) is flowlib.Status.COMPLETE
    quiet = flowlib.preview(Prep(scale=2.0), show=False)
    assert capsys.readouterr().out == "" and "Prep(scale=2.0)  COMPLETE" in str(quiet)


def diamond(layers: int, width: int):
    class Node(flowlib.TaskPickle):
        layer = flowlib.IntParameter()
        i = flowlib.IntParameter()

        def requires(self):
            if self.layer == 0:
                return []
            return [Node(layer=self.layer - 1, i=self.i), Node(layer=self.layer - 1, i=(self.i + 1) % width)]

        def run(self):
            self.save(self.i)

    class Top(flowlib.TaskPickle):
        def requires(self):
            return [Node(layer=layers - 1, i=i) for i in range(width)]

        def run(self):
            self.save(0)

    return Top, Node


def test_diamond_of_1000_tasks_prints_lines_proportional_to_tasks():
    Top, Node = diamond(10, 100)
    shown = flowlib.preview(Top(), show=False)
    lines = str(shown).splitlines()
    tasks = 10 * 100 + 1
    assert len(shown.plan.nodes) == tasks
    assert len(lines) <= 3 * tasks
    first_lines = [line for line in lines if "  PENDING  (" in line]
    assert len(first_lines) == tasks, "each task's own line appears exactly once"
    references = [line for line in lines if line.endswith("(see above)")]
    assert references and all("[" in line for line in references)


def test_shared_subtree_is_referenced_not_redrawn():
    Top, Node = diamond(2, 2)
    text = str(flowlib.preview(Top(), show=False))
    assert text.count("Node(layer=0, i=0)  PENDING") == 1
    assert "[1] Node(layer=0, i=0)  (see above)" in text or "(see above)" in text


def test_deep_chain_preview_has_short_lines_and_no_recursion():
    class Link(flowlib.TaskPickle):
        n = flowlib.IntParameter()

        def requires(self):
            return Link(n=self.n - 1) if self.n else []

    limit = sys.getrecursionlimit()
    text = str(flowlib.preview(Link(n=3000), show=False))
    assert sys.getrecursionlimit() == limit
    lines = text.splitlines()
    assert len(lines) == 3001 + 1
    assert max(len(line) for line in lines) < 200
    assert "(depth 3000) Link(n=0)  PENDING" in text


def test_html_rendering_colours_statuses():
    class Leaf(flowlib.TaskPickle):
        def run(self):
            self.save(1)

    flowlib.run(Leaf())
    shown = flowlib.preview(Leaf(), show=False)
    html = shown._repr_html_()
    assert html.startswith("<pre") and 'style="color:#1a7f37">COMPLETE</b>' in html


def test_preview_returns_the_text_as_a_str():
    """Issue 10 item 3: the returned value is the text, usable with every string function and re."""
    import re

    class StrGet(flowlib.TaskParquet):
        def run(self):
            self.save(pd.DataFrame({"x": [1]}))

    @flowlib.requires(StrGet)
    class StrTrain(flowlib.TaskPickle):
        scale = flowlib.FloatParameter(default=1.0)

        def run(self):
            self.save(1)

    flowlib.run(StrGet(), execution_summary=False)
    text = flowlib.preview(StrTrain(scale=2.0), show=False)
    assert isinstance(text, str)
    assert text.splitlines()[0] == "StrTrain(scale=2.0)  PENDING  (no output)"
    assert re.findall(r"(\w+)\(.*?\)  (COMPLETE|PENDING)", text) == [("StrTrain", "PENDING"), ("StrGet", "COMPLETE")]
    assert text.endswith("2 tasks: 1 COMPLETE, 1 PENDING") and "PENDING" in text
    assert text == text.text and str(text) == text.text and repr(text) == text.text
    assert type(text.upper()) is str and text.count("\n") == 2
    # the plan stays at hand on the returned object
    assert text.counts() == {"COMPLETE": 1, "PENDING": 1, "STALE": 0}
    assert text.status(StrGet()) is flowlib.Status.COMPLETE
    assert text._repr_html_().startswith("<pre")

    flow = flowlib.Workflow(StrTrain, params={"scale": 2.0})
    flows = flowlib.WorkflowMulti(StrTrain, {"a": {"scale": 1.0}, "b": {"scale": 3.0}})
    assert isinstance(flow.preview(show=False), str) and flow.preview(show=False) == text
    many = flows.preview(show=False)
    assert isinstance(many, str) and re.search(r"^3 tasks: 1 COMPLETE, 2 PENDING$", many, re.M)


def test_preview_prints_once_in_a_script_and_the_value_is_the_same_text(capsys):
    class Printed(flowlib.TaskPickle):
        def run(self):
            self.save(1)

    text = flowlib.preview(Printed())
    assert capsys.readouterr().out == text + "\n"
    flowlib.preview(Printed(), show=False)
    assert capsys.readouterr().out == ""


def test_previews_and_summaries_go_through_the_summary_logger_which_can_silence_them(capsys):
    import logging

    class Logged(flowlib.TaskPickle):
        def run(self):
            self.save(1)

    summary = logging.getLogger("flowlib.summary")
    level = summary.level
    summary.setLevel(logging.WARNING)
    try:
        text = flowlib.preview(Logged(), show=True)
        result = flowlib.run(Logged(), execution_summary=True)
        assert capsys.readouterr().out == ""  # silenced, though show=True asked for it
    finally:
        summary.setLevel(level)
    assert "Logged()" in text and result.ran
    again = flowlib.preview(Logged(), show=True)
    assert capsys.readouterr().out == again + "\n"  # shown on standard output again once the level allows it
