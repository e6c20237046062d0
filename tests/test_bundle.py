"""Bundles: export a finished flow, import it elsewhere after verifying every file, run nothing.

The flow is a module written in ``tmp_path`` (Raw -> Doubled -> Summary); the colleague's side runs
in a subprocess with its own copy of that module (the same code, or Doubled edited).
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import subprocess
import sys
import tarfile
import textwrap
import uuid
import zipfile
from pathlib import Path

import pytest

import flowlib
from flowlib.hashing import hash_file
from flowlib.record import read_record, write_record

REPO = Path(__file__).parent.parent

FLOW = textwrap.dedent(
    '''
    """Raw -> Doubled -> Summary."""
    import pandas as pd

    import flowlib


    class Raw(flowlib.TaskParquet):
        n = flowlib.IntParameter(default=6)

        def run(self):
            self.save(pd.DataFrame({"x": range(self.n)}))


    @flowlib.requires(Raw)
    class Doubled(flowlib.TaskPickle):
        def run(self):
            self.save([int(v) * 2 for v in self.input_load()["x"]])


    @flowlib.requires(Doubled)
    class Summary(flowlib.TaskJSON):
        def run(self):
            self.save({"total": sum(self.input_load())})


    class Kept(flowlib.TaskMemory):
        def run(self):
            self.save(1)
    '''
)

COLLEAGUE = textwrap.dedent(
    """
    import json, sys
    import flowlib
    from MODULE import Summary

    manifest = flowlib.import_bundle(sys.argv[1])
    plan = flowlib.build_plan(Summary())
    reasons = {node.family: node.reason for node in plan.nodes}
    result = flowlib.run(Summary(), execution_summary=False)
    print(json.dumps({
        "tasks": len(manifest.tasks),
        "reasons": reasons,
        "ran": sorted(type(t).__name__ for t in result.ran),
        "why": {type(o.task).__name__: o.reason for o in result.outcomes if o.reason},
        "total": Summary().output_load()["total"],
    }))
    """
)


@pytest.fixture
def flow(tmp_path):
    """The flow module, imported under a name of its own; ``flow.source_dir`` holds its file."""
    name = f"bundleflow_{uuid.uuid4().hex[:8]}"
    folder = tmp_path / "code"
    folder.mkdir()
    (folder / f"{name}.py").write_text(FLOW, encoding="utf-8")
    sys.path.insert(0, str(folder))
    try:
        module = importlib.import_module(name)
        module.source_dir = folder
        yield module
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop(name, None)


def colleague(flow, tmp_path: Path, bundle: Path | str, *, edit: str | None = None) -> dict:
    """Import ``bundle`` and run the flow in a fresh process, fresh root, own copy of the module (maybe edited)."""
    name = flow.__name__
    folder = tmp_path / f"colleague-{uuid.uuid4().hex[:6]}"
    folder.mkdir()
    source = FLOW if edit is None else FLOW.replace("int(v) * 2", edit)
    assert edit is None or source != FLOW
    (folder / f"{name}.py").write_text(source, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWLIB_")}
    env.update(FLOWLIB_DIR=str(folder / "data"), PYTHONPATH=os.pathsep.join([str(folder), str(REPO)]))
    done = subprocess.run(
        [sys.executable, "-c", COLLEAGUE.replace("MODULE", name), str(bundle)],
        cwd=folder, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def files_under(root: Path) -> list[str]:
    """Outputs and records below ``root`` (not the families' lock files)."""
    if not root.exists():
        return []
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and p.name != ".flowlib.lock")


@pytest.mark.parametrize("name", ["bundle", "bundle.zip", "bundle.tar", "bundle.tar.gz"])
def test_an_imported_bundle_is_complete_and_runs_nothing(flow, tmp_path, flowlib_root, name):
    assert flowlib.run(flow.Summary(), execution_summary=False).ran
    manifest = flowlib.export(flow.Summary(), tmp_path / name)
    assert [t.family for t in manifest.tasks] == ["Raw", "Doubled", "Summary"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary file left

    fresh = tmp_path / "fresh"
    imported = flowlib.import_bundle(tmp_path / name, root=fresh)
    assert imported == manifest
    flowlib.set_dir(fresh)
    assert files_under(fresh) == files_under(flowlib_root)
    assert all(node.complete for node in flowlib.build_plan(flow.Summary()).nodes)
    result = flowlib.run(flow.Summary(), execution_summary=False)
    assert result and result.ran == []
    assert flow.Summary().output_load() == {"total": 30}


def test_the_manifest_lists_tasks_params_code_and_every_file(flow, tmp_path, flowlib_root):
    flowlib.run(flow.Summary(n=4), execution_summary=False)
    flowlib.export(flow.Summary(n=4), tmp_path / "out")
    data = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert data["format"] == 1 and data["flowlib_version"] == flowlib.__version__ and data["created"]
    by_family = {t["family"]: t for t in data["tasks"]}
    assert list(by_family) == ["Raw", "Doubled", "Summary"]
    for task in (flow.Raw(n=4), flow.Doubled(n=4), flow.Summary(n=4)):
        entry = by_family[task.get_task_family()]
        record = read_record(task)
        assert entry["task_id"] == task.task_id and entry["params"] == record.params == {"n": "4"}
        assert entry["code"] == record.code and entry["code"].startswith("code2:")
        root = task.storage().root + "/"
        assert entry["outputs"] == {key: t.path.removeprefix(root) for key, t in task.output().items()}
        assert entry["record"]["path"] == f"{task.get_task_family()}/{task.task_id}.record.json"
        for f in [*entry["files"], entry["record"]]:
            copied = tmp_path / "out" / f["path"]
            assert f["bytes"] == copied.stat().st_size and f["fingerprint"] == hash_file(str(copied))
        for f in entry["files"]:  # outputs are copied byte for byte
            assert (flowlib_root / f["path"]).read_bytes() == (tmp_path / "out" / f["path"]).read_bytes()
    shown = str(flowlib.bundle.read_manifest(tmp_path / "out"))
    assert "3 tasks, 6 files" in shown and f"flowlib {flowlib.__version__}" in shown and "Doubled(n=4)" in shown


def test_a_colleague_with_the_same_code_runs_nothing(flow, tmp_path):
    flowlib.run(flow.Summary(), execution_summary=False)
    flowlib.export(flow.Summary(), tmp_path / "shared.zip")
    seen = colleague(flow, tmp_path, tmp_path / "shared.zip")
    assert seen["tasks"] == 3 and seen["ran"] == [] and seen["total"] == 30
    assert set(seen["reasons"].values()) == {""}


def test_with_different_code_exactly_the_edited_task_says_code_changed(flow, tmp_path):
    flowlib.run(flow.Summary(), execution_summary=False)
    flowlib.export(flow.Summary(), tmp_path / "shared.tar.gz")
    seen = colleague(flow, tmp_path, tmp_path / "shared.tar.gz", edit="int(v) * 3")
    assert [family for family, why in seen["reasons"].items() if why == "code changed"] == ["Doubled"]
    assert seen["reasons"]["Raw"] == "" and "Doubled" in seen["reasons"]["Summary"]
    assert seen["why"]["Doubled"] == "code changed"
    assert seen["ran"] == ["Doubled", "Summary"] and seen["total"] == 45  # Raw was not rerun


def test_upstream_false_exports_only_the_given_tasks(flow, tmp_path):
    flowlib.run(flow.Summary(), execution_summary=False)
    manifest = flowlib.export([flow.Summary()], tmp_path / "top", upstream=False)
    assert [t.family for t in manifest.tasks] == ["Summary"]
    assert sorted(Path(p).parts[0] for p in files_under(tmp_path / "top")) == ["Summary", "Summary", "manifest.json"]


def test_incomplete_tasks_are_refused_by_name_and_nothing_is_written(flow, tmp_path):
    flowlib.run(flow.Doubled(), execution_summary=False)
    with pytest.raises(flowlib.BundleError, match=r"1 task\(s\) not complete: Summary\(n=6\) \(no output\)"):
        flowlib.export(flow.Summary(), tmp_path / "out.zip")
    assert not (tmp_path / "out.zip").exists() and not list(tmp_path.glob(".*"))
    assert isinstance(flowlib.BundleError("x"), flowlib.FlowlibError)


def test_memory_targets_cannot_be_exported(flow, tmp_path):
    flowlib.run(flow.Kept(), execution_summary=False)
    with pytest.raises(flowlib.BundleError, match="Kept.*memory targets"):
        flowlib.export(flow.Kept(), tmp_path / "out")


def test_a_folder_that_is_not_empty_is_refused(flow, tmp_path):
    flowlib.run(flow.Summary(), execution_summary=False)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("mine")
    with pytest.raises(flowlib.BundleError, match="not empty"):
        flowlib.export(flow.Summary(), tmp_path / "out")


def _exported(flow, tmp_path: Path) -> tuple[Path, dict]:
    flowlib.run(flow.Summary(), execution_summary=False)
    flowlib.export(flow.Summary(), tmp_path / "out")
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    return tmp_path / "out", manifest


def _flip_last_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", ["missing", "truncated", "corrupted", "record corrupted"])
def test_a_damaged_bundle_is_refused_naming_the_file_and_nothing_is_imported(flow, tmp_path, damage):
    bundle, manifest = _exported(flow, tmp_path)
    summary = manifest["tasks"][-1]  # the last task's files: everything before it verifies fine
    bad = bundle / (summary["record"] if damage == "record corrupted" else summary["files"][0])["path"]
    if damage == "missing":
        bad.unlink()
    elif damage == "truncated":
        bad.write_bytes(bad.read_bytes()[:-3])
    else:
        _flip_last_byte(bad)
    fresh = tmp_path / "fresh"
    expected = {"missing": "is missing", "truncated": "truncated", "corrupted": "corrupted"}[damage.split()[-1]]
    with pytest.raises(flowlib.BundleError, match=expected) as caught:
        flowlib.import_bundle(bundle, root=fresh)
    assert str(bad.relative_to(bundle)) in str(caught.value) and "nothing was imported" in str(caught.value)
    assert files_under(fresh) == []


def test_a_bundle_without_manifest_is_refused(flow, tmp_path):
    bundle, _ = _exported(flow, tmp_path)
    (bundle / "manifest.json").unlink()
    with pytest.raises(flowlib.BundleError, match="no manifest.json"):
        flowlib.import_bundle(bundle, root=tmp_path / "fresh")


def test_a_corrupted_archive_member_is_refused(flow, tmp_path):
    bundle, manifest = _exported(flow, tmp_path)
    target = manifest["tasks"][1]["files"][0]["path"]
    with zipfile.ZipFile(tmp_path / "bad.zip", "w") as archive:  # the same names, one member's bytes changed
        for path in sorted(p for p in bundle.rglob("*") if p.is_file()):
            name = str(path.relative_to(bundle))
            data = path.read_bytes()
            archive.writestr(name, data[:-1] + bytes([data[-1] ^ 0xFF]) if name == target else data)
    with pytest.raises(flowlib.BundleError, match=f"{target} is corrupted"):
        flowlib.import_bundle(tmp_path / "bad.zip", root=tmp_path / "fresh")
    assert files_under(tmp_path / "fresh") == []


@pytest.mark.parametrize("name", ["cut.zip", "cut.tar.gz"])
def test_a_truncated_archive_is_refused(flow, tmp_path, name):
    flowlib.run(flow.Summary(), execution_summary=False)
    flowlib.export(flow.Summary(), tmp_path / name)
    whole = (tmp_path / name).read_bytes()
    (tmp_path / name).write_bytes(whole[: len(whole) // 2])
    with pytest.raises(flowlib.BundleError, match=r"damaged|cannot be read|is missing"):
        flowlib.import_bundle(tmp_path / name, root=tmp_path / "fresh")
    assert files_under(tmp_path / "fresh") == []


def test_unsafe_paths_in_a_manifest_are_refused(flow, tmp_path):
    bundle, manifest = _exported(flow, tmp_path)
    manifest["tasks"][0]["files"][0]["path"] = "../../escaped.parquet"
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(flowlib.BundleError, match="unsafe path"):
        flowlib.import_bundle(bundle, root=tmp_path / "fresh")
    assert not (tmp_path / "escaped.parquet").exists()


def test_records_point_at_the_new_root_and_keep_the_files_times(flow, tmp_path, flowlib_root):
    flowlib.run(flow.Summary(), execution_summary=False)
    flowlib.export(flow.Summary(), tmp_path / "b.tar")
    before = read_record(flow.Doubled())
    fresh = tmp_path / "fresh"
    flowlib.import_bundle(tmp_path / "b.tar", root=fresh)
    flowlib.set_dir(fresh)
    after = read_record(flow.Doubled())
    info = after.outputs["data"]
    assert info.path == flow.Doubled().output()["data"].path and info.path.startswith(str(fresh))
    assert info.mtime_ns == os.stat(info.path).st_mtime_ns == before.outputs["data"].mtime_ns
    assert after.code == before.code and after.inputs == before.inputs and after.params == before.params


def test_existing_different_outputs_are_refused_unless_overwrite(flow, tmp_path):
    flowlib.run(flow.Summary(), execution_summary=False)
    flowlib.export(flow.Summary(), tmp_path / "b.zip")
    fresh = tmp_path / "fresh"
    flowlib.set_dir(fresh)
    flowlib.run(flow.Summary(n=6), execution_summary=False)  # the same tasks...
    flowlib.import_bundle(tmp_path / "b.zip")  # ...with the same content: nothing conflicts
    doubled = Path(flow.Doubled().output()["data"].path)
    doubled.write_bytes(doubled.read_bytes() + b"\0")  # now different content
    with pytest.raises(flowlib.BundleError, match=r"Doubled\(n=6\) already has different outputs.*overwrite=True"):
        flowlib.import_bundle(tmp_path / "b.zip")
    flowlib.import_bundle(tmp_path / "b.zip", overwrite=True)
    assert flowlib.run(flow.Summary(), execution_summary=False).ran == []
    assert flow.Doubled().output_load() == [0, 2, 4, 6, 8, 10]


def test_a_memory_url_bundle(flow, tmp_path):
    flowlib.run(flow.Summary(), execution_summary=False)
    url = f"memory://bundles-{uuid.uuid4().hex[:8]}/shared"
    manifest = flowlib.export(flow.Summary(), url)
    assert len(manifest.files()) == 6
    fresh = tmp_path / "fresh"
    flowlib.import_bundle(url, root=fresh)
    flowlib.set_dir(fresh)
    assert flowlib.run(flow.Summary(), execution_summary=False).ran == []


def test_tar_members_are_plain_relative_files(flow, tmp_path):
    flowlib.run(flow.Summary(), execution_summary=False)
    flowlib.export(flow.Summary(), tmp_path / "b.tgz")
    with tarfile.open(tmp_path / "b.tgz") as archive:
        names = archive.getnames()
    assert names[-1] == "manifest.json"  # written last
    assert all(not n.startswith("/") and ".." not in n for n in names) and len(names) == 7


def test_an_existing_record_from_other_code_is_a_conflict(flow, tmp_path):
    flowlib.run(flow.Summary(), execution_summary=False)
    flowlib.export(flow.Summary(), tmp_path / "b.zip")
    fresh = tmp_path / "fresh"
    flowlib.set_dir(fresh)
    flowlib.run(flow.Summary(), execution_summary=False)  # the same outputs here...
    other = dataclasses.replace(read_record(flow.Raw()), code="code2:from-other-code")  # ...but by other code
    write_record(flow.Raw(), other)
    with pytest.raises(flowlib.BundleError, match=r"Raw\(n=6\) already has different outputs"):
        flowlib.import_bundle(tmp_path / "b.zip")
    assert read_record(flow.Raw()).code == "code2:from-other-code"  # untouched
    flowlib.import_bundle(tmp_path / "b.zip", overwrite=True)
    assert read_record(flow.Raw()).code.startswith("code2:") and read_record(flow.Raw()).code != other.code
    assert flowlib.run(flow.Summary(), execution_summary=False).ran == []
