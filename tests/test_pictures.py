"""Pictures: flowlib.graph(...).to_dot / to_mermaid / to_svg, and the preview's coloured HTML."""

from __future__ import annotations

import builtins
import re
import shutil

import pytest
from flows.pipeline import Fitted, Numbers, Scaled, Scored, Tagged

import flowlib
import flowlib.pictures
from flowlib.pictures import FlowGraph

COMPLETE_BORDER, PENDING_BORDER, STALE_BORDER = "#1a7f37", "#9a6700", "#cf222e"


def dot_nodes(dot: str) -> dict[str, str]:
    """``{label first line: node line}``."""
    found = {}
    for line in dot.splitlines():
        match = re.match(r'\s+n\d+ \[label="(.*?)\\n', line)
        if match:
            found[match.group(1)] = line
    return found


def test_graph_returns_a_flow_graph():
    picture = flowlib.graph(Scored())
    assert isinstance(picture, FlowGraph)
    assert "graph" in flowlib.__all__ and "FlowGraph" in flowlib.__all__


def test_to_dot_has_every_task_each_edge_once_and_statuses():
    flowlib.run(Scaled())
    dot = flowlib.graph(Scored()).to_dot()
    assert dot.startswith("digraph flow {") and dot.rstrip().endswith("}")
    nodes = dot_nodes(dot)
    assert set(nodes) == {
        "Numbers(n=10)",
        "Scaled(n=10, scale=1.0)",
        "Fitted(n=10, scale=1.0, with_tail=False)",
        "Scored(n=10, scale=1.0, with_tail=False)",
    }
    assert "COMPLETE" in nodes["Numbers(n=10)"] and COMPLETE_BORDER in nodes["Numbers(n=10)"]
    scored = nodes["Scored(n=10, scale=1.0, with_tail=False)"]
    assert "PENDING (no output)" in scored and PENDING_BORDER in scored
    ids = {label: re.match(r"\s+(n\d+)", line).group(1) for label, line in nodes.items()}
    edges = set(re.findall(r"(n\d+) -> (n\d+);", dot))
    assert len(re.findall(r" -> ", dot)) == len(edges) == 4  # Scaled feeds Fitted and Scored: drawn once each
    assert (ids["Numbers(n=10)"], ids["Scaled(n=10, scale=1.0)"]) in edges  # data flows downstream


def test_stale_tasks_are_coloured_and_say_why():
    flowlib.run(Fitted())
    flowlib.invalidate_upstream(Numbers())
    picture = flowlib.graph(Fitted())
    fitted = dot_nodes(picture.to_dot())["Fitted(n=10, scale=1.0, with_tail=False)"]
    assert "STALE (upstream Scaled will rerun)" in fitted and STALE_BORDER in fitted
    assert ":::stale" in picture.to_mermaid()


def test_to_mermaid():
    flowlib.run(Numbers())
    text = flowlib.graph(Scored()).to_mermaid()
    lines = text.splitlines()
    assert lines[0] == "flowchart LR"
    assert any(re.fullmatch(r'  n\d+\["Numbers\(n=10\)<br/>COMPLETE"\]:::complete', line) for line in lines)
    assert sum(":::pending" in line for line in lines) == 3
    assert sum(" --> " in line for line in lines) == 4
    for status in ("complete", "pending", "stale"):
        assert any(line.startswith(f"  classDef {status} ") for line in lines)


def test_labels_are_escaped():
    task = Tagged(label='say "hi" <b>#1</b> \\ ok')
    dot = flowlib.graph(task).to_dot()
    assert r"say \"hi\" <b>#1</b> \\ ok" in dot
    mermaid = flowlib.graph(task).to_mermaid()
    assert "say #quot;hi#quot; #lt;b#gt;#35;1#lt;/b#gt;" in mermaid
    assert mermaid.count('"') == 2 * 1  # only the label's own quotes


def test_a_large_diamond_draws_each_task_and_edge_once():
    class ExportLeaf(flowlib.TaskMemory):
        i = flowlib.IntParameter()

        def run(self):
            self.save(self.i)

    class ExportMiddle(flowlib.TaskMemory):
        i = flowlib.IntParameter()

        def requires(self):
            return ExportLeaf(i=0)

        def run(self):
            self.save(self.i)

    class ExportTop(flowlib.TaskMemory):
        def requires(self):
            return [ExportMiddle(i=i) for i in range(500)]

        def run(self):
            self.save(0)

    dot = flowlib.graph(ExportTop()).to_dot()
    assert len(dot_nodes(dot)) == 502
    assert dot.count(" -> ") == 1000


def test_to_svg_with_graphviz():
    pytest.importorskip("graphviz")
    if shutil.which("dot") is None:
        pytest.skip("Graphviz's dot program is not installed")
    flowlib.run(Numbers())
    svg = flowlib.graph(Scored()).to_svg()
    assert "<svg" in svg and "Numbers(n=10)" in svg and COMPLETE_BORDER in svg.lower()
    bundle = flowlib.graph(Scored())._repr_mimebundle_()  # notebooks draw the picture
    assert bundle["image/svg+xml"] == svg and "text/html" not in bundle
    assert bundle["text/plain"] == repr(flowlib.graph(Scored()))


def test_to_svg_without_graphviz_says_how_to_install(monkeypatch):
    real_import = builtins.__import__

    def no_graphviz(name, *args, **kwargs):
        if name == "graphviz":
            raise ImportError("No module named 'graphviz'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_graphviz)
    picture = flowlib.graph(Numbers())
    with pytest.raises(flowlib.FlowlibError, match=r"pip install 'flowlib\[graph\]'.*to_dot\(\) and to_mermaid"):
        picture.to_svg()
    html = picture._repr_mimebundle_()["text/html"]  # notebooks fall back to the coloured tree
    assert html.startswith("<pre") and f'color:{PENDING_BORDER}">PENDING' in html


def test_save_picks_the_format_from_the_suffix(tmp_path):
    picture = flowlib.graph(Numbers())
    assert picture.save(tmp_path / "flow.dot").read_text().startswith("digraph")
    assert picture.save(tmp_path / "flow.mmd").read_text().startswith("flowchart")
    with pytest.raises(flowlib.FlowlibError, match=r"\.dot, \.mmd or \.svg"):
        picture.save(tmp_path / "flow.png")


def test_preview_html_colours_each_status():
    flowlib.run(Fitted())
    Scaled().invalidate()  # Numbers COMPLETE; Scaled and Scored PENDING; Fitted STALE
    html = flowlib.preview(Scored(), show=False)._repr_html_()
    assert html.startswith("<pre") and html.endswith("</pre>")
    assert f'<b style="color:{COMPLETE_BORDER}">COMPLETE</b>' in html
    assert f'<b style="color:{PENDING_BORDER}">PENDING</b>' in html
    assert f'<b style="color:{STALE_BORDER}">STALE</b>' in html
    rows = html.split("\n")
    assert any("Numbers(n=10)" in row and COMPLETE_BORDER in row for row in rows)
    assert any("Scaled(n=10, scale=1.0)" in row and PENDING_BORDER in row for row in rows)


def test_preview_html_escapes_parameters():
    html = flowlib.preview(Tagged(label="<script>"), show=False)._repr_html_()
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_flow_graph_has_a_short_repr():
    flowlib.run(Numbers(), execution_summary=False)
    picture = flowlib.graph(Scored())
    assert repr(picture) == "FlowGraph(4 tasks, 4 edges: 1 COMPLETE, 3 PENDING)"
    assert picture._repr_mimebundle_()["text/plain"] == repr(picture)


def test_flow_graph_renders_as_a_picture_in_notebooks():
    """Issue 10 item 8: with Graphviz installed, notebooks get an SVG picture (not HTML, which would win)."""
    pytest.importorskip("graphviz")
    if shutil.which("dot") is None:
        pytest.skip("Graphviz's dot program is not installed")
    bundle = flowlib.graph(Scored())._repr_mimebundle_()
    assert set(bundle) == {"image/svg+xml", "text/plain"}
    assert "<svg" in bundle["image/svg+xml"] and "Scored(n=10" in bundle["image/svg+xml"]
    assert not hasattr(flowlib.graph(Scored()), "_repr_html_")  # IPython would add HTML, which JupyterLab prefers
