"""The dataflow benchmark's smoke mode runs end to end (flowlib side only) and reports invocations per second.

Speed is not asserted (the benchmark reports it); this keeps the benchmark from rotting and checks
that a missing DFFML interpreter is reported, not a failure.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_smoke_reports_flowlib_alone_when_dffml_is_absent(tmp_path):
    out = tmp_path / "figures.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWLIB_")}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.dataflow",
            "--smoke",
            "--dffml-python",
            str(tmp_path / "no-python"),
            "--json",
            str(out),
        ],
        cwd=REPO,
        env={**env, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "DFFML: no Python 3.8 interpreter with dffml found" in proc.stdout
    assert "| chain, 200 contexts | 400 |" in proc.stdout and "| fan, 20 x 20 | 400 |" in proc.stdout
    figures = json.loads(out.read_text())["figures"]
    assert {f["case"] for f in figures} == {"chain", "fan", "chain (async def operations)"}
    assert all(f["flowlib_rate"] > 0 and f["dffml_rate"] is None and f["invocations"] == 400 for f in figures)
