"""Flows on remote roots: a real S3-compatible server (moto, on 127.0.0.1), memory:// and file:// URLs.

moto, boto3 and s3fs are optional test dependencies (the ``test`` extra); without them the
S3 tests are skipped.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from flows.pipeline import Gather, Numbers, Scaled, Scored
from flows.servers import KEY, REGION, SECRET, needs_s3, new_bucket, s3_client, s3_options

import flowlib
from flowlib.storage import get_storage

TESTS_DIR = Path(__file__).parent


@pytest.fixture
def bucket(moto):
    return new_bucket(moto, "flows")


@pytest.fixture
def s3_root(moto, bucket):
    """The flowlib root: ``s3://<bucket>/prefix``, connection options passed to fsspec."""
    flowlib.set_dir(f"s3://{bucket}/prefix", storage_options=s3_options(moto))
    return bucket


def keys(moto, bucket: str, prefix: str = "") -> list[str]:
    listing = s3_client(moto).list_objects_v2(Bucket=bucket, Prefix=prefix)
    return sorted(item["Key"] for item in listing.get("Contents", []))


def expected_keys(tasks, prefix: str) -> list[str]:
    names = []
    for task in tasks:
        family = task.get_task_family()
        names.append(f"{prefix}/{family}/{task.task_id}.record.json")
        names.extend(f"{prefix}/{family}/{task.task_id}-{key}{task.target_class.suffix}" for key in task.persist)
    return sorted(names)


FLOW = [Numbers(), Scaled(), Scored().requires()["model"], Scored()]


@needs_s3
def test_a_flow_on_s3_runs_previews_loads_and_reruns_nothing(moto, s3_root):
    before = flowlib.preview(Scored(), show=False)
    assert before.counts() == {"COMPLETE": 0, "PENDING": 4, "STALE": 0}

    result = flowlib.run(Scored())
    assert len(result.ran) == 4
    assert keys(moto, s3_root) == expected_keys(FLOW, "prefix")  # the same layout as on disk, no temp objects
    assert flowlib.preview(Scored(), show=False).counts()["COMPLETE"] == 4
    assert Scored().output_load() == {"gap": 5.0}
    head, tail = Scaled().output_load()
    assert head["x"].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0] and len(tail) == 5

    record = json.loads(
        s3_client(moto).get_object(Bucket=s3_root, Key=expected_keys([Scored()], "prefix")[0])["Body"].read()
    )
    assert isinstance(record, dict) and record and Scored().metadata() is not None

    again = flowlib.run(Scored())
    assert again.ran == [] and len(again.complete) == 4


@needs_s3
def test_connection_options_from_the_environment(moto, bucket, monkeypatch):
    import s3fs

    monkeypatch.setenv("AWS_ENDPOINT_URL", moto.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    s3fs.S3FileSystem.clear_instance_cache()
    try:
        flowlib.set_dir(f"s3://{bucket}/from-env")  # no storage_options: the SDK's variables
        assert len(flowlib.run(Scored(scale=3.0)).ran) == 4
        assert Scored(scale=3.0).output_load() == {"gap": 15.0}
        assert keys(moto, bucket, "from-env/Scored/")
    finally:
        s3fs.S3FileSystem.clear_instance_cache()


@needs_s3
def test_paths_on_s3_keep_their_scheme(moto, s3_root):
    flowlib.run(Numbers())
    path = Numbers().output()["data"].path
    assert path == f"s3://{s3_root}/prefix/Numbers/{Numbers().task_id}-data.parquet"
    storage = Numbers().storage()
    assert storage.root == f"s3://{s3_root}/prefix"
    assert path in storage.list_files(storage.root)  # listings name files the same way
    assert flowlib.orphans(Numbers()) == []  # so nothing of the flow looks orphaned
    assert Numbers().metadata().outputs["data"].path == path


@needs_s3
def test_a_deleted_upstream_object_makes_its_task_run_again(moto, s3_root):
    flowlib.run(Scored())
    numbers = Numbers().output()["data"].path.removeprefix(f"s3://{s3_root}/")  # the key
    s3_client(moto).delete_object(Bucket=s3_root, Key=numbers)

    preview = flowlib.preview(Scored(), show=False)
    assert preview.status(Numbers()) is flowlib.Status.PENDING
    assert preview.status(Scored()) is not flowlib.Status.COMPLETE
    result = flowlib.run(Scored())
    assert Numbers() in result.ran and result
    assert Scored().output_load() == {"gap": 5.0}


@needs_s3
def test_a_failed_task_leaves_no_object(moto, s3_root):
    class RemoteHalfSaved(flowlib.TaskPickle):
        persist = ["first", "second"]

        def run(self):
            self.save(1, key="first")
            raise RuntimeError("fails after saving one output")

    result = flowlib.run(RemoteHalfSaved(), abort=False)
    assert result.failed and "fails after saving one output" in result.outcome(RemoteHalfSaved()).error
    assert keys(moto, s3_root, "prefix/RemoteHalfSaved/") == []


@needs_s3
def test_invalidate_removes_the_objects(moto, s3_root):
    flowlib.run(Scored())
    flowlib.invalidate_upstream(Scaled())
    remaining = keys(moto, s3_root)
    assert remaining and all("/Numbers/" not in k and "/Scaled/" not in k for k in remaining)
    assert flowlib.preview(Scored(), show=False).counts()["COMPLETE"] == 0


@needs_s3
def test_listing_does_not_hide_objects_written_by_other_machines(moto, s3_root):
    storage = get_storage(flowlib.settings.dir, flowlib.settings.storage_options)
    storage.write_bytes(f"{storage.root}/Shared/a.bin", b"a")
    assert storage.list_files(f"{storage.root}/Shared") == [f"{storage.root}/Shared/a.bin"]
    s3_client(moto).put_object(Bucket=s3_root, Key="prefix/Shared/b.bin", Body=b"b")  # another machine
    assert storage.exists(f"{storage.root}/Shared/b.bin")


@needs_s3
def test_worker_processes_on_s3(moto, s3_root):
    result = flowlib.run(Gather(width=4), workers=2, abort=False)
    assert result, str(result)
    assert Gather(width=4).output_load() == {"total": 0 + 1 + 3 + 6}


@needs_s3
def test_worker_threads_on_s3(moto, s3_root):
    result = flowlib.run(Gather(width=4), workers=2, executor="thread")
    assert len(result.ran) == 5
    assert Gather(width=4).output_load() == {"total": 0 + 1 + 3 + 6}


@needs_s3
def test_the_flowlib_command_on_s3(moto, bucket, tmp_path):
    env = dict(
        os.environ,
        AWS_ENDPOINT_URL=moto.url,
        AWS_ACCESS_KEY_ID=KEY,
        AWS_SECRET_ACCESS_KEY=SECRET,
        AWS_DEFAULT_REGION=REGION,
    )
    for name in ("FLOWLIB_DIR", "FLOWLIB_SCHEDULER"):
        env.pop(name, None)
    env["PYTHONPATH"] = str(TESTS_DIR.parent)  # this checkout's flowlib
    command = [
        str(Path(sys.executable).parent / "flowlib"),
        "run",
        "flows.pipeline:Scored",
        "--dir",
        f"s3://{bucket}/cli",
    ]
    result = subprocess.run(command, cwd=TESTS_DIR, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert keys(moto, bucket, "cli/") == expected_keys(FLOW, "cli")
    command[1:3] = ["show", "flows.pipeline:Scaled"]
    shown = subprocess.run(command, cwd=TESTS_DIR, env=env, capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    paths = [line.split()[1] for line in shown.stdout.splitlines() if line.strip().startswith(("head ", "tail "))]
    assert len(paths) == 2 and all(p.startswith(f"s3://{bucket}/cli/Scaled/Scaled_") for p in paths), shown.stdout
    assert f"root      s3://{bucket}/cli" in shown.stdout


def test_a_flow_on_a_memory_url():
    flowlib.set_dir(f"memory://flows-{uuid.uuid4().hex[:8]}")
    assert flowlib.preview(Scored(), show=False).counts()["PENDING"] == 4
    assert len(flowlib.run(Scored()).ran) == 4
    assert Scored().output_load() == {"gap": 5.0}
    assert flowlib.run(Scored()).ran == []
    storage = get_storage(flowlib.settings.dir)
    assert sorted(storage.list_files(storage.root)) == [
        f"{storage.root}/{k.split('/', 1)[1]}" for k in expected_keys(FLOW, "x")
    ]


def test_worker_processes_on_a_memory_url():
    flowlib.set_dir(f"memory://flows-{uuid.uuid4().hex[:8]}")
    result = flowlib.run(Gather(width=3), workers=2, abort=False)
    assert result, str(result)


def test_a_file_url_is_a_local_root(tmp_path):
    flowlib.set_dir(f"file://{tmp_path}/via-url")
    flowlib.run(Numbers(n=3))
    assert list((tmp_path / "via-url" / "Numbers").glob("*-data.parquet"))
    assert get_storage(flowlib.settings.dir).is_local


@needs_s3
def test_workers_share_an_s3_root_through_a_central_scheduler(moto, bucket, tmp_path):
    """The documented multi-machine setup, on one machine: luigid + two workers + an S3 root."""
    from flows.servers import start_luigid

    server = start_luigid(tmp_path / "luigid")
    try:
        log = tmp_path / "runs.log"
        env = dict(
            os.environ,
            FLOWLIB_DIR=f"s3://{bucket}/shared",
            FLOWLIB_SCHEDULER=server.url,
            AWS_ENDPOINT_URL=moto.url,
            AWS_ACCESS_KEY_ID=KEY,
            AWS_SECRET_ACCESS_KEY=SECRET,
            AWS_DEFAULT_REGION=REGION,
            FLOWS_RUN_LOG=str(log),
            FLOWS_SLEEP="0.2",
        )
        env["PYTHONPATH"] = str(TESTS_DIR.parent)  # this checkout's flowlib
        command = [str(Path(sys.executable).parent / "flowlib"), "run", "flows.pipeline:Gather", "--width", "4"]
        workers = [
            subprocess.Popen(command, cwd=TESTS_DIR, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            for _ in range(2)
        ]
        for process in workers:
            out, err = process.communicate(timeout=180)
            assert process.returncode == 0, out + err
        expected = sorted([Gather(width=4).task_id] + [Numbers(n=i + 1).task_id for i in range(4)])
        assert sorted(log.read_text().split()) == expected  # each task ran once, on one of the workers
        flowlib.set_dir(f"s3://{bucket}/shared", storage_options=s3_options(moto))
        assert Gather(width=4).output_load() == {"total": 0 + 1 + 3 + 6}
    finally:
        server.stop()
