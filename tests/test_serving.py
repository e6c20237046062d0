"""The gateway: a real uvicorn server on 127.0.0.1 at a free port, queried with httpx."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
import time

import httpx
import pandas as pd
import pytest
import uvicorn
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

import flowlib
from flowlib.io import get_decoder
from flowlib.models import Registry, from_estimator
from flowlib.serving import MODEL_HEADER, app


class Iris(flowlib.TaskParquet):
    def run(self):
        self.save(load_iris(as_frame=True).frame)


@flowlib.requires(Iris)
class Classifier(from_estimator(LogisticRegression, label="target", name="ServedClassifier")):
    pass


@flowlib.requires(Iris)
class Exploding(from_estimator(LogisticRegression, label="target", name="ExplodingBase")):
    def apply(self, model, frame):
        if (frame["sepal length (cm)"] < 0).any():
            raise RuntimeError("secret internal detail")
        return model.predict(frame[self.model_features(model)])


class _Server(uvicorn.Server):
    """uvicorn's server, telling the test when it listens (an event, not a sleep)."""

    def __init__(self, config: uvicorn.Config, ready: threading.Event) -> None:
        super().__init__(config)
        self.ready = ready

    async def startup(self, sockets=None):
        await super().startup(sockets)
        self.ready.set()


def start_server(application):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    ready = threading.Event()
    server = _Server(uvicorn.Config(application, log_level="warning", lifespan="off"), ready)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    assert ready.wait(10), "the server did not start"
    return server, thread, f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """One registry for the module: iris/1.0/1 and exploding/1.0/1 (tests that push use projects of their own)."""
    root = tmp_path_factory.mktemp("serving")
    flowlib.set_dir(root / "flows")
    try:
        registry = Registry(root / "registry")
        task = Classifier(max_iter=500)
        assert flowlib.run(task)
        registry.push(task, "iris", "1.0")
        exploding = Exploding(max_iter=500)
        assert flowlib.run(exploding)
        registry.push(exploding, "exploding", "1.0")
    finally:
        flowlib.set_dir(None)
    return registry


@pytest.fixture(scope="module")
def server(registry):
    server, thread, url = start_server(app(registry, refresh=0.2))
    with httpx.Client(base_url=url, timeout=10) as client:
        yield client
    server.should_exit = True
    thread.join(10)


def _rows(count=3):
    frame = load_iris(as_frame=True).frame.drop(columns="target")
    return frame.iloc[[0, 60, 120][:count]].reset_index(drop=True)


def test_health_and_models(server):
    assert server.get("/health").json()["status"] == "ok"
    listed = server.get("/models").json()
    assert {"project": "exploding", "release": "1.0", "generation": 1} in listed
    assert {"project": "iris", "release": "1.0", "generation": 1} in listed
    assert set(listed[0]) == {"project", "release", "generation"}


def test_predict_default_json(server):
    body = _rows().to_json(orient="records")
    response = server.post("/models/iris/predict", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 200, response.text
    assert response.headers[MODEL_HEADER] == "iris/1.0/1"
    assert response.headers["content-type"] == "application/json; format=pandas-records"
    assert response.json() == [{"target": 0}, {"target": 1}, {"target": 2}]


@pytest.mark.parametrize(
    "content_type, encode",
    [
        ("application/json; format=pandas-split", lambda f: f.to_json(orient="split")),
        ("application/json; format=pandas-columns", lambda f: f.to_json(orient="columns")),
        ("application/json; charset=utf-8", lambda f: f.to_json(orient="records")),
        ("text/csv", lambda f: f.to_csv(index=False)),
        ("application/json", lambda f: '{"instances": ' + f.to_json(orient="records") + "}"),
        ("application/json", lambda f: json.dumps({"inputs": f.to_dict(orient="list")})),
    ],
)
def test_content_types_are_decoded(server, content_type, encode):
    response = server.post("/models/iris/predict", content=encode(_rows()), headers={"Content-Type": content_type})
    assert response.status_code == 200, response.text
    assert [row["target"] for row in response.json()] == [0, 1, 2]


@pytest.mark.parametrize(
    "accept, content_type",
    [
        ("text/csv", "text/csv; charset=utf-8"),  # starlette names the charset of text types
        ("application/json; format=pandas-split", "application/json; format=pandas-split"),
        ("application/xml;q=0.9, text/*;q=0.5", "text/csv; charset=utf-8"),
        ("*/*", "application/json; format=pandas-records"),
        ("application/json; charset=utf-8", "application/json; format=pandas-records"),
    ],
)
def test_accept_picks_the_encoding(server, accept, content_type):
    response = server.post(
        "/models/iris/predict", content=_rows().to_json(orient="records"), headers={"Accept": accept}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == content_type
    frame = get_decoder(content_type).loads(response.content)
    assert frame["target"].tolist() == [0, 1, 2]


def test_release_and_generation_query(server, registry):
    for c in (1.0, 0.001):
        task = Classifier(max_iter=500, C=c)
        flowlib.run(task)
        registry.push(task, "queried", "1.0")
    registry.push(task, "queried", "0.9")
    body = _rows().to_json(orient="records")
    assert server.post("/models/queried/predict?release=1.0&generation=1", content=body).headers[MODEL_HEADER] == (
        "queried/1.0/1"
    )
    assert server.post("/models/queried/predict?generation=2", content=body).headers[MODEL_HEADER] == "queried/1.0/2"
    assert server.post("/models/queried/predict", content=body).headers[MODEL_HEADER] == "queried/1.0/2"
    assert server.post("/models/queried/predict?release=0.9", content=body).headers[MODEL_HEADER] == "queried/0.9/1"


@pytest.mark.parametrize(
    "path, headers, body, status, phrase",
    [
        ("/models/iris/predict", {"Content-Type": "application/xml"}, "<a/>", 415, "unsupported Content-Type"),
        ("/models/iris/predict", {"Content-Type": "application/x-www-form-urlencoded"}, "a=1", 415, "no decoder"),
        ("/models/iris/predict", {"Accept": "image/png"}, "[]", 406, "no encoder produces image/png"),
        ("/models/iris/predict", {"Accept": "application/json;q=0"}, "[]", 406, "nothing acceptable"),
        ("/models/iris/predict", {"Accept": "text/*, text/csv;q=0"}, "[]", 406, "no encoder produces text/*"),
        ("/models/iris/predict", {"Accept": "text/csv;q=7"}, "[]", 400, "q-value"),
        ("/models/iris/predict", {"Content-Type": "application/json"}, "{not json", 400, "not JSON"),
        ("/models/iris/predict", {"Content-Type": "application/json"}, '[{"x": 1}]', 400, "lacks feature column"),
        ("/models/nope/predict", {}, "[]", 404, "no project 'nope'"),
        ("/models/iris/predict?release=9.9", {}, "[]", 404, "its releases: 1.0"),
        ("/models/iris/predict?generation=5", {}, "[]", 404, "its generations: 1"),
        ("/models/iris/predict?generation=x", {}, "[]", 400, "whole number"),
        ("/models/iris/predict?release=abc", {}, "[]", 400, "PEP 440"),
        ("/nowhere", {}, "", 404, "Not Found"),
    ],
)
def test_errors_are_json(server, path, headers, body, status, phrase):
    response = server.post(path, content=body, headers=headers)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert phrase in response.json()["error"]


def test_model_exception_is_500_with_traceback_logged_not_sent(server, caplog):
    frame = _rows()
    frame.loc[0, "sepal length (cm)"] = -1.0
    with caplog.at_level(logging.ERROR, logger="flowlib.serving.app"):
        response = server.post("/models/exploding/predict", content=frame.to_json(orient="records"))
    assert response.status_code == 500
    assert "secret internal detail" not in response.text and "Traceback" not in response.text
    assert "RuntimeError" in response.json()["error"]
    assert any("secret internal detail" in (record.exc_text or "") for record in caplog.records)
    ok = server.post("/models/exploding/predict", content=_rows().to_json(orient="records"))
    assert ok.status_code == 200


def test_empty_input_gives_empty_output(server):
    response = server.post(
        "/models/iris/predict",
        content=pd.DataFrame(columns=_rows().columns).to_json(orient="split"),
        headers={"Content-Type": "application/json; format=pandas-split"},
    )
    assert response.status_code == 200, response.text
    assert response.json() == []


def _served_within(server, project, expected, seconds=5.0):
    """Ask until the server answers with ``expected`` (it looks again after its refresh), at most ``seconds``."""
    body = _rows().to_json(orient="records")
    deadline = time.monotonic() + seconds
    while True:
        served = server.post(f"/models/{project}/predict", content=body).headers[MODEL_HEADER]
        if served == expected or time.monotonic() > deadline:
            return served
        time.sleep(0.05)  # no event crosses HTTP: poll, bounded by the deadline


def test_new_generation_is_served_without_restart(server, registry):
    task = Classifier(max_iter=500)
    flowlib.run(task)
    registry.push(task, "live", "1.0")
    assert _served_within(server, "live", "live/1.0/1", 0) == "live/1.0/1"
    retrained = Classifier(max_iter=500, C=0.01)
    flowlib.run(retrained)
    started = time.monotonic()
    ref = registry.push(retrained, "live", "1.0")
    assert _served_within(server, "live", str(ref)) == "live/1.0/2"
    ref = registry.push(task, "live", "1.1")
    assert _served_within(server, "live", str(ref)) == "live/1.1/1"
    assert time.monotonic() - started < 10
