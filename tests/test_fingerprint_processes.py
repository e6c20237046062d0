"""A task's code fingerprint is the same in every process that runs or checks it.

Classes without a source file (notebook cells, ``exec``, ``type()``) are fingerprinted by
their bytecode; these tests run such flows on worker processes and threads, through
luigi's command line and a luigid, in fresh interpreters with other hash seeds, and in a
real notebook kernel, and check that the parent finds every task complete afterwards.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import cloudpickle
import pytest
from flows.servers import executable, start_luigid

import flowlib
from flowlib.fingerprint import code_fingerprint

TESTS_DIR = Path(__file__).parent
REPO = TESTS_DIR.parent

CELL = textwrap.dedent(
    """
    class FpA(flowlib.TaskPickle):
        def run(self):
            self.save(sorted({"b", "a", "c"}))  # a set constant: its repr depends on the hash seed

    class FpB(flowlib.TaskPickle):
        n = flowlib.IntParameter(default=2)
        def run(self):
            self.save(self.n * 2)

    @flowlib.requires(FpA, FpB)
    class FpTop(flowlib.TaskPickle):
        def run(self):
            a, b = self.input_load()
            self.save({"a": a, "b": b})

    FpInherits = type("FpInherits", (FpB,), {})
    """
)


def define(source: str = CELL, filename: str = "<ipython-input-1>") -> dict:
    """Make the cell's classes the way a notebook or ``exec`` does: no source file behind them."""
    namespace: dict = {"flowlib": flowlib, "__name__": "__main__"}
    exec(compile(source, filename, "exec"), namespace)
    return namespace


def roots(ns: dict) -> list:
    return [ns["FpTop"](), ns["FpInherits"]()]


def fingerprints_in_child(payload: bytes, tmp_path: Path, seed: str) -> dict:
    """Rebuild the pickled classes in a fresh interpreter with ``PYTHONHASHSEED=seed``; their fingerprints."""
    (tmp_path / "classes.pkl").write_bytes(payload)
    script = (
        "import sys, json, cloudpickle\n"
        "from flowlib.fingerprint import code_fingerprint\n"
        "classes = cloudpickle.loads(open(sys.argv[1], 'rb').read())\n"
        "print(json.dumps({c.__name__: code_fingerprint(c) for c in classes}))\n"
    )
    env = dict(os.environ, PYTHONHASHSEED=seed, PYTHONPATH=str(REPO))
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "classes.pkl")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_class_without_source_is_fingerprinted_by_its_code_never_by_nothing():
    ns = define()
    for name in ("FpA", "FpB", "FpTop", "FpInherits"):
        value = code_fingerprint(ns[name])
        assert value.startswith("code2:")
    # A subclass that only inherits run() still depends on that run(): edit FpB's and it changes.
    edited = define(CELL.replace("self.n * 2", "self.n * 3"))
    assert code_fingerprint(edited["FpInherits"]) != code_fingerprint(ns["FpInherits"])
    assert code_fingerprint(edited["FpB"]) != code_fingerprint(ns["FpB"])
    assert code_fingerprint(edited["FpA"]) == code_fingerprint(ns["FpA"])
    # Comments and line numbers do not count, docstrings neither.
    moved = define(
        "\n\n# a comment\n"
        + CELL.replace(
            "def run(self):\n            self.save(self.n",
            "def run(self):\n            'doc'\n            self.save(self.n",
        )
    )
    assert code_fingerprint(moved["FpB"]) == code_fingerprint(ns["FpB"])


def test_a_class_with_source_covers_the_classes_it_inherits_from(tmp_path, monkeypatch):
    module = tmp_path / "fp_inherit_mod.py"
    module.write_text(
        "import flowlib\n\nclass FpBase(flowlib.TaskPickle):\n    def run(self):\n        self.save(1)\n\n"
        "class FpChild(FpBase):\n    pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib

    first = importlib.import_module("fp_inherit_mod")
    before = code_fingerprint(first.FpChild)
    module.write_text(module.read_text().replace("self.save(1)", "self.save(2)"))
    sys.modules.pop("fp_inherit_mod")
    second = importlib.import_module("fp_inherit_mod")
    assert code_fingerprint(second.FpChild) != before
    sys.modules.pop("fp_inherit_mod")


def test_fingerprints_of_rebuilt_classes_agree_across_processes_and_hash_seeds(tmp_path):
    ns = define()
    classes = [ns[name] for name in ("FpA", "FpB", "FpTop", "FpInherits")]
    here = {c.__name__: code_fingerprint(c) for c in classes}
    payload = cloudpickle.dumps(classes)
    assert fingerprints_in_child(payload, tmp_path, "1") == here
    assert fingerprints_in_child(payload, tmp_path, "4242") == here


@pytest.mark.parametrize("executor", ["process", "thread"])
def test_a_flow_of_classes_without_source_is_complete_after_workers_ran_it(executor):
    ns = define()
    result = flowlib.run(roots(ns), workers=2, executor=executor)
    assert len(result.ran) == 4
    for task in [ns["FpA"](), ns["FpB"](), ns["FpTop"](), ns["FpInherits"]()]:
        assert task.complete(), flowlib.preview(task, show=False)
        assert task.metadata().code == code_fingerprint(type(task))
    assert flowlib.run(roots(ns), workers=2, executor=executor).ran == []
    # The same cell run again (a new class object, as a notebook re-run makes) finds them complete too.
    again = define()
    assert flowlib.run(roots(again), workers=2, executor=executor).ran == []


MODULE = textwrap.dedent(
    """
    import flowlib
    # Classes made by exec have no source: fingerprints come from their bytecode in every process.
    exec(compile({cell!r}, "<generated>", "exec"), globals())
    """
)


@pytest.fixture
def generated_module(tmp_path):
    folder = tmp_path / "mods"
    folder.mkdir()
    (folder / "fp_generated.py").write_text(MODULE.format(cell=CELL))
    return folder


def _import_generated(folder: Path, monkeypatch) -> dict:
    monkeypatch.syspath_prepend(str(folder))
    sys.modules.pop("fp_generated", None)
    import importlib

    module = importlib.import_module("fp_generated")
    return vars(module)


def test_luigi_command_line_with_two_workers_agrees_with_this_process(tmp_path, generated_module, monkeypatch):
    data = tmp_path / "data"
    env = dict(os.environ, FLOWLIB_DIR=str(data), PYTHONPATH=f"{generated_module}{os.pathsep}{REPO}")
    env.pop("FLOWLIB_SCHEDULER", None)
    luigi = executable("luigi")
    command = [luigi] if luigi else [sys.executable, "-m", "luigi"]
    done = subprocess.run(
        [*command, "--module", "fp_generated", "FpTop", "--local-scheduler", "--workers", "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "3 ran successfully" in done.stderr, done.stderr
    flowlib.set_dir(data)
    ns = _import_generated(generated_module, monkeypatch)
    assert ns["FpTop"]().complete()
    assert flowlib.run(ns["FpTop"]()).ran == []


def test_luigid_workers_agree_with_this_process(tmp_path, generated_module, monkeypatch):
    server = start_luigid(tmp_path / "luigid")
    try:
        ns = _import_generated(generated_module, monkeypatch)
        result = flowlib.run(ns["FpTop"](), scheduler=server.url, workers=2)
        assert len(result.ran) == 3
        assert ns["FpTop"]().complete()
        assert flowlib.run(ns["FpTop"]()).ran == []
    finally:
        server.stop()
    sys.modules.pop("fp_generated", None)


NOTEBOOK_CELLS = [
    "import flowlib, json\nflowlib.set_dir({root!r})",
    CELL,
    "first = flowlib.run([FpTop(), FpInherits()], workers=2)\n"
    "states = {type(t).__name__: t.complete() for t in (FpA(), FpB(), FpTop(), FpInherits())}\n"
    "second = flowlib.run([FpTop(), FpInherits()], workers=2)\n"
    "print(json.dumps({'first': len(first.ran), 'states': states, 'second': len(second.ran)}))",
]


def test_a_real_notebook_runs_a_flow_on_workers_and_finds_it_complete(tmp_path):
    import nbclient
    import nbformat

    root = str(tmp_path / "nb-data")
    cells = [nbformat.v4.new_code_cell(NOTEBOOK_CELLS[0].format(root=root))]
    cells += [nbformat.v4.new_code_cell(text) for text in NOTEBOOK_CELLS[1:]]
    notebook = nbformat.v4.new_notebook(cells=cells)
    client = nbclient.NotebookClient(
        notebook, timeout=240, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    streams = [o for o in notebook.cells[-1].outputs if o.get("output_type") == "stream" and o.get("name") == "stdout"]
    report = json.loads(streams[-1]["text"].strip().splitlines()[-1])
    assert report == {"first": 4, "states": {"FpA": True, "FpB": True, "FpTop": True, "FpInherits": True}, "second": 0}
