"""docs/sharing.md's code and examples/share_results.py run and do what they say."""

from __future__ import annotations

import re
from pathlib import Path

from flows.scripts import run_python

REPO = Path(__file__).parent.parent
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


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
