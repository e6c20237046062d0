"""The shape of the package holds: no import cycle, a light `import flowlib`, import-linter's contracts kept."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import grimp

REPO = Path(__file__).resolve().parent.parent
FEATURES = ["flowlib.sources", "flowlib.models", "flowlib.serving", "flowlib.dataflow", "flowlib.d6tflow"]
HEAVY = ["duckdb", "sqlalchemy", "starlette"]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWLIB_")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def cycles(package: str) -> set[tuple[str, str]]:
    """Every pair of modules of ``package`` that import each other, directly or through others.

    ``if TYPE_CHECKING:`` imports count: a cycle hidden from the interpreter is still one for a reader.
    """
    graph = grimp.build_graph(package, cache_dir=None)
    found: set[tuple[str, str]] = set()
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module):
            if graph.chain_exists(importer=imported, imported=module):
                first, second = sorted((module, imported))
                found.add((first, second))
    return found


def test_no_import_cycle_in_flowlib():
    found = cycles("flowlib")
    listing = "\n".join(f"  {a} <-> {b}" for a, b in sorted(found))
    assert not found, f"{len(found)} import cycle(s) in flowlib:\n{listing}"


def test_the_cycle_check_finds_a_cycle(tmp_path):
    package = tmp_path / "circle"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from circle import b\n")
    (package / "b.py").write_text("def f():\n    from circle import a\n")  # a lazy import is an import
    (package / "c.py").write_text("from circle import a\n")
    sys.path.insert(0, str(tmp_path))
    try:
        assert cycles("circle") == {("circle.a", "circle.b")}
    finally:
        sys.path.remove(str(tmp_path))


def test_import_flowlib_loads_no_feature_package_and_no_heavy_library():
    script = "import json, sys, flowlib; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, env=_env(), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    loaded = json.loads(done.stdout)
    assert "flowlib.task" in loaded and "flowlib.runner" in loaded  # the check sees flowlib's own modules
    unwanted = [m for m in loaded for name in FEATURES + HEAVY if m == name or m.startswith(name + ".")]
    assert not unwanted, f"`import flowlib` imported {unwanted}; import feature packages on first use"


def test_import_linter_contracts_are_kept():
    lint_imports = Path(sys.executable).with_name("lint-imports")
    assert lint_imports.exists(), f"import-linter is not installed beside {sys.executable}"
    done = subprocess.run(
        [str(lint_imports), "--no-cache"], cwd=REPO, env=_env(), capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout
