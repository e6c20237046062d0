"""flowlib in a real Jupyter kernel (issue 10 items 3, 7 and 8): what a notebook user sees.

The notebook is written with nbformat and executed with nbclient on an ipykernel running this
venv's Python with this checkout of flowlib on its path.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
if importlib.util.find_spec("ipykernel") is None:  # not imported here: flowlib would think it runs in a kernel
    pytest.skip("ipykernel is needed to run a notebook", allow_module_level=True)

REPO = Path(__file__).resolve().parent.parent

CELLS = [
    # 0: tasks
    """import re, warnings
warnings.simplefilter("always")
import pandas as pd
import flowlib

class NbGet(flowlib.TaskParquet):
    def run(self):
        self.save(pd.DataFrame({"x": range(10)}))

@flowlib.requires(NbGet)
class NbTrain(flowlib.TaskPickle):
    def run(self):
        self.save(float(self.input_load()["x"].mean()))""",
    # 1: a preview renders itself, nothing is printed
    "flowlib.preview(NbTrain())",
    # 2: and its value is the text
    """text = flowlib.preview(NbTrain())
print(isinstance(text, str), re.findall(r"(\\w+)\\(\\)  (PENDING)", text), text.splitlines()[-1])""",
    # 3: a run shows its result once, as an HTML table; the progress bar draws without warnings
    "flowlib.run(NbTrain())",
    # 4: a picture of the flow
    "flowlib.graph(NbTrain())",
]


def kernel_spec(folder: Path) -> str:
    """A kernelspec running this Python with this checkout first on its path."""
    name = "flowlib-test"
    spec = folder / "kernels" / name
    spec.mkdir(parents=True)
    spec.joinpath("kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "flowlib test",
                "language": "python",
                "env": {"PYTHONPATH": str(REPO)},
            }
        )
    )
    return name


def outputs_of(cell) -> dict[str, list]:
    found: dict[str, list] = {"stdout": [], "stderr": [], "results": [], "errors": []}
    for output in cell.outputs:
        if output.output_type == "stream":
            found[output.name].append(output.text)
        elif output.output_type in ("execute_result", "display_data"):
            found["results"].append(output.data)
        elif output.output_type == "error":
            found["errors"].append(f"{output.ename}: {output.evalue}")
    return found


def test_a_notebook_shows_previews_runs_and_graphs_once_without_warnings(tmp_path, monkeypatch):
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("FLOWLIB_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("FLOWLIB_EXECUTION_SUMMARY", raising=False)
    name = kernel_spec(tmp_path / "jupyter")
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in CELLS])
    client = nbclient.NotebookClient(
        notebook, kernel_name=name, timeout=120, resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    cells = [outputs_of(cell) for cell in notebook.cells]
    assert not any(cell["errors"] for cell in cells), cells
    everything = json.dumps(cells)
    assert "TqdmWarning" not in everything and "IProgress not found" not in everything

    preview = cells[1]
    assert preview["stdout"] == []  # not printed as well
    [shown] = preview["results"]
    assert shown["text/html"].startswith("<pre") and "PENDING" in shown["text/html"]
    assert shown["text/plain"].splitlines()[0] == "NbTrain()  PENDING  (no output)"

    assert cells[2]["stdout"] == ["True [('NbTrain', 'PENDING'), ('NbGet', 'PENDING')] 2 tasks: 2 PENDING\n"]

    run = cells[3]
    assert run["stdout"] == []  # the summary is not printed as well
    [result] = run["results"]
    html = result["text/html"]
    assert "<table>" in html and "flowlib run succeeded" in html
    assert "<code>NbGet()</code>" in html and "<code>NbTrain()</code>" in html and "no output" in html
    assert "2 ran:\n    NbGet()  (no output)" in result["text/plain"]
    assert "2/2" in "".join(run["stderr"])  # the progress bar (tqdm's text bar, no ipywidgets here)

    [picture] = cells[4]["results"]
    assert picture["text/plain"] == "FlowGraph(2 tasks, 1 edges: 2 COMPLETE)"
    if shutil.which("dot") is not None:
        assert "<svg" in picture["image/svg+xml"] and "text/html" not in picture
    else:
        assert picture["text/html"].startswith("<pre")
