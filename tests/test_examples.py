"""The examples and the documentation run, and do what they say.

Each runs in a subprocess (its task classes would otherwise share luigi's registry with
other tests) with ``FLOWLIB_DIR`` pointing into ``tmp_path`` and stdin closed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from flows.scripts import run_python

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
# Pages whose ```python blocks form one script each; other pages are tested by their authors.
DOC_PAGES = [
    "README.md",
    "docs/index.md",
    "docs/guide-tasks.md",
    "docs/guide-running.md",
    "docs/guide-preview.md",
    "docs/guide-invalidate.md",
    "docs/guide-workflows.md",
]
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)

pytest.importorskip("sklearn", reason="the examples need scikit-learn: pip install -e '.[test]'")


def files(root: Path, family: str, suffix: str) -> list[Path]:
    return sorted((root / family).glob(f"*{suffix}"))


def test_ml_workflow_runs_only_what_is_needed(tmp_path):
    out = run_python([str(EXAMPLES / "ml_workflow.py")], tmp_path, timeout=240).stdout
    ran = re.findall(r"^-> ran (\d+) task\(s\): (.*)$", out, re.M)
    assert ran == [
        ("4", "GetData, Preprocess, Train, Evaluate"),  # first run: everything
        ("0", "nothing"),  # rerun: all complete
        ("2", "Train, Evaluate"),  # C changed
        ("3", "Preprocess, Train, Evaluate"),  # scale changed; GetData untouched
    ]
    assert "4 tasks: 4 PENDING" in out  # the first preview
    assert "4 tasks: 2 COMPLETE, 2 PENDING" in out  # the preview after changing C
    assert "4 tasks: 1 COMPLETE, 3 PENDING" in out  # the preview after changing scale

    data = tmp_path / "data"
    assert len(files(data, "GetData", ".parquet")) == 1
    assert len(files(data, "Preprocess", ".parquet")) == 4  # two scales x (train, test)
    assert len(files(data, "Train", ".pkl")) == 3
    evaluations = files(data, "Evaluate", "-data.json")
    assert len(evaluations) == 3
    metrics = [json.loads(path.read_text()) for path in evaluations]
    assert all(set(m) == {"accuracy", "f1_macro", "log_loss", "test_rows"} for m in metrics)
    assert max(m["accuracy"] for m in metrics) > 0.9  # a real model, not a stub
    (log,) = files(data, "Evaluate", ".flowlib-records.jsonl")  # one line per record
    records = [json.loads(line)["record"] for line in log.read_text().splitlines() if line]
    assert sorted(r["metadata"]["accuracy"] for r in records) == sorted(m["accuracy"] for m in metrics)

    # A second demo starts from scratch again (its step 0 invalidates), so it tells the same story.
    again = run_python([str(EXAMPLES / "ml_workflow.py")], tmp_path, timeout=240).stdout
    assert re.findall(r"^-> ran (\d+) task\(s\): (.*)$", again, re.M) == ran


def test_ml_workflow_from_luigi_command_line(tmp_path):
    """The README's luigi command: ``python -m luigi --module examples.ml_workflow Train ...``."""
    args = ["-m", "luigi", "--module", "examples.ml_workflow", "Train", "--scale", "2", "--local-scheduler"]
    done = run_python(args, tmp_path, timeout=240)
    assert "3 ran successfully" in done.stdout + done.stderr
    trained = files(tmp_path / "data", "Train", ".pkl")
    assert len(trained) == 1 and "_2_0_" in trained[0].name


@pytest.mark.parametrize("page", DOC_PAGES)
def test_doc_page_code_runs(page, tmp_path):
    """Every ```python block of a page, in order, as one script (blocks assert what they claim)."""
    blocks = PYTHON_BLOCK.findall((REPO / page).read_text(encoding="utf-8"))
    assert blocks, f"{page} has no python code blocks"
    script = tmp_path / "page.py"
    script.write_text("\n".join(blocks), encoding="utf-8")
    run_python([str(script)], tmp_path, timeout=240)


def test_readme_starts_with_the_two_commands():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    first = re.search(r"^```\w*\n(.*?)^```", text, re.S | re.M)
    assert first is not None
    lines = first.group(1).strip().splitlines()
    assert len(lines) == 2
    demo, tests = lines
    assert '".[examples]"' in demo and "examples/ml_workflow.py" in demo
    assert '".[test]"' in tests and "pytest" in tests


def test_notebook_code_runs(tmp_path):
    notebook = json.loads((EXAMPLES / "notebook_tour.ipynb").read_text(encoding="utf-8"))
    cells = ["".join(cell["source"]) for cell in notebook["cells"] if cell["cell_type"] == "code"]
    assert all(not cell["outputs"] for cell in notebook["cells"] if cell["cell_type"] == "code")
    script = tmp_path / "notebook.py"
    script.write_text("\n\n".join(cells), encoding="utf-8")
    run_python([str(script)], tmp_path, timeout=240, PYTHONPATH=str(EXAMPLES))
    assert len(files(tmp_path / "data", "Evaluate", "-data.json")) == 4
