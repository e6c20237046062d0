"""Running: only what is incomplete, in order, in parallel, forced, aborted (issue 3 items 6, 7, 11)."""

from __future__ import annotations

import io
import os
import re
import time

import pandas as pd
import pytest

import flowlib
from flowlib.result import Outcome


def chain():
    """A -> B -> C, each appending its name to a shared log when it runs."""
    log: list[str] = []

    class A(flowlib.TaskPickle):
        def run(self):
            log.append("A")
            self.save(1)

    @flowlib.requires(A)
    class B(flowlib.TaskPickle):
        def run(self):
            log.append("B")
            self.save(self.input_load() + 1)

    @flowlib.requires(B)
    class C(flowlib.TaskPickle):
        def run(self):
            log.append("C")
            self.save(self.input_load() + 1)

    return A, B, C, log


def test_runs_dependencies_first_and_only_incomplete():
    A, B, C, log = chain()
    result = flowlib.run(C())
    assert log == ["A", "B", "C"]
    assert result.success and bool(result)
    assert [o.outcome for o in result.outcomes] == [Outcome.RAN] * 3
    assert C().output_load() == 3
    log.clear()
    result = flowlib.run(C())
    assert log == [] and result.ran == [] and result.complete == [A(), B(), C()]


def test_deleting_upstream_output_makes_downstream_rerun():
    A, B, C, log = chain()
    flowlib.run(C())
    os.remove(A().output()["data"].path)
    plan = flowlib.build_plan(C())
    assert [n.complete for n in plan.nodes] == [False, False, False]
    assert not C().complete()
    log.clear()
    flowlib.run(C())
    assert log == ["A"], "B and C are cut off early: A produced the same output again"


def test_deleting_upstream_output_reruns_everything_existence_only():
    A, B, C, log = chain()
    flowlib.run(C())
    os.remove(A().output()["data"].path)
    plan = flowlib.build_plan(C(), rerun_stale=False)
    assert [n.status for n in plan.nodes] == [flowlib.Status.PENDING] * 3
    assert plan.nodes[2].reason == "upstream B pending"
    log.clear()
    flowlib.run(C(), rerun_stale=False)
    assert log == ["A", "B", "C"]


def test_forced_reruns_task_and_downstream():
    A, B, C, log = chain()
    flowlib.run(C())
    log.clear()
    result = flowlib.run(C(), forced=[B()])
    assert log == ["B", "C"] and result.ran == [B(), C()] and result.complete == [A()]
    log.clear()
    flowlib.run(C(), forced_all=True)
    assert log == ["C"]
    log.clear()
    flowlib.run(C(), forced_all_upstream=True)
    assert log == ["A", "B", "C"]


def test_forced_task_must_belong_to_the_flow():
    A, B, C, log = chain()

    class Other(flowlib.TaskPickle):
        pass

    with pytest.raises(flowlib.FlowlibError, match=r"forced task Other\(\) is not part of this flow"):
        flowlib.run(C(), forced=[Other()])


def test_failure_raises_with_task_and_original_traceback():
    class Boom(flowlib.TaskPickle):
        def run(self):
            raise ValueError("bad value in column x")

    @flowlib.requires(Boom)
    class After(flowlib.TaskPickle):
        def run(self):
            self.save(1)

    with pytest.raises(flowlib.TaskFailedError) as info:
        flowlib.run(After())
    error = info.value
    assert "Boom() failed" in str(error)
    assert "ValueError: bad value in column x" in error.traceback
    assert 'raise ValueError("bad value in column x")' in error.traceback
    assert error.task == Boom()
    result = error.result
    assert result.failed == [Boom()] and result.not_run == [After()]
    assert result.outcome(After()).outcome is Outcome.UPSTREAM_FAILED


def test_abort_false_keeps_running_independent_branches():
    ran: list[str] = []

    class Bad(flowlib.TaskPickle):
        def run(self):
            raise RuntimeError("nope")

    class Good(flowlib.TaskPickle):
        def run(self):
            ran.append("good")
            self.save(1)

    @flowlib.requires(Bad)
    class AfterBad(flowlib.TaskPickle):
        def run(self):
            self.save(1)

    result = flowlib.run([AfterBad(), Good()], abort=False)
    assert not result
    assert result.failed == [Bad()] and result.ran == [Good()] and result.not_run == [AfterBad()]
    summary = str(result)
    assert "FAILED" in summary and "1 failed:\n    Bad()  (no output; RuntimeError: nope)" in summary


def test_failed_run_removes_partial_outputs():
    class Half(flowlib.TaskPickle):
        persist = ["a", "b"]

        def run(self):
            self.save(1, key="a")
            raise RuntimeError("crash after a")

    flowlib.run(Half(), abort=False)
    assert not Half().output()["a"].exists() and Half().metadata() is None


def test_two_workers_run_independent_tasks_in_parallel(tmp_path):
    class Slow(flowlib.TaskPickle):
        name = flowlib.Parameter()

        def run(self):
            start = time.time()
            time.sleep(0.5)
            self.save((start, time.time(), os.getpid()))

    class Both(flowlib.TaskPickle):
        def requires(self):
            return [Slow(name="a"), Slow(name="b")]

        def run(self):
            self.save(self.input_load())

    flowlib.run(Both(), workers=2)
    (start_a, end_a, pid_a), (start_b, end_b, pid_b) = Both().output_load()
    assert start_a < end_b and start_b < end_a, "the two slow tasks overlapped in time"
    assert pid_a != pid_b != os.getpid(), "process workers"


def test_thread_workers_and_memory_tasks_run_in_main_process():
    class Mem(flowlib.TaskMemory):
        i = flowlib.IntParameter()

        def run(self):
            self.save(pd.DataFrame({"pid": [os.getpid()], "i": [self.i]}))

    class Gather(flowlib.TaskPickle):
        def requires(self):
            return [Mem(i=i) for i in range(4)]

        def run(self):
            self.save([frame["pid"][0] for frame in self.input_load()])

    flowlib.run(Gather(), workers=2)
    assert set(Gather().output_load()) == {os.getpid()}
    flowlib.run(Gather(), workers=2, executor="thread", forced_all=True)
    assert Mem(i=0).output_load()["i"][0] == 0


def test_dependency_cycle_names_the_cycle():
    class Ping(flowlib.TaskPickle):
        def requires(self):
            return Pong()

    class Pong(flowlib.TaskPickle):
        def requires(self):
            return Ping()

    with pytest.raises(flowlib.DependencyCycleError, match=r"Ping\(\) -> Pong\(\) -> Ping\(\)"):
        flowlib.run(Ping())


def test_confirm_asks_on_stdin(monkeypatch):
    A, B, C, log = chain()
    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    result = flowlib.run(C(), confirm=True)
    assert log == [] and result.cancelled and not result
    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))
    assert flowlib.run(C(), confirm=True)
    assert log == ["A", "B", "C"]


def test_bad_run_options_are_clear_errors():
    A, B, C, log = chain()
    with pytest.raises(flowlib.FlowlibError, match="workers must be a positive int"):
        flowlib.run(C(), workers=0)
    with pytest.raises(flowlib.FlowlibError, match=r"pass a task object, e.g. C\(\)"):
        flowlib.run(C)


def test_result_lists_every_task_of_the_plan():
    A, B, C, log = chain()
    flowlib.run(B())
    result = flowlib.run(C())
    assert [o.task for o in result.outcomes] == [A(), B(), C()]
    assert result.ran == [C()] and result.complete == [A(), B()]
    assert "1 ran:\n    C()  (no output)" in str(result) and "2 already complete: A(), B()" in str(result)


def test_retry_count_retries_a_failing_task(tmp_path):
    attempts = tmp_path / "attempts"

    class Flaky(flowlib.TaskPickle):
        retry_count = 3

        def run(self):
            with open(attempts, "a") as handle:
                handle.write("x")
            if len(attempts.read_text()) < 3:
                raise RuntimeError("flaky")
            self.save("ok")

    class Once(flowlib.TaskPickle):
        def run(self):
            raise RuntimeError("always")

    result = flowlib.run(Flaky())
    assert result.ran == [Flaky()] and attempts.read_text() == "xxx"
    assert Flaky().output_load() == "ok"
    assert flowlib.run(Once(), abort=False).failed == [Once()]


def test_failure_chains_the_original_exception():
    class Raises(flowlib.TaskPickle):
        def run(self):
            raise KeyError("missing column")

    for workers in (1, 2):
        with pytest.raises(flowlib.TaskFailedError) as info:
            flowlib.run(Raises(), workers=workers, forced_all=True)
        assert isinstance(info.value.__cause__, KeyError)


def test_without_content_fingerprints_there_is_no_early_cutoff(monkeypatch):
    A, B, C, log = chain()
    monkeypatch.setattr(flowlib.settings, "fingerprint_outputs", False)
    flowlib.run(C())
    first = A().metadata().outputs["data"].fingerprint
    assert first.startswith("unhashed-")
    log.clear()
    flowlib.run(A(), forced_all=True)
    flowlib.run(C())
    assert log == ["A", "B", "C"], "the same data saved again is not known to be the same"
    monkeypatch.setattr(flowlib.settings, "fingerprint_outputs", True)
    flowlib.run(C(), forced_all_upstream=True)
    log.clear()
    flowlib.run(A(), forced_all=True)
    flowlib.run(C())
    assert log == ["A"], "with content fingerprints, B and C are cut off early"


def test_forced_takes_one_task_or_many():
    """Issue 10 item 4: like every other argument of run that takes tasks."""
    A, B, C, log = chain()
    flowlib.run(C())
    log.clear()
    assert flowlib.run(C(), forced=B()).ran == [B(), C()]
    assert flowlib.run(C(), forced=[A()]).ran == [A(), B(), C()]
    assert flowlib.run(C(), forced=(B(), C())).ran == [B(), C()]
    assert log == ["B", "C", "A", "B", "C", "B", "C"]


def test_a_value_that_is_not_a_task_is_named():
    A, B, C, log = chain()
    for call, message in [
        (lambda: flowlib.run("Train"), r"^flowlib.run\(\) got the string 'Train'; pass a task object, e.g. Train\(\)$"),
        (lambda: flowlib.run(C(), forced="B"), r"^flowlib.run\(forced=...\) got the string 'B'; .* e.g. B\(\)$"),
        (lambda: flowlib.run(C(), forced=[B(), "C"]), r"forced=...\) got the string 'C'"),
        (lambda: flowlib.run(C(), forced=B), r"forced=...\) got the class B; pass a task object, e.g. B\(\)"),
        (lambda: flowlib.run(C(), forced=3), r"forced=...\) got 3 \(int\); pass a task object"),
        (lambda: flowlib.preview("C"), r"flowlib.preview\(\) got the string 'C'"),
        (lambda: flowlib.graph("C"), r"flowlib.graph\(\) got the string 'C'"),
        (lambda: flowlib.lineage({"c": C()}), r"flowlib.lineage\(\) got \{'c': C\(\)\} \(dict\)"),
        (lambda: flowlib.invalidate_upstream("C"), r"invalidate_upstream\(\) got the string 'C'"),
        (
            lambda: flowlib.invalidate_downstream(A(), "C"),
            r"invalidate_downstream\(\) \(its downstream_task\) got "
            r"the string 'C'",
        ),
    ]:
        with pytest.raises(flowlib.FlowlibError, match=message):
            call()
    assert log == []


def test_invalidate_upstream_takes_one_task_or_many():
    A, B, C, log = chain()
    flowlib.run(C())
    assert flowlib.invalidate_upstream([B(), C()])
    assert not A().complete() and not B().complete() and not C().complete()


def test_the_summary_says_why_each_task_ran():
    """Issue 10 item 7: no output, forced, upstream changed."""
    value = {"now": 1}

    class Source(flowlib.TaskPickle):
        def run(self):
            self.save(value["now"])

    @flowlib.requires(Source)
    class Preprocess(flowlib.TaskPickle):
        def run(self):
            self.save(self.input_load() * 2)

    @flowlib.requires(Preprocess)
    class Model(flowlib.TaskPickle):
        def run(self):
            self.save(self.input_load() + 1)

    first = str(flowlib.run(Model()))
    assert "3 ran:\n    Source()  (no output)\n    Preprocess()  (no output)\n    Model()  (no output)" in first
    forced = str(flowlib.run(Model(), forced=Preprocess()))
    assert "  2 ran:\n    Preprocess()  (forced)\n    Model()  (upstream Preprocess forced)" in forced
    assert "  1 already complete: Source()" in forced
    value["now"] = 5
    flowlib.run(Source(), forced_all=True)
    changed = str(flowlib.run(Model()))
    assert "2 ran:\n    Preprocess()  (upstream Source changed)\n    Model()  (upstream Preprocess changed)" in changed
    assert Model().output_load() == 11
    Model.version = "2"  # replaces the code fingerprint: as if its code changed
    assert "  1 ran:\n    Model()  (code changed)" in str(flowlib.run(Model()))


def test_the_summary_groups_big_runs_by_family_and_reason():
    class Leaf(flowlib.TaskMemory):
        i = flowlib.IntParameter()

        def run(self):
            self.save(self.i)

    class Top(flowlib.TaskMemory):
        def requires(self):
            return [Leaf(i=i) for i in range(30)]

        def run(self):
            self.save(sum(self.input_load()))

    text = str(flowlib.run(Top()))
    assert "31 ran:\n    30 x Leaf  (no output)\n    1 x Top  (no output)" in text
    assert len(text.splitlines()) == 4


def test_run_shows_its_summary_by_default_and_can_be_silenced(capsys, monkeypatch):
    """Issue 10 item 7: printed in a script; off by argument, setting, environment or luigi's config."""
    import luigi.configuration

    A, B, C, log = chain()
    result = flowlib.run(C())
    assert capsys.readouterr().out == str(result) + "\n"
    flowlib.run(C(), forced_all=True, execution_summary=False)
    assert capsys.readouterr().out == ""

    monkeypatch.setattr(flowlib.settings, "execution_summary_override", None)
    flowlib.settings.execution_summary = False
    flowlib.run(C(), forced_all=True)
    assert capsys.readouterr().out == ""
    flowlib.run(C(), forced_all=True, execution_summary=True)  # the argument wins over the setting
    assert "1 ran:\n    C()  (forced)" in capsys.readouterr().out
    flowlib.settings.execution_summary = None

    monkeypatch.setenv("FLOWLIB_EXECUTION_SUMMARY", "false")
    flowlib.run(C(), forced_all=True)
    assert capsys.readouterr().out == ""
    monkeypatch.delenv("FLOWLIB_EXECUTION_SUMMARY")

    config = luigi.configuration.get_config()
    had_section = config.has_section("flowlib")
    if not had_section:
        config.add_section("flowlib")
    config.set("flowlib", "execution_summary", "false")
    try:
        flowlib.run(C(), forced_all=True)
        assert capsys.readouterr().out == ""
    finally:
        config.remove_option("flowlib", "execution_summary")
        if not had_section:
            config.remove_section("flowlib")
    flowlib.run(C(), forced_all=True)
    assert "1 ran:\n    C()  (forced)" in capsys.readouterr().out


@pytest.mark.parametrize("workers", [1, 2])
def test_a_failing_tasks_traceback_is_shown_once(tmp_path, workers):
    """Issue 10 item 7: through the exception chain; the runner logs one line at ERROR."""
    import subprocess
    import sys

    script = tmp_path / "fails.py"
    script.write_text(
        "import logging, flowlib\n"
        "logging.basicConfig(level=logging.INFO)\n"
        "class Boom(flowlib.TaskPickle):\n"
        "    def run(self):\n"
        "        raise ValueError('boom in ' + 'column x')\n"
        "class After(flowlib.TaskPickle):\n"
        "    def requires(self):\n"
        "        return Boom()\n"
        "    def run(self):\n"
        "        self.save(1)\n"
        "class Other(flowlib.TaskPickle):\n"
        "    def run(self):\n"
        "        self.save(1)\n"
        f"flowlib.run([After(), Other()], workers={workers}, execution_summary=False)\n"
    )
    env = {**os.environ, "FLOWLIB_DIR": str(tmp_path / "data"), "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    err = done.stderr
    assert err.count(", line 5, in run") == 1, err  # the task's failing frame (its source is shown in-process)
    assert err.count("raise ValueError('boom in ' + 'column x')") == (1 if workers == 1 else 0), err
    assert "ERROR:flowlib.execution.local:Boom() failed: ValueError: boom in column x\n" in err
    assert (
        err.rstrip()
        .splitlines()[-1]
        .startswith("flowlib.errors.TaskFailedError: Boom() failed (parameters {}): ValueError: boom in column x.")
    )


def test_run_result_renders_as_an_html_table():
    """Issue 10 item 8: task, outcome, reason and duration per task, escaped."""

    class Good(flowlib.TaskPickle):
        label = flowlib.Parameter(default="<b>")

        def run(self):
            self.save(1)

    class Bad(flowlib.TaskPickle):
        def run(self):
            raise RuntimeError("nope & worse")

    flowlib.run(Good(), execution_summary=False)
    result = flowlib.run([Good(), Bad()], abort=False, execution_summary=False, forced=Good())
    html = result._repr_html_()
    assert "flowlib run FAILED" in html and html.count("<tr>") == 3  # a header and one row per task
    header = re.search(r"<thead><tr>(.*?)</tr></thead>", html).group(1)
    assert re.findall(r"<th[^>]*>(\w+)</th>", header) == ["task", "outcome", "reason", "duration"]
    rows = [re.findall(r"<td[^>]*>(.*?)</td>", row) for row in re.findall(r"<tr>(<td.*?)</tr>", html)]
    assert rows[0][:3] == ["<code>Good(label=&lt;b&gt;)</code>", "ran", "forced"]
    assert rows[1][:3] == ["<code>Bad()</code>", "failed", "no output; RuntimeError: nope &amp; worse"]
    assert all(re.fullmatch(r"\d+\.\d\ds", row[3]) for row in rows)
    assert "<b>" not in html.replace("<b style", "")


class _Cycle:
    """Garbage the collector must find: an object that refers to itself."""

    def __init__(self) -> None:
        self.me = self


def test_a_run_leaves_the_garbage_collector_as_it_found_it():
    import gc
    import weakref

    A, B, C, log = chain()
    garbage = _Cycle()
    alive = weakref.ref(garbage)
    del garbage
    seen: list[int] = []

    class Watch(flowlib.TaskPickle):
        def run(self):
            seen.append(gc.get_freeze_count())  # while tasks run, what existed before is frozen
            self.save(0)

    assert gc.get_freeze_count() == 0
    flowlib.run([C(), Watch()], execution_summary=False)
    assert log == ["A", "B", "C"]
    assert seen and seen[0] > 0
    assert gc.get_freeze_count() == 0  # nothing stays frozen after the run
    gc.collect()
    assert alive() is None  # and garbage from before the run is collected again


def test_a_run_keeps_objects_the_program_froze_itself_frozen():
    import gc

    A, B, C, _log = chain()
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        flowlib.run(C(), execution_summary=False)
        assert 0 < gc.get_freeze_count() <= frozen  # still frozen (some frozen objects may have been freed)
    finally:
        gc.unfreeze()
