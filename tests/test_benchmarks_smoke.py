"""The benchmark suite's smoke mode runs end to end and prints its ratios.

Speed is not asserted here (that is what the benchmarks report); this only keeps the suite from
rotting: every case runs, every flowlib measurement completes, the report is written.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CASES = ("1. first run", "2. rerun", "3. preview", "4. depth & breadth", "5. throughput", "6. workers")


def test_smoke_mode_completes_prints_ratios_and_writes_the_report(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWLIB_")}
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--smoke", "--out", str(tmp_path)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    out = proc.stdout
    assert "results (ratio = flowlib / baseline):" in out
    assert re.search(r"figures meet their target", out)
    ratio_lines = [line for line in out.splitlines() if re.search(r"\d x|\d\.?\d*x ", line)]
    assert len(ratio_lines) >= 10, out[-4000:]

    results = json.loads((tmp_path / "smoke.json").read_text())
    rows = [row for case in results["cases"] for row in case["rows"]]
    assert {row["case"] for row in rows} == set(CASES)
    broken = [f"{row['case']} {row['figure']}: {row['note']}" for row in rows if row["flowlib_failed"]]
    assert not broken, broken
    # Every ratio against the floor was measured (the floor never fails; flowlib did not either).
    floors = [row for row in rows if row["baseline"].startswith("floor") and row["flowlib_seconds"] is not None]
    assert floors and all(row["ratio"] is not None and row["ratio"] > 0 for row in floors)

    report = (tmp_path / "benchmarks.md").read_text()
    for heading in ("# Benchmarks", "## This run", "## Results", "## Growth with size"):
        assert heading in report
    assert all(case in report for case in CASES)
