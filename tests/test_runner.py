"""Running: only what is incomplete, in order, in parallel, forced, aborted (issue 3 items 6, 7, 11)."""

from __future__ import annotations

import io
import os
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
    first = A().metadata()["outputs"]["data"]["fingerprint"]
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
