"""d6tflow 0.2.8's own test suite, run against flowlib.d6tflow.

The tests come from d6tflow's source distribution on the package index (downloaded once into
pytest's cache folder, never committed here). A ``conftest.py`` written beside them puts
``flowlib.d6tflow`` in ``sys.modules`` as ``d6tflow``; pytest runs them in a subprocess in a
temporary folder (they write ``data/`` into the current directory). Every case must pass except
those in :data:`EXCLUDED`, the list that ``docs/migrating-from-d6tflow.md`` gives with the same reasons.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
VERSION = "0.2.8"
FILES = ("test_main.py", "test_workflow.py", "test_workflowMulti.py")

_EXPORTS = "d6tpipe exports (FlowExport) are not part of flowlib"
_IMPORTS = "d6tpipe imports (FlowImport, and its tests/for_import.py fixture) are not part of flowlib"
_PREVIEW = "the exact printed text of previews: flowlib prints its own tree, with Task(param=value) names and a count"
_BOSTON = "needs sklearn.datasets.load_boston, removed from scikit-learn"
_CACHE = "d6tflow's in-memory read cache (settings.cached, d6tflow.data, d6tflow.targets) is not part of flowlib"

#: node id -> why it cannot pass on flowlib (kept equal to the table in docs/migrating-from-d6tflow.md).
EXCLUDED: dict[str, str] = {
    "tests/test_main.py::TestMain::test_targets": _CACHE,
    "tests/test_main.py::TestMain::test_cache": _CACHE,
    "tests/test_main.py::TestMain::test_task_overrides": "save_attrib=False (and target_dir/target_ext): "
    "flowlib always names outputs by task id",
    "tests/test_main.py::TestMain::test_formats": "HDF5 (d6tflow.tasks.h5.TaskH5Pandas) is not part of flowlib",
    "tests/test_main.py::TestMain::test_functional_Flow": "d6tflow.functional is not part of flowlib",
    "tests/test_main.py::TestMain::test_preview": _PREVIEW,
    "tests/test_workflow.py::TestWorkflow::test_single_flow_preview": _PREVIEW,
    "tests/test_workflow.py::TestWorkflow::test_single_workflow_no_params_passes": _PREVIEW,
    "tests/test_workflow.py::TestWorkflow::test_single_flow_parameters_passes_properly": _PREVIEW,
    "tests/test_workflow.py::TestFlowExports::test_task": _EXPORTS,
    "tests/test_workflow.py::TestFlowExports::test_task2": _EXPORTS,
    "tests/test_workflow.py::TestFlowExports::test_flow": _EXPORTS,
    "tests/test_workflow.py::TestFlowExports::test_task_pipename": _EXPORTS,
    "tests/test_workflow.py::TestFlowExports::test_task_path": _EXPORTS,
    "tests/test_workflow.py::TestFlowExports::test_task_task_group": _EXPORTS,
    "tests/test_workflow.py::TestFlowExports::test_task_flow_path": _EXPORTS,
    "tests/test_workflow.py::TestFlowImport::test_import_file_not_found": _IMPORTS,
    "tests/test_workflow.py::TestFlowImport::test_import_dirpath": _IMPORTS,
    "tests/test_workflow.py::TestFlowImport::test_import_tasks": _IMPORTS,
    "tests/test_workflow.py::TestFlowImport::test_import_to_flow": _IMPORTS,
    "tests/test_workflow.py::TestOutputLoad::test_outputLoad_correct": _BOSTON,
    "tests/test_workflow.py::TestWorkflowOutput::test_workflow_df_and_path_correct": "counts the files in a task "
    "folder (flowlib keeps a record beside the outputs) and expects d6tflow's relative target.path",
    "tests/test_workflow.py::TestWorkflowOutput::test_workflow_outputPath": _BOSTON,
    "tests/test_workflow.py::TestMeta::test_metaSave_persists_after_run": "private helper _get_meta_path and "
    "d6tflow's metadata pickle file (flowlib keeps metadata in the task's record)",
    "tests/test_workflowMulti.py::TestWorkflowMulti::test_preview_single_flow": _PREVIEW,
    "tests/test_workflowMulti.py::TestWorkflowMulti::test_preview_all_flow": _PREVIEW,
    "tests/test_workflowMulti.py::TestWorkflowOutput::test_workflow_multi_outputPath": _BOSTON,
}

_CONFTEST = '''\
"""Written by flowlib's tests/test_d6tflow_suite.py: `import d6tflow` gives flowlib.d6tflow; EXCLUDED left out."""
import json
import os
import sys

import flowlib.d6tflow

sys.modules["d6tflow"] = flowlib.d6tflow
sys.modules["d6tflow.tasks"] = flowlib.d6tflow.tasks
EXCLUDED = set(json.loads(os.environ["FLOWLIB_D6TFLOW_EXCLUDED"]))


def pytest_collection_modifyitems(config, items):
    with open("collected.json", "w") as handle:
        json.dump([item.nodeid for item in items], handle)
    config.hook.pytest_deselected(items=[item for item in items if item.nodeid in EXCLUDED])
    items[:] = [item for item in items if item.nodeid not in EXCLUDED]
'''


def _sdist(cache: Path) -> Path:
    """d6tflow's source distribution, downloaded from the package index once."""
    found = sorted(cache.glob(f"d6tflow-{VERSION}.tar.gz"))
    if found:
        return found[0]
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", f"d6tflow=={VERSION}",
         "-d", str(cache), "--quiet"],
        check=True, timeout=300,
    )  # fmt: skip
    return next(cache.glob(f"d6tflow-{VERSION}.tar.gz"))


@pytest.fixture(scope="module")
def suite(pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding d6tflow's tests/ (from its sdist) and the conftest that maps d6tflow to flowlib."""
    cache = pytestconfig.cache.mkdir("d6tflow-sdist") if pytestconfig.cache else tmp_path_factory.mktemp("sdist")
    root = tmp_path_factory.mktemp("d6tflow-suite")
    (root / "tests").mkdir()
    with tarfile.open(_sdist(Path(cache))) as archive:
        for name in FILES:
            member = archive.extractfile(f"d6tflow-{VERSION}/tests/{name}")
            assert member is not None, f"the d6tflow {VERSION} sdist has no tests/{name}"
            (root / "tests" / name).write_bytes(member.read())
    (root / "tests" / "conftest.py").write_text(_CONFTEST)
    (root / "pytest.ini").write_text("[pytest]\naddopts = -p no:cacheprovider\n")
    return root


@pytest.fixture(scope="module")
def ran(suite: Path) -> tuple[dict[str, str], list[str], subprocess.CompletedProcess[str]]:
    """One run of the suite: ``({node id: outcome}, every collected node id, the process)``."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    env["FLOWLIB_D6TFLOW_EXCLUDED"] = json.dumps(sorted(EXCLUDED))
    env.pop("FLOWLIB_DIR", None)
    report = suite / "report.xml"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", *(f"tests/{name}" for name in FILES), "-q", f"--junitxml={report}"],
        cwd=suite, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert report.exists(), done.stdout + done.stderr
    collected = json.loads((suite / "collected.json").read_text())
    return _cases(report), collected, done


def _cases(report: Path) -> dict[str, str]:
    """``{node id: "passed" | "failed" | "skipped"}`` from a JUnit XML report."""
    outcomes: dict[str, str] = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        module, _, cls = case.get("classname", "").rpartition(".")
        node = f"{module.replace('.', '/')}.py::{cls}::{case.get('name')}"
        kinds = {child.tag for child in case}
        outcomes[node] = "failed" if kinds & {"failure", "error"} else "skipped" if "skipped" in kinds else "passed"
    return outcomes


def test_excluded_cases_exist_and_are_in_the_guide(ran: tuple[dict[str, str], list[str], object]) -> None:
    """Each excluded case is a real case of the suite, and the migration guide lists it."""
    _outcomes, collected, _done = ran
    assert set(EXCLUDED) <= set(collected), sorted(set(EXCLUDED) - set(collected))
    guide = (REPO / "docs" / "migrating-from-d6tflow.md").read_text()
    for node in EXCLUDED:
        assert f"`{node.removeprefix('tests/')}`" in guide, f"{node} is not listed in the guide"


def test_d6tflow_suite_passes_on_flowlib(ran: tuple[dict[str, str], list[str], Any]) -> None:
    """Every case of d6tflow's suite passes with `import d6tflow` giving flowlib.d6tflow, except EXCLUDED."""
    outcomes, collected, done = ran
    failed = sorted(node for node, outcome in outcomes.items() if outcome != "passed")
    assert not failed, f"{failed}\n{done.stdout[-8000:]}\n{done.stderr[-2000:]}"
    assert set(outcomes) == set(collected) - set(EXCLUDED)  # every other case ran
    assert len(collected) == 70 and len(outcomes) == 43
    assert done.returncode == 0, done.stdout[-4000:]
