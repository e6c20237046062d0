"""Failures inside tasks: all-or-nothing outputs, a report of what failed, resuming, retries."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import ClassVar

import luigi
import pandas as pd
import pytest

import flowlib
from flowlib.record import read_record


def _ids(tasks):
    return [t.task_id for t in tasks]


def _files(task: flowlib.Task) -> list[str]:
    """Everything in the task's folder that belongs to this task (outputs, record, lock, temp files)."""
    folder = Path(task.storage().family_dir(task.get_task_family()))
    if not folder.exists():
        return []
    return sorted(p.name for p in folder.iterdir() if task.task_id in p.name)


# -- a chain of ten tasks that fails at the sixth ------------------------------------------------------------------


class FailStep(flowlib.TaskPickle):
    step = flowlib.IntParameter()
    broken_step: ClassVar[int] = 6
    flag: ClassVar[str] = ""  # while this file exists, step 6 raises

    def requires(self):
        return FailStep(step=self.step - 1) if self.step > 1 else []

    def run(self):
        value = self.input_load() + 1 if self.step > 1 else 1
        if self.step == self.broken_step and os.path.exists(self.flag):
            raise ValueError(f"step {self.step} is broken")
        self.save(value)


@pytest.mark.parametrize("abort", [False, True])
def test_chain_failing_at_the_sixth_task_resumes_from_there(abort, tmp_path, monkeypatch):
    flag = tmp_path / "broken"
    flag.touch()
    monkeypatch.setattr(FailStep, "flag", str(flag))
    chain = [FailStep(step=i) for i in range(1, 11)]

    if abort:
        with pytest.raises(flowlib.TaskFailedError) as info:
            flowlib.run(chain[-1])
        error = info.value
        assert error.task.task_id == chain[5].task_id
        message = str(error)
        assert "FailStep(step=6)" in message and "'step': '6'" in message  # the task and its parameters
        assert "ValueError: step 6 is broken" in error.traceback
        assert "raise ValueError" in error.traceback  # the original traceback, down to the line
        assert error.traceback not in message  # shown once: by the exception chain, not in the message too
        assert "ValueError: step 6 is broken" in message  # the message says what went wrong in one line
        result = error.result
    else:
        result = flowlib.run(chain[-1], abort=False)
        assert not result
        failure = result.outcome(chain[5])
        assert "ValueError: step 6 is broken" in failure.error and "raise ValueError" in failure.error
        assert "FailStep(step=6)  (no output; ValueError: step 6 is broken)" in str(result)

    assert _ids(result.ran) == _ids(chain[:5])
    assert _ids(result.failed) == [chain[5].task_id]
    assert _ids(result.not_run) == _ids(chain[6:])
    for i, task in enumerate(chain[:5], start=1):  # the tasks that succeeded keep their outputs
        assert task.output_load() == i
        assert read_record(task) is not None
    for task in chain[5:]:  # the failed task and everything after it: no outputs, no record
        assert _files(task) == []

    flag.unlink()  # fix the task
    result = flowlib.run(chain[-1])
    assert _ids(result.ran) == _ids(chain[5:])
    assert _ids(result.complete) == _ids(chain[:5])
    assert chain[-1].output_load() == 10


# -- all or nothing ------------------------------------------------------------------------------------------------


class FailHalfway(flowlib.TaskParquet):
    persist = ["a", "b", "c"]
    flag: ClassVar[str] = ""

    def run(self):
        token = uuid.uuid4().hex  # identifies this attempt in every output
        frame = pd.DataFrame({"token": [token] * 3, "n": range(3)})
        self.save(frame, key="a")
        self.save(frame, key="b")
        if os.path.exists(self.flag):
            raise RuntimeError("failed after saving 'a' and 'b'")
        self.save(frame, key="c")


def _tokens(task: FailHalfway) -> set[str]:
    return {frame["token"].iloc[0] for frame in task.output_load()}


def test_task_failing_after_some_saves_leaves_nothing_and_reruns_whole(tmp_path, monkeypatch):
    flag = tmp_path / "broken"
    flag.touch()
    monkeypatch.setattr(FailHalfway, "flag", str(flag))
    task = FailHalfway()

    result = flowlib.run(task, abort=False)
    assert _ids(result.failed) == [task.task_id]
    assert _files(task) == []  # no outputs, no record, no lock, no temporary file
    assert flowlib.build_plan(task).roots[0].status is not flowlib.Status.COMPLETE
    with pytest.raises(flowlib.TaskIncompleteError):
        task.output_load()

    flag.unlink()
    result = flowlib.run(task)
    assert _ids(result.ran) == [task.task_id]
    assert len(_tokens(task)) == 1  # all three outputs come from the same attempt


def test_failed_forced_rerun_never_mixes_old_and_new_outputs(tmp_path, monkeypatch):
    flag = tmp_path / "broken"
    monkeypatch.setattr(FailHalfway, "flag", str(flag))
    task = FailHalfway()
    flowlib.run(task)
    first = _tokens(task)

    flag.touch()
    result = flowlib.run(task, forced=[task], abort=False)
    assert _ids(result.failed) == [task.task_id]
    present = [key for key, target in task.output().items() if target.exists()]
    assert present == []  # not the new 'a', 'b' beside the old 'c'

    flag.unlink()
    flowlib.run(task)
    second = _tokens(task)
    assert len(second) == 1 and second != first


class FailForgetsOutput(flowlib.TaskJSON):
    persist = ["kept", "forgotten"]

    def run(self):
        self.save({"x": 1}, key="kept")


def test_run_that_does_not_save_every_output_fails_naming_the_missing_keys():
    task = FailForgetsOutput()
    result = flowlib.run(task, abort=False)
    error = result.outcome(task).error
    assert "PersistKeyError" in error and "forgotten" in error
    assert _files(task) == []


# -- failures in worker processes ----------------------------------------------------------------------------------


class FailBranchGood(flowlib.TaskPickle):
    def run(self):
        self.save("good")


class FailBranchBad(flowlib.TaskPickle):
    persist = ["first", "second"]

    def run(self):
        self.save("first", key="first")
        raise OSError("disk on fire")


class FailBranchJoin(flowlib.TaskPickle):
    def requires(self):
        return {"good": FailBranchGood(), "bad": FailBranchBad()}

    def run(self):
        self.save(self.input_load())


@pytest.mark.parametrize("executor", ["process", "thread"])
def test_failure_in_a_parallel_worker_keeps_other_branches(executor):
    result = flowlib.run(FailBranchJoin(), workers=2, executor=executor, abort=False)
    assert _ids(result.failed) == [FailBranchBad().task_id]
    assert _ids(result.not_run) == [FailBranchJoin().task_id]
    assert "OSError: disk on fire" in result.outcome(FailBranchBad()).error
    assert FailBranchGood().output_load() == "good"
    assert _files(FailBranchBad()) == [] and _files(FailBranchJoin()) == []


# -- retries -------------------------------------------------------------------------------------------------------


class FailFlaky(flowlib.TaskJSON):
    """Fails ``failures`` times (counted in a file), then succeeds; luigi's ``retry_count`` allows 3 attempts."""

    retry_count = 3
    failures = flowlib.IntParameter()
    counter: ClassVar[str] = ""

    def run(self):
        with open(self.counter, "a") as handle:
            handle.write("x")
        attempt = len(Path(self.counter).read_text())
        self.save({"attempt": attempt}, key="data")
        if attempt <= self.failures:
            raise RuntimeError(f"flaky failure {attempt}")


@pytest.fixture
def counter(tmp_path, monkeypatch):
    path = tmp_path / "attempts"
    path.write_text("")
    monkeypatch.setattr(FailFlaky, "counter", str(path))
    return path


@pytest.fixture
def luigi_retries():
    """luigi retries a failed task only in a worker that stays alive, after ``retry_delay``."""
    config = luigi.configuration.get_config()
    wanted = {
        ("scheduler", "retry_delay"): "0",
        ("worker", "keep_alive"): "true",
        ("worker", "wait_interval"): "0.05",
        ("worker", "wait_jitter"): "0",
    }
    saved = {}
    for (section, option), value in wanted.items():
        if not config.has_section(section):
            config.add_section(section)
        saved[section, option] = config.get(section, option, None)
        config.set(section, option, value)
    yield
    for (section, option), value in saved.items():
        if value is None:
            config.remove_option(section, option)
        else:
            config.set(section, option, value)


@pytest.mark.parametrize(("failures", "attempts", "succeeds"), [(2, 3, True), (5, 3, False)])
def test_retry_count_through_luigi(failures, attempts, succeeds, counter, luigi_retries):
    task = FailFlaky(failures=failures)
    result = luigi.build([task], local_scheduler=True, detailed_summary=True, log_level="CRITICAL")
    assert len(counter.read_text()) == attempts  # retry_count = 3 means at most 3 attempts
    if succeeds:
        assert result.status == luigi.LuigiStatusCode.SUCCESS_WITH_RETRY
        assert task.output_load() == {"attempt": 3}
        assert flowlib.build_plan(task).roots[0].complete
    else:
        assert result.status == luigi.LuigiStatusCode.FAILED
        assert _files(task) == []  # each failed attempt removed what it had saved


@pytest.mark.parametrize(("failures", "attempts", "succeeds"), [(2, 3, True), (5, 3, False)])
def test_retry_count_through_flowlib_run(failures, attempts, succeeds, counter):
    task = FailFlaky(failures=failures)
    result = flowlib.run(task, abort=False)
    assert len(counter.read_text()) == attempts
    if succeeds:
        assert result and _ids(result.ran) == [task.task_id]
        assert task.output_load() == {"attempt": 3}
    else:
        assert _ids(result.failed) == [task.task_id]
        assert "flaky failure 3" in result.outcome(task).error  # the last attempt's traceback
        assert _files(task) == []
