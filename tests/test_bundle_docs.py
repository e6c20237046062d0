"""docs/sharing.md's code and examples/share_results.py run and do what they say."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).parent.parent
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def run_python(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLOWLIB_", "LUIGI_CONFIG"))}
    env.update(PYTHONPATH=str(REPO), FLOWLIB_DIR=str(cwd / "data"))
    done = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{args} failed:\n{done.stdout}\n{done.stderr}"
    return done


def test_the_sharing_page_code_runs(tmp_path):
    blocks = PYTHON_BLOCK.findall((REPO / "docs" / "sharing.md").read_text(encoding="utf-8"))
    assert len(blocks) >= 5
    script = tmp_path / "page.py"
    script.write_text("\n".join(blocks), encoding="utf-8")
    run_python([str(script)], tmp_path)


def test_the_sharing_page_is_linked_from_the_index():
    assert "(sharing.md)" in (REPO / "docs" / "index.md").read_text(encoding="utf-8")
    assert "flowlib bundle export" in (REPO / "docs" / "cli.md").read_text(encoding="utf-8")


def test_share_results_example(tmp_path):
    done = run_python([str(REPO / "examples" / "share_results.py"), "--folder", str(tmp_path / "share")], tmp_path)
    lines = done.stdout.splitlines()
    assert lines[0] == "mine: 3 tasks ran"
    assert lines[1].startswith(f"bundle {tmp_path / 'share' / 'sales.zip'}: 3 tasks, 6 files")
    assert "theirs: 0 tasks ran; report {'best_month': 5, 'total': 18255}" in lines
    refused = [line for line in lines if line.startswith("refused: ")]
    assert len(refused) == 1 and "Report/Report_2025_" in refused[0] and "-data.json is corrupted" in refused[0]
    assert not (tmp_path / "share" / "elsewhere").exists()
    assert sorted(p.name for p in (tmp_path / "share" / "theirs").iterdir()) == ["MonthlyTotals", "Report", "Sales"]
