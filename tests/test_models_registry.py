"""Registry: generations per PEP 440 release, provenance from the record, atomic and concurrent pushes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pandas as pd
import pytest
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge

import flowlib
from flowlib.models import (
    Model,
    ModelRef,
    Registry,
    RegistryError,
    UnknownModelError,
    from_estimator,
)


def record_of(task):
    """The task's record as its on-disk dict (``metadata()`` gives a dict, or a typed Record with ``to_dict``)."""
    record = task.metadata()
    return record if record is None or isinstance(record, dict) else record.to_dict()


ROOT = Path(__file__).resolve().parents[1]


class Diabetes(flowlib.TaskParquet):
    def run(self):
        self.save(load_diabetes(as_frame=True).frame)


@flowlib.requires(Diabetes)
class Linear(from_estimator(Ridge, label="target", name="LinearBase")):
    pass


@pytest.fixture
def registry(tmp_path):
    return Registry(tmp_path / "registry")


def _trained(alpha=1.0):
    task = Linear(alpha=alpha)
    assert flowlib.run(task)
    return task


def test_push_gives_next_generations_and_tags_provenance(registry):
    task = _trained()
    first = registry.push(task, "diabetes", "1.0", tags={"stage": "dev"})
    second = registry.push(task, "diabetes", "1.0")
    assert (first, second) == (ModelRef("diabetes", "1.0", 1), ModelRef("diabetes", "1.0", 2))
    assert str(second) == "diabetes/1.0/2"
    tag = registry.tag(first)
    record = record_of(task)
    assert tag["metrics"] == record["metadata"] and "r2" in tag["metrics"]
    assert tag["task"]["family"] == "Linear"
    assert tag["task"]["params"]["alpha"] == "1.0"
    assert tag["task"]["code"] == record["code"]
    upstream = Diabetes()
    assert tag["task"]["inputs"] == {upstream.task_id: {"data": record_of(upstream)["outputs"]["data"]["fingerprint"]}}
    assert tag["versions"]["flowlib"] == flowlib.__version__ and "sklearn" in tag["versions"]
    assert tag["tags"] == {"stage": "dev"} and tag["created"].endswith("+00:00")


def test_load_latest_by_pep440_and_predict(registry):
    task = _trained()
    registry.push(task, "diabetes", "1.9")
    registry.push(_trained(alpha=0.01), "diabetes", "1.10")
    registry.push(task, "diabetes", "1.10rc1")
    assert registry.releases("diabetes") == ["1.9", "1.10rc1", "1.10"]
    loaded = registry.load("diabetes")
    assert isinstance(loaded, Model) and loaded.ref == ModelRef("diabetes", "1.10", 1)
    assert loaded.model.alpha == 0.01
    frame = Diabetes().output_load().drop(columns="target").head(5)
    predicted = loaded.predict(frame)
    assert list(predicted.columns) == ["target"]
    assert predicted["target"].tolist() == pytest.approx(loaded.model.predict(frame).tolist())
    assert registry.load("diabetes", "1.9", 1).model.alpha == 1.0
    assert registry.ref("diabetes", "1.10.0") == ModelRef("diabetes", "1.10", 1)  # 1.10 == 1.10.0


def test_list_has_one_row_per_generation(registry):
    registry.push(_trained(), "diabetes", "1.0", tags=["baseline"])
    registry.push(_trained(alpha=0.1), "diabetes", "1.0")
    registry.push({"w": 1}, "other", "0.1")
    table = registry.list()
    assert table[["project", "release", "generation"]].values.tolist() == [
        ["diabetes", "1.0", 1],
        ["diabetes", "1.0", 2],
        ["other", "0.1", 1],
    ]
    assert {"created", "tags", "metrics", "metrics.r2"} <= set(table.columns)
    assert table["tags"].iloc[0] == {"baseline": True}
    assert str(table["created"].dtype).startswith("datetime64")
    assert len(registry.list("other")) == 1


def test_bare_model_push_and_predict(registry):
    model = Ridge().fit(pd.DataFrame({"a": [0.0, 1.0, 2.0]}), [0.0, 2.0, 4.0])
    ref = registry.push(model, "bare", "2024.5")
    loaded = registry.load("bare")
    assert loaded.ref == ref and loaded.task is None and loaded.tag["task"] is None
    assert list(loaded.predict(pd.DataFrame({"a": [1.0]})).columns) == ["prediction"]


def test_apply_override_travels_with_the_model(registry):
    @flowlib.requires(Diabetes)
    class Clipped(from_estimator(Ridge, label="target", name="ClippedBase")):
        ceiling = flowlib.FloatParameter(default=100.0)

        def apply(self, model, frame):
            return model.predict(frame[self.model_features(model)]).clip(max=self.ceiling)

    task = Clipped()
    flowlib.run(task)
    registry.push(task, "clipped", "1.0")
    frame = Diabetes().output_load().drop(columns="target")
    assert registry.load("clipped").predict(frame)["target"].max() <= 100.0


def test_errors_name_what_exists(registry):
    registry.push({"w": 1}, "alpha", "1.0")
    registry.push({"w": 2}, "alpha", "1.0")
    with pytest.raises(RegistryError, match="not a PEP 440 version") as raised:
        registry.push({"w": 1}, "alpha", "one")
    assert isinstance(raised.value, ValueError)
    with pytest.raises(UnknownModelError, match="no project 'beta'.*its projects: alpha"):
        registry.load("beta")
    with pytest.raises(UnknownModelError, match="no release 2.0; its releases: 1.0"):
        registry.ref("alpha", "2.0")
    with pytest.raises(UnknownModelError, match="no generation 7; its generations: 1, 2"):
        registry.ref("alpha", "1.0", 7)
    with pytest.raises(RegistryError, match="not a PEP 440 version.*project 'alpha' has releases 1.0"):
        registry.ref("alpha", "x.y")
    with pytest.raises(RegistryError, match="project name"):
        registry.push({"w": 1}, "../evil", "1.0")
    with pytest.raises(RegistryError, match="has not been run"):
        registry.push(Linear(alpha=5.0), "alpha", "1.0")


def test_remove_keeps_numbers(registry):
    for value in range(3):
        registry.push({"w": value}, "p", "1.0")
    registry.remove(ModelRef("p", "1.0", 3))
    assert registry.generations("p", "1.0") == [1, 2]
    assert registry.push({"w": 9}, "p", "1.0").generation == 4  # 3 is not reused
    registry.remove(ModelRef("p", "1.0", 1))
    with pytest.raises(UnknownModelError, match="its generations: 2, 4"):
        registry.load("p", "1.0", 1)


def test_fsspec_registry(tmp_path):
    registry = Registry(f"memory://registry-{tmp_path.name}")
    assert registry.push({"w": 1}, "mem", "1.0").generation == 1
    assert registry.push({"w": 2}, "mem", "1.0").generation == 2
    assert registry.load("mem").model == {"w": 2}
    registry.remove(ModelRef("mem", "1.0", 2))
    assert registry.load("mem").model == {"w": 1}
    assert registry.push({"w": 3}, "mem", "1.0").generation == 3


def test_fsspec_registry_threads_get_different_generations(tmp_path):
    registry = Registry(f"memory://registry-threads-{tmp_path.name}")
    barrier = threading.Barrier(4)
    refs: list[ModelRef] = []

    def push(worker):
        barrier.wait()
        for i in range(5):
            refs.append(registry.push({"w": (worker, i)}, "t", "1.0"))

    threads = [threading.Thread(target=push, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    numbers = sorted(ref.generation for ref in refs)
    assert len(set(numbers)) == 20 and registry.generations("t", "1.0") == numbers  # distinct, all visible


_PUSHER = textwrap.dedent(
    """
    import sys
    from flowlib.models import Registry
    registry = Registry(sys.argv[1])
    print("ready", flush=True)
    sys.stdin.readline()
    for i in range(int(sys.argv[3])):
        ref = registry.push({"by": sys.argv[2], "i": i, "payload": "x" * 2_000}, "race", "1.0")
        print(ref.generation, flush=True)
    """
)


def test_two_processes_pushing_at_once_get_different_generations(tmp_path):
    root = tmp_path / "registry"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    count = 150  # small pushes, many of them: the two processes do collide on a number now and then (measured)
    pushers = [
        subprocess.Popen(
            [sys.executable, "-c", _PUSHER, str(root), name, str(count)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for name in ("a", "b")
    ]
    for pusher in pushers:
        assert pusher.stdout.readline().strip() == "ready"
    registry = Registry(root)
    seen_bad: list[str] = []
    reads: list[int] = []
    done = threading.Event()

    def read_while_pushing():  # a reader never sees a half-written generation
        while not done.is_set():
            listed = registry.generations("race", "1.0")
            if listed:
                model = registry.load("race", "1.0", listed[-1]).model  # the newest, maybe just published
                if len(model["payload"]) != 2_000:
                    seen_bad.append(f"generation {listed[-1]}")
                reads.append(listed[-1])

    reader = threading.Thread(target=read_while_pushing)
    reader.start()
    for pusher in pushers:  # both start at once
        pusher.stdin.write("go\n")
        pusher.stdin.flush()
    outputs = [pusher.communicate(timeout=60)[0].split() for pusher in pushers]
    done.set()
    reader.join()
    assert all(pusher.returncode == 0 for pusher in pushers)
    generations = [int(g) for out in outputs for g in out]
    assert sorted(generations) == list(range(1, 2 * count + 1))
    assert registry.generations("race", "1.0") == list(range(1, 2 * count + 1))
    for name, out in zip(("a", "b"), outputs):  # each process got the generations it printed
        assert {registry.load("race", "1.0", int(g)).model["by"] for g in (out[0], out[-1])} == {name}
    assert reads and not seen_bad
    tag = json.loads((root / "race" / "1.0" / "1" / "tag.json").read_text())
    assert tag["project"] == "race"
    assert not [p for p in (root / "race" / "1.0").iterdir() if p.name.startswith(".push-")]


@pytest.fixture(scope="module")
def moto(tmp_path_factory):
    import importlib.util

    if any(importlib.util.find_spec(name) is None for name in ("moto", "s3fs", "boto3", "flask")):
        pytest.skip("moto[server], s3fs and boto3 are needed for the S3 registry test")
    from flows.servers import start_moto

    server = start_moto(tmp_path_factory.mktemp("moto"))
    yield server
    server.stop()


def test_s3_registry_on_a_real_s3_server(moto):
    import uuid

    import boto3

    credentials = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}
    bucket = f"models-{uuid.uuid4().hex[:10]}"
    boto3.client("s3", endpoint_url=moto.url, **credentials).create_bucket(Bucket=bucket)
    options = {
        "client_kwargs": {"endpoint_url": moto.url, "region_name": "us-east-1"},
        "key": "testing",
        "secret": "testing",
    }
    registry = Registry(f"s3://{bucket}/registry", storage_options=options)
    refs: list[ModelRef] = []
    barrier = threading.Barrier(3)

    def push(worker):
        barrier.wait()
        for i in range(3):
            refs.append(registry.push({"w": (worker, i)}, "s3model", "1.0"))

    threads = [threading.Thread(target=push, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    numbers = sorted(ref.generation for ref in refs)
    assert len(set(numbers)) == 9  # never the same generation twice (a contended push may skip a number)
    assert registry.generations("s3model", "1.0") == numbers
    latest = registry.load("s3model")
    assert latest.ref.generation == numbers[-1] and latest.model in [{"w": (n, 2)} for n in range(3)]
    registry.remove(latest.ref)
    assert registry.ref("s3model").generation == numbers[-2]
    assert registry.push({"w": "new"}, "s3model", "1.0").generation == numbers[-1] + 1  # not reused
    assert list(registry.list()["generation"]) == [*numbers[:-1], numbers[-1] + 1]
