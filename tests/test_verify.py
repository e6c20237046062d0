"""flowlib.verify: every output of a flow checked on disk; the report lists only the bad ones."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import luigi
import pandas as pd
import pytest

import flowlib
from flowlib.hashing import ALGORITHM
from flowlib.record import record_path
from flowlib.verify import BadOutput, Problem, VerifyReport, verify

FRAME = pd.DataFrame({"x": range(200), "y": [f"row-{i}" for i in range(200)], "z": [i / 7 for i in range(200)]})


class VfySource(flowlib.TaskParquet):
    def run(self):
        self.save(FRAME)


@flowlib.requires(VfySource)
class VfyCsv(flowlib.TaskCSV):
    def run(self):
        self.save(self.input_load())


@flowlib.requires(VfyCsv)
class VfyJson(flowlib.TaskJSON):
    persist = ["table", "summary"]

    def run(self):
        df = self.input_load()
        self.save({"table": df, "summary": {"rows": len(df), "columns": list(df.columns)}})


@flowlib.requires(VfyJson)
class VfyPickle(flowlib.TaskPickle):
    def run(self):
        table, summary = self.input_load()
        self.save({"mean": float(table["x"].mean()), "summary": summary})


@flowlib.requires(VfyPickle)
class VfyMemory(flowlib.TaskMemory):
    def run(self):
        self.save(self.input_load())


FLOW = VfyPickle()
FORMAT_TASKS = {
    "parquet": (VfySource(), "data"),
    "csv": (VfyCsv(), "data"),
    "json": (VfyJson(), "table"),
    "pickle": (VfyPickle(), "data"),
}


def _path(task: flowlib.Task, key: str = "data") -> Path:
    return Path(task.output()[key].path)


def _truncate(path: Path, fraction: float = 0.6) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])


def test_sound_flow_gives_an_empty_falsy_report():
    flowlib.run(FLOW)
    report = verify(FLOW)
    assert isinstance(report, VerifyReport)
    assert report.ok and not report and len(report) == 0 and list(report) == []
    assert report.checked == 5 and report.tasks == 4  # VfyJson has two outputs
    assert "all sound" in str(report)


def test_tasks_not_run_are_not_bad_but_are_counted():
    flowlib.run(VfySource())
    report = verify(FLOW)
    assert report.ok
    assert [str(t) for t in report.not_run] == ["VfyCsv()", "VfyJson()", "VfyPickle()"]
    assert report.checked == 1
    assert "3 tasks not run yet" in str(report)


@pytest.mark.parametrize("fmt", sorted(FORMAT_TASKS))
def test_truncated_output_is_listed_alone(fmt):
    flowlib.run(FLOW)
    task, key = FORMAT_TASKS[fmt]
    _truncate(_path(task, key))
    report = verify(FLOW)
    assert len(report) == 1 and bool(report) and not report.ok
    bad = report[0]
    assert isinstance(bad, BadOutput)
    assert (bad.task.task_id, bad.key, bad.path) == (task.task_id, key, str(_path(task, key)))
    assert bad.problem in (Problem.CORRUPT, Problem.TRUNCATED)
    text = str(report)
    assert str(_path(task, key)) in text and str(task) in text and "invalidate" in text


@pytest.mark.parametrize("fmt", sorted(FORMAT_TASKS))
def test_garbled_output_is_listed_alone(fmt):
    flowlib.run(FLOW)
    task, key = FORMAT_TASKS[fmt]
    path = _path(task, key)
    data = bytearray(path.read_bytes())
    data[:8] = b"\x00garbage"  # same size, broken header
    path.write_bytes(bytes(data))
    report = verify(FLOW)
    assert [(b.task.task_id, b.key) for b in report] == [(task.task_id, key)]
    assert report[0].problem in (Problem.CORRUPT, Problem.MODIFIED)


def test_several_bad_outputs_are_listed_exactly():
    flowlib.run(FLOW)
    _truncate(_path(VfySource()))
    _truncate(_path(VfyJson(), "summary"))
    report = verify(FLOW)
    assert sorted((b.task.task_id, b.key) for b in report) == sorted(
        [(VfySource().task_id, "data"), (VfyJson().task_id, "summary")]
    )
    assert [t.task_id for t in report.bad_tasks()] == [VfySource().task_id, VfyJson().task_id]
    assert report.paths() == [b.path for b in report]


def test_csv_cut_at_a_line_boundary_reads_short_and_is_reported_truncated():
    flowlib.run(FLOW)
    path = _path(VfyCsv())
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:120]))  # header + 119 complete rows
    assert len(pd.read_csv(path)) == 119  # pandas reads it silently short
    report = verify(FLOW)
    assert len(report) == 1
    assert report[0].problem is Problem.TRUNCATED
    assert "119 rows" in report[0].detail and "200" in report[0].detail


def test_same_size_edit_is_reported_modified_by_its_fingerprint():
    flowlib.run(FLOW)
    path = _path(VfyCsv())
    text = path.read_text()
    edited = text.replace('"row-17"', '"row-71"')
    assert edited != text and len(edited) == len(text)
    path.write_text(edited)
    report = verify(FLOW)
    assert [(b.task.task_id, b.problem) for b in report] == [(VfyCsv().task_id, Problem.MODIFIED)]
    assert "fingerprint" in report[0].detail
    # Without hashing, a same-size, same-rows edit goes unnoticed: that is what fingerprints are for.
    assert verify(FLOW, fingerprints=False).ok


def test_outputs_saved_without_a_content_hash_verify_clean(monkeypatch):
    # settings.fingerprint_outputs off: the record holds no content hash, so there is none to contradict.
    monkeypatch.setattr(flowlib.settings, "fingerprint_outputs", False)
    flowlib.run(FLOW)
    assert VfyCsv().metadata().outputs["data"].fingerprint.startswith("unhashed-")
    assert verify(FLOW).ok


def test_files_are_checked_with_the_algorithm_their_record_names():
    flowlib.run(FLOW)
    fingerprint = VfyCsv().metadata().outputs["data"].fingerprint
    assert fingerprint.split(":")[0] == ALGORITHM
    assert verify(FLOW).ok


def test_longer_file_is_reported_modified():
    flowlib.run(FLOW)
    path = _path(VfyJson(), "summary")
    path.write_bytes(path.read_bytes() + b"   ")
    report = verify(FLOW)
    assert [(b.key, b.problem) for b in report] == [("summary", Problem.MODIFIED)]
    assert "bytes" in report[0].detail


def test_deleted_output_of_a_completed_task_is_missing():
    flowlib.run(FLOW)
    _path(VfyJson(), "table").unlink()
    report = verify(FLOW)
    assert [(b.key, b.problem) for b in report] == [("table", Problem.MISSING)]
    assert "record" in report[0].detail


def test_output_without_record_is_unrecorded():
    flowlib.run(FLOW)
    os.remove(record_path(VfyCsv()))
    report = verify(FLOW)
    assert [(b.task.task_id, b.problem) for b in report] == [(VfyCsv().task_id, Problem.UNRECORDED)]
    assert "interrupted" in report[0].detail


def test_damaged_record_is_unrecorded():
    flowlib.run(FLOW)
    log = Path(record_path(VfyPickle()))  # damage its line, saving the file the way editors do (a new file)
    log.with_name("edited").write_bytes(log.read_bytes().replace(b'"record":{', b'"record":{{', 1))
    os.replace(log.with_name("edited"), log)
    report = verify(FLOW)
    assert [(b.task.task_id, b.problem) for b in report] == [(VfyPickle().task_id, Problem.UNRECORDED)]
    assert "damaged" in report[0].detail


def test_report_invalidate_then_run_repairs_the_flow():
    flowlib.run(FLOW)
    _truncate(_path(VfyCsv()))
    _truncate(_path(VfyPickle()))
    report = verify(FLOW)
    repaired = report.invalidate()
    assert [t.task_id for t in repaired] == [VfyCsv().task_id, VfyPickle().task_id]
    result = flowlib.run(FLOW)
    # VfyCsv's rebuilt output matches what VfyJson consumed, so VfyJson stays complete (early cutoff).
    assert {t.task_id for t in result.ran} == {VfyCsv().task_id, VfyPickle().task_id}
    assert verify(FLOW).ok
    pd.testing.assert_frame_equal(VfyCsv().output_load(), FRAME)


class _Exploit:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def test_verify_never_runs_code_inside_a_pickle(tmp_path):
    flowlib.run(FLOW)
    marker = tmp_path / "pwned"
    _path(VfyPickle()).write_bytes(pickle.dumps(_Exploit(str(marker))))
    report = verify(FLOW)
    assert not marker.exists()
    assert [(b.task.task_id, b.problem) for b in report] == [(VfyPickle().task_id, Problem.MODIFIED)]


def test_deep_verify_loads_every_output():
    flowlib.run(FLOW)
    assert verify(FLOW, deep=True).ok
    path = _path(VfyCsv())
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:50]))
    report = verify(FLOW, deep=True)
    assert [(b.task.task_id, b.problem) for b in report] == [(VfyCsv().task_id, Problem.TRUNCATED)]


def test_memory_and_plain_luigi_tasks_are_skipped(tmp_path):
    class VfyPlain(luigi.Task):
        def output(self):
            return luigi.LocalTarget(str(tmp_path / "plain.txt"))

    class VfyUsesPlain(flowlib.TaskPickle):
        def requires(self):
            return VfyPlain()

        def run(self):
            self.save(1)

    flowlib.run(VfyMemory())
    report = verify(VfyMemory())
    assert report.ok and report.tasks == 4
    assert verify(VfyUsesPlain()).tasks == 1


def test_verify_takes_several_flows():
    flowlib.run([VfySource(), FLOW])
    _truncate(_path(VfySource()))
    report = verify([VfySource(), FLOW])
    assert len(report) == 1 and report.tasks == 4


class VfyCsvGaps(flowlib.TaskCSV):
    def run(self):
        self.save(pd.DataFrame({"only": ["a", None, "c", None]}))


def test_csv_is_checked_with_the_target_s_own_reader():
    """A one-column CSV with missing values has empty lines; they are rows, not gaps."""
    flowlib.run(VfyCsvGaps())
    assert len(VfyCsvGaps().output_load()) == 4
    assert verify(VfyCsvGaps()).ok
