"""The installed ``flowlib`` command, run in a subprocess against tests/flows/pipeline.py."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from flows.servers import luigid_tasks, start_luigid

import flowlib
from flowlib.cli import main

TESTS_DIR = Path(__file__).parent
REPO = TESTS_DIR.parent
FLOW = "flows.pipeline"


def flowlib_command() -> str:
    beside = Path(sys.executable).parent / "flowlib"
    found = str(beside) if beside.exists() else shutil.which("flowlib")
    if found is None:
        pytest.fail("the flowlib console script is not installed (pip install -e .)")
    return found


@pytest.fixture
def cli(tmp_path):
    """Run ``flowlib ARGS`` from tests/ (so ``flows.pipeline`` imports) with its own root."""
    data = tmp_path / "cli-data"
    log = tmp_path / "runs.log"

    def call(*args: str, cwd: Path = TESTS_DIR, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ, FLOWLIB_DIR=str(data), FLOWS_RUN_LOG=str(log))
        env.pop("FLOWLIB_SCHEDULER", None)
        env["PYTHONPATH"] = str(REPO)  # this checkout's flowlib, whichever one the console script was installed from
        return subprocess.run(
            [flowlib_command(), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120, input=stdin
        )

    call.data = data  # type: ignore[attr-defined]
    call.log = log  # type: ignore[attr-defined]
    return call


def runs(log: Path) -> list[str]:
    return log.read_text().split() if log.exists() else []


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("flowlib: error: ")
    return lines[0]


def test_run_then_rerun_runs_nothing(cli):
    first = cli("run", f"{FLOW}:Scored", "--scale", "2")
    assert first.returncode == 0, first.stderr
    assert "4 ran" in first.stdout and first.stderr == ""
    assert "    Numbers(n=10)  (no output)\n" in first.stdout  # why each task ran
    assert first.stdout.count("flowlib run succeeded") == 1  # the summary once
    assert len(runs(cli.log)) == 4

    second = cli("run", f"{FLOW}:Scored", "--scale=2.0")  # the same task, written differently
    assert second.returncode == 0 and "4 already complete" in second.stdout
    assert len(runs(cli.log)) == 4

    flowlib.set_dir(cli.data)  # outputs are where flowlib.run puts them
    from flows.pipeline import Scored

    assert Scored(scale=2.0).output_load() == {"gap": 10.0}


def test_run_with_workers_and_a_py_file(cli, tmp_path):
    module = tmp_path / "my_flow.py"
    module.write_text(
        "import flowlib\n"
        "class CliFileTask(flowlib.TaskJSON):\n"
        "    k = flowlib.IntParameter()\n"
        "    def run(self):\n"
        "        self.save({'k': self.k})\n"
        "class CliFileRoot(flowlib.TaskJSON):\n"
        "    def requires(self):\n"
        "        return [CliFileTask(k=i) for i in range(3)]\n"
        "    def run(self):\n"
        "        self.save({'sum': sum(d['k'] for d in self.input_load())})\n"
    )
    result = cli("run", str(module) + ":CliFileRoot", "--workers", "2", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "4 ran" in result.stdout
    relative = cli("run", "my_flow.py:CliFileRoot", cwd=tmp_path)
    assert relative.returncode == 0 and "4 already complete" in relative.stdout
    dotted = cli("preview", "my_flow:CliFileRoot", cwd=tmp_path)  # a module importable from the cwd
    assert dotted.returncode == 0 and "4 tasks: 4 COMPLETE" in dotted.stdout


def test_parameters_of_every_kind(cli):
    result = cli("run", f"{FLOW}:Tagged", "--label", "x y", "--sizes", "[3, 4]", "--max_depth", "5", "--verbose")
    assert result.returncode == 0, result.stderr
    output = next((cli.data / "Tagged").glob("*-data.json"))
    assert json.loads(output.read_text()) == {"label": "x y", "sizes": [3, 4], "max_depth": 5, "verbose": True}
    dashed = cli("show", f"{FLOW}:Tagged", "--label=x y", "--sizes=[3,4]", "--max-depth=5", "--verbose", "true")
    assert dashed.returncode == 0 and "COMPLETE" in dashed.stdout.splitlines()[0]


def test_preview_shows_statuses(cli):
    cli("run", f"{FLOW}:Numbers")
    result = cli("preview", f"{FLOW}:Scored", "--scale", "3")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Scored(n=10, scale=3.0") and "PENDING" in lines[0]
    assert any("Numbers(n=10)  COMPLETE" in line for line in lines)
    assert lines[-1] == "4 tasks: 1 COMPLETE, 3 PENDING"


def test_show_lists_outputs_paths_and_status(cli):
    before = cli("show", f"{FLOW}:Scaled", "--scale", "2")
    assert before.returncode == 0
    assert "PENDING" in before.stdout.splitlines()[0] and "missing" in before.stdout
    cli("run", f"{FLOW}:Scaled", "--scale", "2")
    after = cli("show", f"{FLOW}:Scaled", "--scale", "2")
    text = after.stdout
    assert "Scaled(n=10, scale=2.0)  COMPLETE" in text
    for key in ("head", "tail"):
        line = next(line for line in text.splitlines() if line.strip().startswith(key))
        path = line.split()[1]
        assert Path(path).is_file() and path.startswith(str(cli.data)) and "exists" in line and "5 rows" in line
    assert "requires" in text and "Numbers(n=10)  COMPLETE" in text


def statuses(data: Path, task) -> dict[str, int]:
    flowlib.set_dir(data)
    return {k: v for k, v in flowlib.build_plan(task).counts().items() if v}


def test_invalidate_upstream_and_downstream(cli):
    from flows.pipeline import Numbers, Scored

    assert cli("run", f"{FLOW}:Scored").returncode == 0
    result = cli("invalidate", f"{FLOW}:Scaled", "--downstream-to", f"{FLOW}:Scored")
    assert result.returncode == 0, result.stderr
    assert "invalidated 3 task(s)" in result.stdout
    assert statuses(cli.data, Scored()) == {"COMPLETE": 1, "PENDING": 3}
    assert flowlib.build_plan(Numbers()).roots[0].complete

    assert flowlib.run(Scored())  # in this process, same root
    upstream = cli("invalidate", f"{FLOW}:Fitted", "--upstream", "--yes")
    assert upstream.returncode == 0 and "invalidated 3 task(s)" in upstream.stdout
    # Fitted, Scaled and Numbers are gone; Scored still has its output, stale until they rerun
    assert statuses(cli.data, Scored()) == {"PENDING": 3, "STALE": 1}

    single = cli("invalidate", f"{FLOW}:Scored")
    assert single.returncode == 0 and "invalidated 1 task(s)" in single.stdout
    assert not list((cli.data / "Scored").glob("*.json"))


def test_verify_reports_damage(cli):
    pytest.importorskip("flowlib.verify")
    assert cli("run", f"{FLOW}:Fitted").returncode == 0
    good = cli("verify", f"{FLOW}:Fitted")
    assert good.returncode == 0, good.stdout + good.stderr
    pickle = next((cli.data / "Fitted").glob("*-data.pkl"))
    pickle.write_bytes(pickle.read_bytes()[:5])
    bad = cli("verify", f"{FLOW}:Fitted")
    assert bad.returncode == 1
    assert "Fitted" in one_line_error(bad)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "no_such_module:Task"], "no module named 'no_such_module'"),
        (["run", f"{FLOW}:NoSuchTask"], "has no task 'NoSuchTask'; its tasks: Broken, Fitted"),
        (["run", f"{FLOW}:Scored", "--scale", "abc"], "bad value for --scale of Scored: 'abc'"),
    ],
)
def test_usage_errors_are_one_line_with_exit_code_2(cli, args, message):
    result = cli(*args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in one_line_error(result)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["preview", f"{FLOW}:Tagged", "--label", "x", "--sizes", "[1,"], "bad value for --sizes"),
        (["run", f"{FLOW}:Scored", "--scal", "3"], "has no parameter --scal; its parameters: --n, --scale"),
        (["run", f"{FLOW}:Tagged"], "Tagged needs --label"),
        (["run", f"{FLOW}:Tagged", "--label"], "--label needs a value"),
        (["run", "missing.py:Task"], "no such file: missing.py"),
        (["run", FLOW], "name a task as MODULE:TASK"),
        (["show", f"{FLOW}:Scored", "stray"], "unexpected argument 'stray'"),
        (["run", f"{FLOW}:Numbers", "--log-level", "loud"], "is not a level"),
        (["invalidate", f"{FLOW}:Numbers", "--downstream-to", f"{FLOW}:Nope"], "has no task 'Nope'"),
    ],
)
def test_more_usage_errors_in_process(capsys, args, message):
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("flowlib: error: ") and message in err[0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["run", f"{FLOW}:Tagged", "--label", "x", "--sizes", "1,2"],
            "bad value for --sizes of Tagged: '1,2' is not a valid List (",
        ),
        (["run", f"{FLOW}:Tagged", "--label", "x", "--sizes", "1,2"], "; it takes a list, e.g. --sizes '[1, 2]'"),
        (["run", f"{FLOW}:Tagged", "--label", "x", "--max-depth", "deep"], "it takes an int, e.g. --max-depth 3"),
        (["run", f"{FLOW}:Tagged"], "Tagged needs --label (a string; it has no default), e.g. --label VALUE"),
    ],
)
def test_parameter_errors_on_the_command_line_show_an_example(capsys, args, message):
    """Issue 10 item 6: a ListParameter takes JSON on the command line; the error says so."""
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("flowlib: error: ") and message in err[0]


def test_command_line_parameter_errors_are_parameter_errors():
    from flows.pipeline import Tagged

    from flowlib.cli import parse_task_params

    with pytest.raises(flowlib.ParameterError) as info:
        parse_task_params([Tagged], ["--sizes", "1,2"])
    assert (info.value.task, info.value.parameter, info.value.value) == ("Tagged", "sizes", "1,2")
    with pytest.raises(flowlib.ParameterError, match="has no parameter --size;"):
        parse_task_params([Tagged], ["--size", "1"])


def test_an_unwritable_root_on_the_command_line_suggests_dir(capsys, tmp_path):
    """Issue 10 item 9."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert main(["run", f"{FLOW}:Numbers", "--dir", str(blocker / "data")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot create the output directory" in err[0], err
    assert err[0].endswith("choose a writable root with --dir PATH") and "set_dir" not in err[0]


def test_failed_run_exits_1_with_one_line_error_and_traceback_on_stdout(cli):
    result = cli("run", f"{FLOW}:Broken")
    assert result.returncode == 1
    line = one_line_error(result)
    assert "Broken(n=10)" in line and "ValueError: broken on purpose" in line
    assert "Traceback" in result.stdout
    assert "1 failed:\n    Broken(n=10)  (no output; ValueError: broken on purpose)" in result.stdout


def test_log_level_shows_logs_on_stderr(cli):
    result = cli("run", f"{FLOW}:Numbers", "--log-level", "info")
    assert result.returncode == 0
    assert "INFO flowlib" in result.stderr


def test_top_level_help_lists_commands(cli):
    result = cli("--help")
    assert result.returncode == 0
    for command in ("run", "preview", "show", "invalidate", "verify", "graph"):
        assert command in result.stdout


@pytest.mark.parametrize("command", ["run", "preview", "show", "invalidate", "verify", "graph"])
def test_help_for_each_command(capsys, command):
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert f"usage: flowlib {command}" in out and "MODULE:TASK" in out and "--name value" in out


def test_dir_option_sets_the_root(cli, tmp_path):
    other = tmp_path / "elsewhere"
    assert cli("run", f"{FLOW}:Numbers", "--n", "2", "--dir", str(other)).returncode == 0
    assert list((other / "Numbers").glob("*.parquet")) and not (cli.data / "Numbers").exists()


def test_run_on_a_scheduler(cli, tmp_path):
    server = start_luigid(tmp_path / "luigid")
    try:
        result = cli("run", f"{FLOW}:Scored", "--scheduler", server.url, "--workers", "2")
        assert result.returncode == 0, result.stdout + result.stderr
        assert "4 ran" in result.stdout
        assert len(luigid_tasks(server.url, "DONE")) == 4
        failed = cli("run", f"{FLOW}:Broken", "--n", "2", "--scheduler", server.url)
        assert failed.returncode == 1 and "broken on purpose" in one_line_error(failed)
    finally:
        server.stop()


def test_graph_command(capsys, tmp_path):
    assert main(["run", f"{FLOW}:Numbers"]) == 0
    capsys.readouterr()
    assert main(["graph", f"{FLOW}:Scored", "--scale", "2"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("flowchart LR") and "Numbers(n=10)<br/>COMPLETE" in out and out.count(" --> ") == 4
    assert main(["graph", f"{FLOW}:Scored", "--format", "dot"]) == 0
    assert capsys.readouterr().out.startswith("digraph flow {")
    assert main(["graph", f"{FLOW}:Scored", "-o", str(tmp_path / "flow.dot")]) == 0
    assert (tmp_path / "flow.dot").read_text().startswith("digraph")
