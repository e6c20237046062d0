"""Progress: done / total, the running task and elapsed time when shown; silence otherwise."""

from __future__ import annotations

import io
import re
import sys

import pytest
from flows.pipeline import Broken, Numbers, Scored

import flowlib
from flowlib.execution.progress import Progress


class FakeTask:
    def __init__(self, family: str, n: int = 0) -> None:
        self.family, self.task_id = family, f"{family}_{n}"

    def get_task_family(self) -> str:
        return self.family

    def __str__(self) -> str:
        return f"{self.family}()"


def test_the_bar_shows_done_over_total_the_running_task_and_elapsed_time():
    pytest.importorskip("tqdm")
    out = io.StringIO()
    progress = Progress(3, enabled=True, stream=out)
    progress.start(FakeTask("GetData"))
    assert "0/3" in out.getvalue() and "running GetData" in out.getvalue()
    progress.done(FakeTask("GetData"))
    progress.start(FakeTask("Train"))
    assert "running Train" in out.getvalue().rsplit("\r", 1)[-1]
    progress.done(FakeTask("Train"))
    progress.done(FakeTask("Evaluate"), failed=True)
    progress.close()
    final = out.getvalue().rsplit("\r", 1)[-1]
    assert "3/3" in final and "1 failed" in final
    assert re.search(r"\d\d:\d\d", final)  # elapsed time


def test_the_bar_names_tasks_running_at_once():
    pytest.importorskip("tqdm")
    out = io.StringIO()
    progress = Progress(4, enabled=True, stream=out)
    for name in ("A", "B", "C"):
        progress.start(FakeTask(name))
    assert "running A, B (+1)" in out.getvalue()
    progress.done(FakeTask("A"))
    assert "running B, C" in out.getvalue().rsplit("\r", 1)[-1]
    progress.close()


def test_plain_lines_without_tqdm(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm.std", None)  # import fails as if tqdm were not installed
    out = io.StringIO()
    progress = Progress(2, enabled=True, stream=out)
    assert progress.bar is None
    progress.start(FakeTask("GetData"))
    progress.done(FakeTask("GetData"))
    progress.done(FakeTask("Train"), failed=True)
    progress.close()
    lines = out.getvalue().splitlines()
    assert re.fullmatch(r"flowlib \[0/2, \d+\.\ds\] running GetData\(\)", lines[0])
    assert re.fullmatch(r"flowlib \[1/2, \d+\.\ds\] done GetData\(\)", lines[1])
    assert re.fullmatch(r"flowlib \[2/2, \d+\.\ds\] failed Train\(\)", lines[2])


def test_silent_when_disabled_or_not_a_terminal():
    for enabled in (False, None):  # a StringIO is not a terminal
        out = io.StringIO()
        progress = Progress(2, enabled=enabled, stream=out)
        progress.start(FakeTask("GetData"))
        progress.done(FakeTask("GetData"))
        progress.close()
        assert out.getvalue() == ""


def test_run_with_progress_shows_it_on_stderr(capsys):
    pytest.importorskip("tqdm")
    flowlib.run(Scored(), progress=True)
    err = capsys.readouterr().err
    assert "4/4" in err
    for family in ("Numbers", "Scaled", "Fitted", "Scored"):
        assert f"running {family}" in err


def test_run_progress_counts_failures(capsys):
    pytest.importorskip("tqdm")
    flowlib.run(Broken(), progress=True, abort=False)
    err = capsys.readouterr().err
    assert "2/2" in err and "1 failed" in err


@pytest.mark.parametrize("progress", [False, None])
def test_run_is_silent_without_progress(capsys, progress):
    result = flowlib.run(Scored(), progress=progress)  # None: stderr is not a terminal under pytest
    assert len(result.ran) == 4
    assert capsys.readouterr().err == ""


def test_nothing_to_do_shows_nothing(capsys):
    flowlib.run(Numbers())
    capsys.readouterr()
    flowlib.run(Numbers(), progress=True)
    assert capsys.readouterr().err == ""
