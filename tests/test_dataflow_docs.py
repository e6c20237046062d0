"""The Dataflows guide runs: its python blocks, in order, as one script; the picture it shows is the one drawn."""

from __future__ import annotations

import doctest
import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PAGE = REPO / "docs" / "guide-dataflows.md"
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
MODULES = ["types", "errors", "op", "collect", "flow", "network", "orchestrator", "pictures", "task"]
MERMAID_BLOCK = re.compile(r"^```text\n(flowchart LR\n.*?)^```", re.S | re.M)


def test_guide_code_runs_and_shows_the_picture_it_draws(tmp_path):
    text = PAGE.read_text(encoding="utf-8")
    blocks = PYTHON_BLOCK.findall(text)
    assert len(blocks) >= 8
    script = tmp_path / "guide.py"
    script.write_text("\n".join(blocks), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLOWLIB_", "LUIGI_CONFIG"))}
    env.update(FLOWLIB_DIR=str(tmp_path / "data"), PYTHONPATH=str(REPO), PYTHONDONTWRITEBYTECODE="1")
    done = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "operation 'calculate' failed in context 'bad' with inputs operation='divide', numbers=[4, 2]" in done.stdout
    shown = MERMAID_BLOCK.search(text)
    assert shown is not None
    assert done.stdout.endswith(shown.group(1) + "\n")


def test_docstring_examples_run():
    for name in MODULES:
        module = importlib.import_module(f"flowlib.dataflow.{name}")
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.failed == 0, f"flowlib.dataflow.{name}: {result}"
