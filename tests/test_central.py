"""flowlib.run on a real central scheduler: a luigid on 127.0.0.1, one per test, always stopped."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import luigi.configuration
import pytest
from flows.pipeline import Broken, Gather, Numbers, Scaled, Scored
from flows.servers import free_port, luigid_tasks, start_luigid

import flowlib
from flowlib.execution.luigid import normalise_url

TESTS_DIR = Path(__file__).parent

WORKER = textwrap.dedent(
    """
    import json, sys
    import flowlib
    from flows.pipeline import Gather
    kwargs = {"scheduler": sys.argv[1]} if len(sys.argv) > 1 else {}
    result = flowlib.run(Gather(width=6), workers=2, **kwargs)
    print(json.dumps({"ran": [t.task_id for t in result.ran], "complete": [t.task_id for t in result.complete]}))
    sys.exit(0 if result else 1)
    """
)


@pytest.fixture
def luigid(tmp_path):
    server = start_luigid(tmp_path / "luigid")
    yield server
    server.stop()


@pytest.fixture
def run_log(tmp_path, monkeypatch):
    log = tmp_path / "runs.log"
    monkeypatch.setenv("FLOWS_RUN_LOG", str(log))
    return log


def runs(log: Path) -> list[str]:
    return log.read_text().split() if log.exists() else []


@pytest.fixture
def short_cooldown():
    """Pretend luigid's done-cooldown is 1s (the test's luigid is configured the same way)."""
    config = luigi.configuration.get_config()
    if not config.has_section("scheduler"):
        config.add_section("scheduler")
    config.set("scheduler", "stable_done_cooldown_secs", "1")
    yield "[scheduler]\nstable_done_cooldown_secs = 1\n"
    config.remove_option("scheduler", "stable_done_cooldown_secs")


def test_two_worker_processes_run_each_task_exactly_once(tmp_path, luigid, run_log):
    data = tmp_path / "shared-data"
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    luigi_cfg = tmp_path / "client.cfg"
    luigi_cfg.write_text(f"[flowlib]\nscheduler = {luigid.url}\n")
    base = dict(
        os.environ, FLOWLIB_DIR=str(data), FLOWS_RUN_LOG=str(run_log), FLOWS_SLEEP="0.3", PYTHONPATH=str(TESTS_DIR)
    )
    base.pop("FLOWLIB_SCHEDULER", None)
    envs = [
        dict(base, FLOWLIB_SCHEDULER=luigid.url),  # the environment variable
        dict(base, LUIGI_CONFIG_PATH=str(luigi_cfg)),  # [flowlib] scheduler in luigi's config
    ]
    workers = [
        subprocess.Popen(
            [sys.executable, str(script)],
            env=env,
            cwd=tmp_path,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for env in envs
    ]
    reports = []
    for process in workers:
        out, err = process.communicate(timeout=180)
        assert process.returncode == 0, f"worker failed:\n{out}\n{err}"
        reports.append(json.loads(out.strip().splitlines()[-1]))

    flowlib.set_dir(data)
    root = Gather(width=6)
    expected = {root.task_id} | {Numbers(n=i + 1).task_id for i in range(6)}
    logged = runs(run_log)
    assert sorted(logged) == sorted(expected)  # each task ran exactly once, across both processes
    first, second = ({*r["ran"]} for r in reports)
    assert first | second == expected and not first & second
    for report in reports:  # each process ends with the whole flow done, by itself or the other
        assert set(report["ran"]) | set(report["complete"]) == expected
    assert expected <= set(luigid_tasks(luigid.url, "DONE"))
    assert root.output_load() == {"total": sum(i * (i + 1) // 2 for i in range(6))}


# Tasks here use parameters (n=31...) that no other test module uses: see test_a_new_root_is_not_complete_...
def test_run_with_scheduler_argument_then_nothing_to_do(luigid, run_log):
    result = flowlib.run(Scored(n=31, scale=2.0), scheduler=luigid.url)
    assert result and result.scheduler == normalise_url(luigid.url)
    assert len(result.ran) == 4 and len(runs(run_log)) == 4
    assert Scored(n=31, scale=2.0).output_load() == {"gap": 31.0}
    assert {t.task_id for t in result.ran} <= set(luigid_tasks(luigid.url, "DONE"))

    again = flowlib.run(Scored(n=31, scale=2.0), scheduler=luigid.url)
    assert again and again.ran == [] and len(again.complete) == 4
    assert len(runs(run_log)) == 4


def test_forced_tasks_rerun_on_the_scheduler(tmp_path, run_log, short_cooldown):
    server = start_luigid(tmp_path / "luigid-short", config=short_cooldown)
    try:
        flowlib.run(Scored(n=32), scheduler=server.url)
        result = flowlib.run(Scored(n=32), scheduler=server.url, forced=[Scaled(n=32)])
        assert result, str(result)
        assert {type(t).__name__ for t in result.ran} == {"Scaled", "Fitted", "Scored"}
        assert [type(t).__name__ for t in result.complete] == ["Numbers"]
        assert len(runs(run_log)) == 4 + 3
    finally:
        server.stop()


def test_failure_raises_naming_the_task(luigid):
    with pytest.raises(flowlib.TaskFailedError) as info:
        flowlib.run(Broken(n=33), scheduler=luigid.url)
    message = str(info.value)
    assert "Broken(n=33)" in message and "broken on purpose" in message
    assert isinstance(info.value.task, Broken)
    assert Broken(n=33).task_id in luigid_tasks(luigid.url, "FAILED")


def test_failure_without_abort_returns_outcomes(luigid):
    result = flowlib.run(Broken(n=34), scheduler=luigid.url, abort=False)
    assert not result
    assert [type(t).__name__ for t in result.ran] == ["Numbers"]
    assert [type(t).__name__ for t in result.failed] == ["Broken"]
    failure = result.outcome(Broken(n=34))
    assert "ValueError: broken on purpose" in failure.error
    assert "1 failed:\n    Broken(n=34)  (ValueError: broken on purpose)" in str(result)


def test_unreachable_scheduler_fails_fast_with_advice():
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(flowlib.FlowlibError, match="cannot reach the luigi scheduler.*luigid"):
        flowlib.run(Numbers(n=35), scheduler=url)


def test_memory_tasks_need_one_worker_on_a_scheduler(luigid):
    class CentralMemoryTask(flowlib.TaskMemory):
        def run(self):
            self.save(1)

    with pytest.raises(flowlib.FlowlibError, match="memory.*workers=1"):
        flowlib.run(CentralMemoryTask(), scheduler=luigid.url, workers=2)
    assert flowlib.run(CentralMemoryTask(), scheduler=luigid.url)
    assert CentralMemoryTask().output_load() == 1


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("127.0.0.1:8082", "http://127.0.0.1:8082/"),
        ("http://host:1/", "http://host:1/"),
        ("https://sched.example:443", "https://sched.example:443/"),
    ],
)
def test_normalise_url(given, expected):
    assert normalise_url(given) == expected


def test_bad_url_is_rejected():
    with pytest.raises(flowlib.FlowlibError, match="not an http"):
        normalise_url("ftp://host:1")


def test_a_new_root_is_not_complete_because_an_old_one_was(tmp_path):
    flowlib.set_dir(tmp_path / "first-root")
    flowlib.run(Numbers(n=36))
    assert Numbers(n=36).complete()  # luigi's question, answered (and remembered) in this process
    flowlib.set_dir(tmp_path / "second-root")
    assert not Numbers(n=36).complete()
