"""``flowlib models list / show / push / predict`` and ``flowlib serve`` (a real server in a subprocess)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest
from sklearn.datasets import load_iris

from flowlib.cli import main
from flowlib.models import Registry

ROOT = Path(__file__).resolve().parents[1]

TASKS = textwrap.dedent(
    """
    import flowlib
    from sklearn.datasets import load_iris
    from sklearn.tree import DecisionTreeClassifier
    from flowlib.models import from_estimator


    class IrisData(flowlib.TaskParquet):
        def run(self):
            self.save(load_iris(as_frame=True).frame)


    @flowlib.requires(IrisData)
    class Tree(from_estimator(DecisionTreeClassifier, label="target", name="CliTreeBase")):
        pass
    """
)


@pytest.fixture
def setup(tmp_path, monkeypatch):
    module = tmp_path / "cli_model_tasks.py"
    module.write_text(TASKS)
    registry = tmp_path / "registry"
    monkeypatch.setenv("FLOWLIB_REGISTRY", str(registry))
    rows = tmp_path / "rows.csv"
    load_iris(as_frame=True).frame.drop(columns="target").iloc[[0, 60, 120]].to_csv(rows, index=False)
    return module, registry, rows


def _push(module, *extra):
    return main(["models", "push", f"{module}:Tree", "--project", "iris", "--release", "1.0", *extra])


def test_push_trains_then_pushes_and_list_show(setup, capsys):
    module, registry, _ = setup
    assert _push(module, "--max-depth", "2", "--random-state", "0", "--tag", "stage=dev") == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == "iris/1.0/1"  # after the run's summary, if shown
    assert _push(module, "--max-depth", "3", "--random-state", "0") == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == "iris/1.0/2"
    loaded = Registry(registry).load("iris")
    assert loaded.model.max_depth == 3 and loaded.tag["task"]["params"]["max_depth"] == "3"
    assert Registry(registry).tag(Registry(registry).ref("iris", generation=1))["tags"] == {"stage": "dev"}

    assert main(["models", "list"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split()[:5] == ["project", "release", "generation", "created", "family"]
    assert "accuracy" in lines[0] and len(lines) == 3
    assert lines[2].split()[:3] == ["iris", "1.0", "2"]

    assert main(["models", "show", "iris", "--generation", "1"]) == 0
    out = capsys.readouterr().out
    first, _, rest = out.partition("\n")
    assert first == "iris/1.0/1"
    assert json.loads(rest)["task"]["family"] == "Tree"


def test_predict_writes_encoded_predictions(setup, capsysbinary):
    module, _, rows = setup
    assert _push(module, "--random-state", "0") == 0
    capsysbinary.readouterr()
    assert main(["models", "predict", "iris", str(rows)]) == 0
    assert json.loads(capsysbinary.readouterr().out) == [{"target": 0}, {"target": 1}, {"target": 2}]
    assert main(["models", "predict", "iris", str(rows), "--accept", "text/csv"]) == 0
    assert capsysbinary.readouterr().out.decode().split() == ["target", "0", "1", "2"]


@pytest.mark.parametrize(
    "args, phrase, code",
    [
        (["models", "list", "nope"], "no project 'nope'", 1),
        (["models", "show", "iris", "--release", "9"], "its releases: 1.0", 1),
        (["models", "show", "iris", "--generation", "x"], "whole number", 2),
        (["models", "predict", "iris", "missing.csv"], "no such file", 2),
        (["models", "predict", "iris", "ROWS", "--content-type", "image/png"], "no decoder reads image/png", 1),
        (["models", "predict", "iris", "ROWS", "--accept", "image/png"], "no encoder produces image/png", 1),
        (["models", "push", "MODULE:Tree", "--project", "iris", "--release", "one"], "not a PEP 440 version", 1),
        (["models", "push", "MODULE:Nope", "--project", "iris", "--release", "1"], "has no task 'Nope'", 2),
        (["models", "push", "MODULE:Tree", "--project", "iris", "--release", "1", "--depth", "2"], "no parameter", 2),
    ],
)
def test_errors_are_one_line(setup, capsys, args, phrase, code):
    module, _, rows = setup
    assert _push(module) == 0
    capsys.readouterr()
    args = [str(rows) if a == "ROWS" else a.replace("MODULE", str(module)) for a in args]
    assert main(args) == code
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("flowlib: error: ") and phrase in err[0], err


def test_registry_from_luigi_config_or_missing(setup, capsys, monkeypatch, tmp_path):
    import luigi.configuration

    module, registry, _ = setup
    monkeypatch.delenv("FLOWLIB_REGISTRY")
    assert main(["models", "list"]) == 2
    assert "no registry" in capsys.readouterr().err
    config = luigi.configuration.get_config()
    if not config.has_section("flowlib"):
        config.add_section("flowlib")
    config.set("flowlib", "registry", str(tmp_path / "from-config"))
    try:
        assert main(["models", "list"]) == 0
        assert "no models in" in capsys.readouterr().out
    finally:
        config.remove_option("flowlib", "registry")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_serve_command_runs_a_real_server(setup, capsys):
    module, registry, rows = setup
    assert _push(module, "--random-state", "0") == 0
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "flowlib.cli",
            "serve",
            "--registry",
            str(registry),
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout.readline().startswith(f"serving {registry} on http://127.0.0.1:{port}")
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:  # the line above comes just before uvicorn binds: poll until it answers
            try:
                health = httpx.get(f"{url}/health", timeout=2)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.05)
        assert health.json()["status"] == "ok"
        response = httpx.post(
            f"{url}/models/iris/predict", content=rows.read_bytes(), headers={"Content-Type": "text/csv"}, timeout=10
        )
        assert response.status_code == 200 and response.headers["x-flowlib-model"] == "iris/1.0/1"
        assert response.json() == [{"target": 0}, {"target": 1}, {"target": 2}]
        assert _push(module, "--random-state", "1") == 0  # a new generation while the server runs
        pushed = time.monotonic()
        served = None
        while served != "iris/1.0/2" and time.monotonic() - pushed < 5:  # default --refresh: 1 s
            served = httpx.post(
                f"{url}/models/iris/predict",
                content=rows.read_bytes(),
                headers={"Content-Type": "text/csv"},
                timeout=10,
            ).headers["x-flowlib-model"]
            time.sleep(0.05)
        assert served == "iris/1.0/2"
    finally:
        server.terminate()
        server.wait(10)
