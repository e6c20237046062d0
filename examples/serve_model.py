"""Train, version and serve a model with flowlib: iris -> random forest -> registry -> HTTP gateway.

The data is scikit-learn's iris dataset, which ships inside the package (no download). The
script:

1. trains ``IrisForest(max_depth=1)`` (a deliberately weak tree) and pushes it as ``iris/1.0/1``;
2. starts ``flowlib serve`` on 127.0.0.1 at a free port and queries it with ``curl``;
3. retrains with ``max_depth=4``, pushes ``iris/1.0/2`` while the server runs, and shows the
   server answering with generation 2 (``X-Flowlib-Model``) without a restart.

Run it from the repository root (outputs under ``FLOWLIB_DIR``, else ``./data``; the registry in
``FLOWLIB_REGISTRY``, else ``./data/registry``)::

    python examples/serve_model.py

The same steps from a shell::

    flowlib models push examples/serve_model.py:IrisForest --project iris --release 1.0 --max-depth 1
    flowlib serve --registry data/registry --port 8000 &
    curl -s -H 'Content-Type: application/json' -d @rows.json -i http://127.0.0.1:8000/models/iris/predict
    flowlib models push examples/serve_model.py:IrisForest --project iris --release 1.0 --max-depth 4
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import train_test_split

import flowlib
from flowlib.models import Registry, from_estimator

REPO = Path(__file__).resolve().parent.parent


class IrisData(flowlib.TaskParquet):
    """Scikit-learn's iris data, split into train and test."""

    persist = ["train", "test"]

    def run(self) -> None:
        frame = load_iris(as_frame=True).frame
        train, test = train_test_split(frame, test_size=0.3, random_state=0, stratify=frame["target"])
        self.save({"train": train.reset_index(drop=True), "test": test.reset_index(drop=True)})


@flowlib.requires(IrisData)
class IrisForest(from_estimator(RandomForestClassifier, label="target", name="IrisForestBase")):  # type: ignore[misc]
    """A random forest on iris; its luigi parameters are RandomForestClassifier's hyperparameters."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_up(url: str, server: subprocess.Popen[bytes], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2):
                return
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the server did not start") from None
            time.sleep(0.1)


def query(url: str, rows_file: Path) -> tuple[str, str]:
    """POST the rows with curl (urllib where curl is missing); returns (model header, body)."""
    if shutil.which("curl"):
        command = [
            "curl",
            "-s",
            "-D",
            "-",
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            f"@{rows_file}",
            f"{url}/models/iris/predict",
        ]
        print("$", " ".join(command[:5]), f"'{command[5]}'", *command[6:], flush=True)
        answer = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        head, _, body = answer.partition("\n\n")  # text mode reads "\r\n" as "\n"
        headers = dict(line.split(":", 1) for line in head.splitlines()[1:] if ":" in line)
        named = {name.strip().lower(): value.strip() for name, value in headers.items()}
        return named["x-flowlib-model"], body
    request = urllib.request.Request(
        f"{url}/models/iris/predict", data=rows_file.read_bytes(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.headers["X-Flowlib-Model"], response.read().decode()


def main() -> None:
    registry_root = os.environ.get("FLOWLIB_REGISTRY") or str(Path(flowlib.settings.dir) / "registry")
    registry = Registry(registry_root)

    weak = IrisForest(max_depth=1, n_estimators=20, random_state=0)
    flowlib.run(weak)
    first = registry.push(weak, "iris", "1.0", tags={"note": "max_depth=1"})
    print(f"pushed {first}: accuracy {registry.tag(first)['metrics']['accuracy']:.2f}")

    test = IrisData().output_load("test")
    rows = test.drop(columns="target").iloc[[0, 1, 2, 3, 4, 5]]
    rows_file = Path(flowlib.settings.dir) / "rows.json"
    rows_file.parent.mkdir(parents=True, exist_ok=True)
    rows_file.write_text(rows.to_json(orient="records"))
    print("truth:", test["target"].iloc[:6].tolist())

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "flowlib.cli",
            "serve",
            "--registry",
            registry_root,
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_until_up(url, server)
        print(f"serving {registry_root} on {url}")
        model, body = query(url, rows_file)
        print(f"{model} answered: {[row['target'] for row in json.loads(body)]}")

        strong = IrisForest(max_depth=4, n_estimators=20, random_state=0)
        flowlib.run(strong)
        second = registry.push(strong, "iris", "1.0", tags={"note": "max_depth=4"})
        print(f"pushed {second}: accuracy {registry.tag(second)['metrics']['accuracy']:.2f}")
        deadline = time.monotonic() + 5
        while model != str(second) and time.monotonic() < deadline:  # the server looks again each second
            time.sleep(0.2)
            model, body = query(url, rows_file)
        print(f"{model} answered: {[row['target'] for row in json.loads(body)]}")
        if model != str(second):
            raise SystemExit(f"the server still answers with {model}, not {second}")
    finally:
        server.terminate()
        server.wait(10)

    table = registry.list("iris")[["project", "release", "generation", "tags", "metrics.accuracy"]]
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()
