"""``Task.complete()`` never answers from a stale cache: files changed by anyone are seen by the next call."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import flowlib
from flowlib.completion import completion_cache
from flowlib.record import read_record, remove_record


class CpSource(flowlib.TaskParquet):
    def run(self):
        self.save(pd.DataFrame({"x": range(50)}))


@flowlib.requires(CpSource)
class CpMiddle(flowlib.TaskParquet):
    def run(self):
        self.save(self.input_load() * 2)


@flowlib.requires(CpMiddle)
class CpTop(flowlib.TaskPickle):
    def run(self):
        self.save(int(self.input_load()["x"].sum()))


def source_path() -> Path:
    return Path(CpSource().output()["data"].path)


@pytest.fixture
def done_flow():
    flowlib.run(CpTop())
    assert CpTop().complete() and CpTop().complete()  # a warm cache
    return CpTop()


def test_an_output_deleted_by_hand_is_seen_by_the_next_complete_preview_and_run(done_flow):
    source_path().unlink()
    assert not CpTop().complete()
    assert not CpSource().complete()
    assert flowlib.preview(CpTop(), show=False).status(CpSource()).value == "PENDING"
    assert [type(t).__name__ for t in flowlib.run(CpTop()).ran] == ["CpSource"]  # same output: cut off
    assert CpTop().complete()


def test_a_truncated_output_is_seen_by_the_next_complete(done_flow):
    path = source_path()
    with open(path, "r+b") as handle:
        handle.truncate(path.stat().st_size // 2)
    assert not CpTop().complete()
    plan = flowlib.build_plan(CpTop())
    assert plan.node(CpSource()).reason == "output data changed on disk"


def test_an_output_replaced_by_another_process_is_seen_by_the_next_complete(done_flow, tmp_path):
    path = source_path()
    script = (
        "import sys, pandas as pd\n"
        "pd.DataFrame({'x': range(50, 100)}).to_parquet(sys.argv[1] + '.new')\n"
        "import os; os.replace(sys.argv[1] + '.new', sys.argv[1])\n"
    )
    subprocess.run([sys.executable, "-c", script, str(path)], check=True, timeout=120)
    assert not CpTop().complete()
    result = flowlib.run(CpTop())
    assert [type(t).__name__ for t in result.ran] == ["CpSource"]
    assert CpTop().output_load() == sum(range(50)) * 2


def test_a_record_removed_by_another_process_is_seen(done_flow):
    assert CpTop().complete() and read_record(CpMiddle()) is not None
    other = multiprocessing.get_context("fork").Process(target=remove_record, args=(CpMiddle(),))
    other.start()
    other.join()
    assert other.exitcode == 0
    assert not CpTop().complete() and not CpMiddle().complete()


def test_the_same_files_keep_the_verdict_and_a_reset_forgets_it(done_flow):
    assert CpTop().complete()
    os.utime(source_path(), ns=(1, 1))  # a new time, the same bytes: hashed once, still complete
    assert CpTop().complete()
    completion_cache.reset()
    assert CpTop().complete()


def test_a_scheduling_pass_trusts_verdicts_checked_once_in_it(done_flow):
    with completion_cache.scheduling_pass():
        assert CpTop().complete()
        source_path().unlink()
        assert CpTop().complete()  # within one luigi scheduling pass, as luigi itself would
    assert not CpTop().complete()  # the next pass sees it
