"""Rerun exactly what changed: parameters, code and upstream data (issue 5 items 1-4, 8).

The flow lives in a module file under ``tmp_path``; tests run it, edit the file,
import it again under a fresh module name and run again, asserting exactly which
tasks rerun and the reasons the preview gives.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import re
import subprocess
import sys
import textwrap
from datetime import datetime
from pathlib import Path
from types import ModuleType

import luigi
import pandas as pd
import pyarrow
import pytest

import flowlib
from flowlib.cleanup import orphans
from flowlib.fingerprint import code_fingerprint, forget_code_fingerprints
from flowlib.layout import RECORD_LOG
from flowlib.record import RECORD_SUFFIX, read_record, record_path
from flowlib.result import Outcome

# Load -> Scale -> Report. Load reads numbers from input.txt beside the module, so a test can change
# upstream data by editing that file.
FLOW = """
from pathlib import Path

import pandas as pd

import flowlib

INPUT = Path(__file__).with_name("input.txt")


class CdLoad(flowlib.TaskParquet):
    def run(self):
        values = [int(v) for v in INPUT.read_text().split()]
        self.save(pd.DataFrame({"x": values}))


class CdScale(flowlib.TaskParquet):
    factor = flowlib.IntParameter(default=2)

    def requires(self):
        return CdLoad()

    def run(self):
        df = self.input_load()
        self.save(df.assign(x=df.x * self.factor))


class CdReport(flowlib.TaskPickle):
    def requires(self):
        return CdScale()

    def run(self):
        self.save({"total": int(self.input_load().x.sum())})
"""

_counter = itertools.count()


class FlowFile:
    """A module file the test edits and imports again under a fresh name each time."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / "cd_flow.py"
        self.source = ""
        self.module: ModuleType | None = None

    def write_input(self, *values: int) -> None:
        (self.folder / "input.txt").write_text(" ".join(map(str, values)))

    def load(self, source: str | None = None) -> ModuleType:
        """Write ``source`` (default: the current one) and import it as a new module."""
        if source is not None:
            self.source = textwrap.dedent(source)
        self.path.write_text(self.source)
        name = f"cd_flow_{next(_counter)}"
        spec = importlib.util.spec_from_file_location(name, self.path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        luigi.task_register.Register.clear_instance_cache()
        forget_code_fingerprints()
        self.module = module
        return module

    def edit(self, old: str, new: str) -> ModuleType:
        """Replace ``old`` (which must occur exactly once) by ``new`` and import the result."""
        assert self.source.count(old) == 1, f"{old!r} occurs {self.source.count(old)} times"
        return self.load(self.source.replace(old, new))


@pytest.fixture
def flow(tmp_path, monkeypatch):
    """The flow above, in a module file, with input 1 2 3; already run once."""
    monkeypatch.setattr(sys, "dont_write_bytecode", True)  # edits within a second must not hit a stale .pyc
    folder = tmp_path / "code"
    folder.mkdir()
    flow = FlowFile(folder)
    flow.write_input(1, 2, 3)
    m = flow.load(FLOW)
    result = flowlib.run(m.CdReport())
    assert ids(result.ran) == ids([m.CdLoad(), m.CdScale(), m.CdReport()])
    yield flow
    for name in [n for n in sys.modules if n.startswith("cd_flow_")]:
        del sys.modules[name]


def ids(tasks):
    return [t.task_id for t in tasks]


def states(task, **options):
    """``{family: (status, reason)}`` as the preview shows them."""
    shown = flowlib.preview(task, show=False, **options)
    return {node.family: (node.status.value, node.reason) for node in shown.plan.nodes}


ALL_COMPLETE = {"CdLoad": ("COMPLETE", ""), "CdScale": ("COMPLETE", ""), "CdReport": ("COMPLETE", "")}


# -- parameters -----------------------------------------------------------------------------


def test_a_second_run_runs_nothing(flow):
    m = flow.module
    assert states(m.CdReport()) == ALL_COMPLETE
    assert flowlib.run(m.CdReport()).ran == []


def test_new_parameters_are_pending_and_only_they_run(flow):
    m = flow.module
    assert states(m.CdScale(factor=3)) == {"CdLoad": ("COMPLETE", ""), "CdScale": ("PENDING", "no output")}
    result = flowlib.run(m.CdScale(factor=3))
    assert ids(result.ran) == ids([m.CdScale(factor=3)])
    assert m.CdScale(factor=3).output_load().x.tolist() == [3, 6, 9]
    assert states(m.CdReport()) == ALL_COMPLETE  # the other parameter set is untouched


# -- code -------------------------------------------------------------------------------------


def test_changing_run_reruns_the_task_and_what_its_new_output_changes(flow):
    m = flow.edit("df.x * self.factor)", "df.x * self.factor + 1)")
    assert states(m.CdReport()) == {
        "CdLoad": ("COMPLETE", ""),
        "CdScale": ("STALE", "code changed"),
        "CdReport": ("STALE", "upstream CdScale will rerun"),
    }
    text = str(flowlib.preview(m.CdReport(), show=False))
    assert "STALE  (code changed)" in text and "STALE  (upstream CdScale will rerun)" in text
    result = flowlib.run(m.CdReport())
    assert ids(result.ran) == ids([m.CdScale(), m.CdReport()])
    assert result.outcome(m.CdScale()).reason == "code changed"
    assert result.outcome(m.CdReport()).reason == "upstream CdScale changed"
    assert m.CdReport().output_load() == {"total": 15}
    assert flowlib.run(m.CdReport()).ran == []


def test_changing_requires_counts_as_a_code_change(flow):
    m = flow.edit("return CdScale()", "return CdScale(factor=2)")
    assert states(m.CdReport())["CdReport"] == ("STALE", "code changed")
    assert ids(flowlib.run(m.CdReport()).ran) == ids([m.CdReport()])


def test_changing_the_last_task_reruns_only_it(flow):
    m = flow.edit('{"total": int(self.input_load().x.sum())}', '{"total": int(self.input_load().x.sum()), "n": 3}')
    assert states(m.CdReport()) == {**ALL_COMPLETE, "CdReport": ("STALE", "code changed")}
    assert ids(flowlib.run(m.CdReport()).ran) == ids([m.CdReport()])


def test_comments_whitespace_and_docstrings_do_not_count(flow):
    before = code_fingerprint(type(flow.module.CdScale()))
    flow.edit(
        "class CdScale(flowlib.TaskParquet):\n", 'class CdScale(flowlib.TaskParquet):\n    """Scale the numbers."""\n\n'
    )
    m = flow.edit(
        "    def run(self):\n        df = self.input_load()\n        self.save(df.assign(x=df.x * self.factor))\n",
        "    def run(self):  # multiply\n"
        '        """Every value times the factor."""\n\n'
        "        df = self.input_load()   # the numbers\n"
        "        self.save(\n"
        "            df.assign(x = df.x*self.factor)\n"
        "        )\n",
    )
    assert "# multiply" in flow.path.read_text()
    assert code_fingerprint(m.CdScale) == before
    assert states(m.CdReport()) == ALL_COMPLETE
    assert flowlib.run(m.CdReport()).ran == []


@pytest.mark.parametrize("options", [{}, {"workers": 2}, {"workers": 2, "executor": "thread"}])
def test_a_code_change_with_identical_outputs_stops_there(flow, options):
    m = flow.edit("df.assign(x=df.x * self.factor)", 'df.assign(x=df["x"] * self.factor)')
    assert states(m.CdReport()) == {
        "CdLoad": ("COMPLETE", ""),
        "CdScale": ("STALE", "code changed"),
        "CdReport": ("STALE", "upstream CdScale will rerun"),
    }
    result = flowlib.run(m.CdReport(), **options)
    assert ids(result.ran) == ids([m.CdScale()])  # early cutoff: CdReport does not rerun
    assert result.outcome(m.CdReport()).outcome is Outcome.COMPLETE
    assert result.outcome(m.CdReport()).reason == "upstream outputs unchanged"
    assert states(m.CdReport()) == ALL_COMPLETE


def test_version_replaces_the_source_fingerprint(flow):
    m = flow.edit(
        "    factor = flowlib.IntParameter(default=2)\n",
        '    version = "1"\n    factor = flowlib.IntParameter(default=2)\n',
    )
    # Switching to a version is a code change once (the outputs are identical, so it stops there).
    assert states(m.CdReport())["CdScale"] == ("STALE", "code changed")
    assert ids(flowlib.run(m.CdReport()).ran) == ids([m.CdScale()])
    assert m.CdScale().metadata().code == "version:1"

    # The same version: a change to run() is the user's call, nothing reruns.
    m = flow.edit("df.x * self.factor)", "df.x * self.factor + 1)")
    assert states(m.CdReport()) == ALL_COMPLETE
    assert flowlib.run(m.CdReport()).ran == []
    assert m.CdReport().output_load() == {"total": 12}

    # A new version reruns it, and its new outputs rerun the report.
    m = flow.edit('version = "1"', 'version = "2"')
    assert states(m.CdReport())["CdScale"] == ("STALE", "code changed")
    assert ids(flowlib.run(m.CdReport()).ran) == ids([m.CdScale(), m.CdReport()])
    assert m.CdReport().output_load() == {"total": 15}


# -- upstream data ----------------------------------------------------------------------------


def test_upstream_rerun_with_identical_data_keeps_downstream_complete(flow):
    m = flow.module
    fingerprint = m.CdLoad().metadata().outputs["data"].fingerprint
    started = m.CdLoad().metadata().started
    result = flowlib.run(m.CdLoad(), forced_all=True)
    assert ids(result.ran) == ids([m.CdLoad()])
    record = m.CdLoad().metadata().to_dict()
    assert record["outputs"]["data"]["fingerprint"] == fingerprint
    assert record["started"] >= started
    assert states(m.CdReport()) == ALL_COMPLETE
    assert flowlib.run(m.CdReport()).ran == []


@pytest.mark.parametrize("options", [{}, {"workers": 2}])
def test_upstream_rerun_with_different_data_reruns_downstream(flow, options):
    m = flow.module
    flow.write_input(1, 2, 3, 4)
    assert ids(flowlib.run(m.CdLoad(), forced_all=True).ran) == ids([m.CdLoad()])
    assert states(m.CdReport()) == {
        "CdLoad": ("COMPLETE", ""),
        "CdScale": ("STALE", "upstream CdLoad changed"),
        "CdReport": ("STALE", "upstream CdScale will rerun"),
    }
    result = flowlib.run(m.CdReport(), **options)
    assert ids(result.ran) == ids([m.CdScale(), m.CdReport()])
    assert result.outcome(m.CdScale()).reason == "upstream CdLoad changed"
    assert result.outcome(m.CdReport()).reason == "upstream CdScale changed"
    assert m.CdReport().output_load() == {"total": 20}


def test_forcing_an_upstream_task_in_the_flow_reruns_downstream(flow):
    # forced=[t] means "rerun t and everything downstream of it" (issue 3), whatever t produces.
    m = flow.module
    result = flowlib.run(m.CdReport(), forced=[m.CdLoad()])
    assert ids(result.ran) == ids([m.CdLoad(), m.CdScale(), m.CdReport()])
    assert result.outcome(m.CdLoad()).reason == "forced"
    flow.write_input(5)
    flowlib.run(m.CdReport(), forced=[m.CdLoad()])
    assert m.CdReport().output_load() == {"total": 10}


def test_a_task_forced_by_its_upstream_says_so(flow):
    m = flow.module
    plan = flowlib.build_plan(m.CdReport(), forced=[m.CdLoad()])
    assert [(n.family, n.reason, n.forced, n.cutoff) for n in plan.nodes] == [
        ("CdLoad", "forced", True, False),
        ("CdScale", "upstream CdLoad forced", True, False),
        ("CdReport", "upstream CdScale forced", True, False),
    ]


def test_an_output_file_replaced_by_hand_is_seen_by_the_next_plan(flow):
    # The plan stats each output: a size or time that differs from the record's is a change on disk.
    m = flow.module
    path = m.CdLoad().output()["data"].path
    pd.DataFrame({"x": [7]}).to_parquet(path)
    assert states(m.CdReport()) == {
        "CdLoad": ("STALE", "output data changed on disk"),
        "CdScale": ("STALE", "upstream CdLoad will rerun"),
        "CdReport": ("STALE", "upstream CdScale will rerun"),
    }
    assert not m.CdReport().complete() and not m.CdLoad().complete()
    # The run rewrites CdLoad; its output is what the record said before, so nothing downstream reruns.
    result = flowlib.run(m.CdReport())
    assert ids(result.ran) == ids([m.CdLoad()])
    assert states(m.CdReport()) == ALL_COMPLETE


def test_a_touched_or_copied_output_with_the_same_content_is_not_a_change(flow):
    m = flow.module
    path = m.CdLoad().output()["data"].path
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))  # another time, the same bytes (cp without -p)
    assert states(m.CdReport()) == ALL_COMPLETE
    assert m.CdReport().complete()


def test_memory_targets_never_cut_off_early():
    class CdMemSource(flowlib.TaskMemory):
        def run(self):
            self.save(pd.DataFrame({"x": [1, 2]}))

    @flowlib.requires(CdMemSource)
    class CdMemSum(flowlib.TaskPickle):
        def run(self):
            self.save(int(self.input_load().x.sum()))

    flowlib.run(CdMemSum())
    assert flowlib.run(CdMemSum()).ran == []
    assert ids(flowlib.run(CdMemSource(), forced_all=True).ran) == ids([CdMemSource()])
    # Same values, but a memory output's fingerprint is new with every save: downstream reruns.
    assert states(CdMemSum())["CdMemSum"] == ("STALE", "upstream CdMemSource changed")
    assert ids(flowlib.run(CdMemSum()).ran) == ids([CdMemSum()])


# -- rerun_stale=False: existence only -------------------------------------------------------


def _stale_flow(flow):
    m = flow.edit("df.x * self.factor)", "df.x * self.factor + 1)")
    assert states(m.CdReport())["CdScale"] == ("STALE", "code changed")
    return m


def test_rerun_stale_false_keeps_existence_only(flow):
    m = _stale_flow(flow)
    assert states(m.CdReport(), rerun_stale=False) == ALL_COMPLETE
    assert flowlib.run(m.CdReport(), rerun_stale=False).ran == []
    # New parameters still run: existence is still checked.
    assert ids(flowlib.run(m.CdScale(factor=5), rerun_stale=False).ran) == ids([m.CdScale(factor=5)])
    assert ids(flowlib.run(m.CdReport()).ran) == ids([m.CdScale(), m.CdReport()])


def test_rerun_stale_setting(flow, monkeypatch):
    m = _stale_flow(flow)
    monkeypatch.setattr(flowlib.settings, "rerun_stale_override", False)
    assert states(m.CdReport()) == ALL_COMPLETE
    assert flowlib.run(m.CdReport()).ran == []
    assert ids(flowlib.run(m.CdReport(), rerun_stale=True).ran) == ids([m.CdScale(), m.CdReport()])


@pytest.mark.parametrize("value, stale", [("0", False), ("false", False), ("1", True)])
def test_rerun_stale_environment_variable(flow, monkeypatch, value, stale):
    m = _stale_flow(flow)
    monkeypatch.setattr(flowlib.settings, "rerun_stale_override", None)
    monkeypatch.setenv("FLOWLIB_RERUN_STALE", value)
    expected = ids([m.CdScale(), m.CdReport()]) if stale else []
    assert ids(flowlib.run(m.CdReport()).ran) == expected


# -- the record -------------------------------------------------------------------------------


def test_record_contents(flow, flowlib_root):
    m = flow.module
    scale = m.CdScale()
    path = Path(record_path(scale))
    assert path == flowlib_root / "CdScale" / RECORD_LOG  # one line per record, shared by the family
    lines = [json.loads(line) for line in path.read_text().splitlines() if line]
    assert [line["task_id"] for line in lines] == [scale.task_id]
    record = lines[0]["record"]
    assert record == scale.metadata().to_dict() and record["format"] == 2
    assert record["task_family"] == "CdScale" and record["task_id"] == scale.task_id
    assert record["params"] == {"factor": "2"}
    assert record["code"] == code_fingerprint(m.CdScale) and record["code"].startswith("code2:")
    output = record["outputs"]["data"]
    assert output["path"] == scale.output()["data"].path and Path(output["path"]).exists()
    assert output["rows"] == 3 and output["schema"] == {"x": "int64"}
    assert output["bytes"] == Path(output["path"]).stat().st_size
    load_record = m.CdLoad().metadata().to_dict()
    assert record["inputs"] == {m.CdLoad().task_id: {"data": load_record["outputs"]["data"]["fingerprint"]}}
    assert datetime.strptime(record["started"], "%Y-%m-%dT%H:%M:%S%z").year >= 2024
    assert isinstance(record["duration"], float) and record["duration"] >= 0
    assert record["versions"]["flowlib"] == flowlib.__version__
    assert record["versions"]["pandas"] == pd.__version__
    assert record["versions"]["pyarrow"] == pyarrow.__version__
    assert record["metadata"] == {}
    report = m.CdReport().metadata().outputs["data"]
    assert report.rows is None and "rows" not in report.to_dict()  # a dict has no rows or schema
    assert m.CdScale(factor=9).metadata() is None


def test_different_outputs_have_different_fingerprints(flow):
    m = flow.module
    flowlib.run(m.CdScale(factor=3))
    first = m.CdScale().metadata().outputs["data"].fingerprint
    assert m.CdScale(factor=3).metadata().outputs["data"].fingerprint != first


# -- interrupted runs ---------------------------------------------------------------------------

CRASH = """
import os, sys
sys.path.insert(0, sys.argv[1])
import flowlib
import cd_flow

flowlib.set_dir(sys.argv[2])
real_replace, real_write = os.replace, os.write

def crash_on_record_file(src, dst):
    # Die like a killed process: CdScale's output is in place, its record only in a temporary file.
    if str(dst).endswith(".record.json") and "/CdScale/" in str(dst):
        os._exit(17)
    real_replace(src, dst)

def crash_on_record_line(fd, data):
    # Die like a process killed in the middle of appending CdScale's record: half a line is in the log.
    if bytes(data[:20]) == b'\\n{"task_id":"CdScale' and b'"record":' in bytes(data):
        real_write(fd, data[: len(data) // 2])
        os._exit(17)
    return real_write(fd, data)

os.replace, os.write = crash_on_record_file, crash_on_record_line
flowlib.run(cd_flow.CdReport(), forced_all_upstream=True)
"""


@pytest.mark.parametrize("store", ["log", "files"])
def test_a_crash_between_outputs_and_record_leaves_the_task_not_complete(flow, flowlib_root, monkeypatch, store):
    m = flow.module
    scale = m.CdScale()
    monkeypatch.setattr(flowlib.settings, "record_store", store)
    flowlib.run(m.CdReport(), forced_all_upstream=True, execution_summary=False)  # records in this store
    completed = subprocess.run(
        [sys.executable, "-B", "-c", CRASH, str(flow.folder), str(flowlib_root)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "FLOWLIB_RECORD_STORE": store},
    )
    assert completed.returncode == 17, completed.stderr
    assert Path(scale.output()["data"].path).exists()
    assert read_record(scale) is None
    leftovers = [p.name for p in (flowlib_root / "CdScale").iterdir() if p.name.endswith(".tmp")]
    if store == "files":
        assert not Path(record_path(scale)).exists()
        assert len(leftovers) == 1 and leftovers[0].startswith(f".{scale.task_id}{RECORD_SUFFIX}.")
        assert orphans(m.CdReport()) == [str(flowlib_root / "CdScale" / leftovers[0])]
    else:
        log = (flowlib_root / "CdScale" / RECORD_LOG).read_bytes()
        assert log.startswith(b'\n{"task_id":"CdScale') and not log.endswith(b"\n")  # the torn line
        assert leftovers == [] and orphans(m.CdReport()) == []

    assert states(m.CdReport()) == {
        "CdLoad": ("COMPLETE", ""),
        "CdScale": ("PENDING", "no record (an interrupted run?)"),
        "CdReport": ("STALE", "upstream CdScale will rerun"),  # its output from the first run is still there
    }
    assert states(m.CdReport(), rerun_stale=False)["CdScale"] == ("COMPLETE", "")
    assert not scale.complete()
    result = flowlib.run(m.CdReport())
    # CdScale reruns; its output is the same as before, so CdReport is cut off early.
    assert ids(result.ran) == ids([m.CdScale()])
    assert result.outcome(m.CdReport()).reason == "upstream outputs unchanged"
    assert scale.complete() and scale.metadata() is not None
    assert not [p for p in (flowlib_root / "CdScale").iterdir() if p.name.endswith(".tmp")]


def test_a_deleted_record_makes_the_task_rerun(flow):
    m = flow.module
    Path(record_path(m.CdLoad())).unlink()
    assert states(m.CdReport())["CdLoad"] == ("PENDING", "no record (an interrupted run?)")
    result = flowlib.run(m.CdReport())
    # CdLoad reran with the same data, so the tasks downstream keep their outputs.
    assert ids(result.ran) == ids([m.CdLoad()])
    assert states(m.CdReport()) == ALL_COMPLETE


def test_a_damaged_record_counts_as_none(flow):
    m = flow.module
    Path(record_path(m.CdReport())).write_text("{not json")
    assert states(m.CdReport())["CdReport"] == ("PENDING", "no record (an interrupted run?)")
    assert ids(flowlib.run(m.CdReport()).ran) == ids([m.CdReport()])


# -- the guide page ---------------------------------------------------------------------------


def test_the_guide_page_runs(tmp_path):
    """docs/rerun.md: every ```python block, in order, as one script in a fresh process."""
    page = Path(__file__).resolve().parent.parent / "docs" / "rerun.md"
    blocks = re.findall(r"^```python\n(.*?)^```", page.read_text(encoding="utf-8"), re.S | re.M)
    assert len(blocks) > 10
    folder = tmp_path / "guide"
    folder.mkdir()
    (folder / "page.py").write_text("\n".join(blocks), encoding="utf-8")
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("FLOWLIB_", "LUIGI_CONFIG"))}
    environ.update(FLOWLIB_DIR=str(folder / "data"), PYTHONDONTWRITEBYTECODE="1")
    done = subprocess.run(
        [sys.executable, "page.py"],
        cwd=folder,
        env=environ,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Scale(factor=2)  STALE  (code changed)" in done.stdout
