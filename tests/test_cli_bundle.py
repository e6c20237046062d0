"""``flowlib bundle export|import|show``: the installed command, in a subprocess, on tests/flows/pipeline.py."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from test_cli import FLOW, REPO, TESTS_DIR, flowlib_command, one_line_error, runs


@pytest.fixture
def flowlib_cli(tmp_path):
    """``flowlib ARGS`` from tests/ with FLOWLIB_DIR=``tmp_path/mine``; ``root=`` picks another root."""
    log = tmp_path / "runs.log"

    def call(*args: str, root: str = "mine") -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWLIB_")}
        env.update(FLOWLIB_DIR=str(tmp_path / root), FLOWS_RUN_LOG=str(log), PYTHONPATH=str(REPO))
        return subprocess.run([flowlib_command(), *args], cwd=TESTS_DIR, env=env, capture_output=True, text=True,
                              timeout=120)  # fmt: skip

    call.log = log  # type: ignore[attr-defined]
    return call


def test_export_show_import_then_run_runs_nothing(flowlib_cli, tmp_path):
    assert flowlib_cli("run", f"{FLOW}:Scored", "--scale", "2").returncode == 0
    ran_before = len(runs(flowlib_cli.log))
    bundle = tmp_path / "shared.zip"

    done = flowlib_cli("bundle", "export", f"{FLOW}:Scored", "--scale", "2", str(bundle))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"exported 4 tasks, 9 files to {bundle}" and bundle.exists()

    shown = flowlib_cli("bundle", "show", str(bundle))
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith(f"bundle {bundle}: 4 tasks, 9 files")
    assert "flowlib 0." in shown.stdout.splitlines()[0]
    assert "Scaled(n=10, scale=2.0)" in shown.stdout and "Scaled/Scaled_10_2_0_" in shown.stdout

    theirs = tmp_path / "theirs"
    done = flowlib_cli("bundle", "import", str(bundle), "--dir", str(theirs), root="unused")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"imported 4 tasks, 9 files into {theirs}"
    again = flowlib_cli("run", f"{FLOW}:Scored", "--scale", "2", "--dir", str(theirs), root="unused")
    assert again.returncode == 0, again.stderr
    assert len(runs(flowlib_cli.log)) == ran_before  # nothing ran in the colleague's root


def test_export_takes_a_flag_then_dest_and_no_upstream(flowlib_cli, tmp_path):
    assert flowlib_cli("run", f"{FLOW}:Scored", "--with-tail").returncode == 0
    done = flowlib_cli("bundle", "export", f"{FLOW}:Scored", "--with-tail", "--no-upstream", str(tmp_path / "top"))
    assert done.returncode == 0, done.stderr
    manifest = json.loads((tmp_path / "top" / "manifest.json").read_text())
    assert [(t["family"], t["params"]["with_tail"]) for t in manifest["tasks"]] == [("Scored", "True")]


def test_a_corrupted_bundle_is_one_line_naming_the_file(flowlib_cli, tmp_path):
    assert flowlib_cli("run", f"{FLOW}:Scored").returncode == 0
    assert flowlib_cli("bundle", "export", f"{FLOW}:Scored", str(tmp_path / "out")).returncode == 0
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    bad = manifest["tasks"][0]["files"][0]["path"]
    path = Path(tmp_path / "out" / bad)
    path.write_bytes(path.read_bytes()[:-10])
    done = flowlib_cli("bundle", "import", str(tmp_path / "out"), root="theirs")
    assert done.returncode == 1
    assert bad in one_line_error(done) and "nothing was imported" in done.stderr
    assert not (tmp_path / "theirs").exists()


def test_usage_errors(flowlib_cli, tmp_path):
    missing_dest = flowlib_cli("bundle", "export", f"{FLOW}:Scored", "--scale", "2")
    assert missing_dest.returncode == 2 and "destination" in one_line_error(missing_dest)
    incomplete = flowlib_cli("bundle", "export", f"{FLOW}:Scored", str(tmp_path / "x.zip"))
    assert incomplete.returncode == 1 and "not complete" in one_line_error(incomplete)
    nothing = flowlib_cli("bundle", "show", str(tmp_path / "nope.tar"))
    assert nothing.returncode == 1 and "no bundle at" in one_line_error(nothing)
