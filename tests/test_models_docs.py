"""examples/serve_model.py and the Python blocks of docs/models.md run and do what they say."""

from __future__ import annotations

import re
from pathlib import Path

from flows.scripts import run_python

REPO = Path(__file__).resolve().parent.parent
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def test_serve_model_example_serves_generation_2_after_the_push(tmp_path):
    out = run_python([str(REPO / "examples" / "serve_model.py")], tmp_path).stdout
    assert "pushed iris/1.0/1" in out and "pushed iris/1.0/2" in out
    assert re.search(r"^\$ curl .*/models/iris/predict$", out, re.M)
    answers = re.findall(r"^(iris/1\.0/\d) answered: (\[.*\])$", out, re.M)
    assert answers[0][0] == "iris/1.0/1" and answers[-1][0] == "iris/1.0/2"
    truth = re.search(r"^truth: (\[.*\])$", out, re.M).group(1)
    assert answers[-1][1] == truth  # the deeper forest gets these rows right
    assert (tmp_path / "data" / "registry" / "iris" / "1.0" / "2" / "tag.json").is_file()


def test_models_guide_python_blocks_run(tmp_path):
    blocks = PYTHON_BLOCK.findall((REPO / "docs" / "models.md").read_text())
    assert len(blocks) >= 3
    script = tmp_path / "guide.py"
    script.write_text("import pandas as pd\n" + "\n".join(blocks))
    out = run_python([str(script)], tmp_path).stdout
    assert "metadata.accuracy" in out
