"""benchmarks/sources.py runs end to end in a tiny size and prints its ratios (speed is not asserted)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_sources_benchmark_smoke():
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWLIB_")}
    env["PYTHONPATH"] = str(REPO)
    args = ["-m", "benchmarks.sources", "--smoke", "--rows", "20000", "--tasks", "10", "--repeats", "1"]
    proc = subprocess.run([sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    ratios = re.findall(r"\| (\d+\.\d+)x \|", proc.stdout)
    assert len(ratios) == 3, proc.stdout
    assert "Source vs DuckDB" in proc.stdout and "complete Sources" in proc.stdout
