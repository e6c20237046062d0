"""Bundles on S3: a real S3-compatible server (moto's server mode on 127.0.0.1), as tests/test_remote.py does."""

from __future__ import annotations

import pytest
from flows.pipeline import Scored
from flows.servers import needs_s3, new_bucket, s3_client, s3_options

import flowlib

pytestmark = needs_s3


@pytest.fixture
def bucket(moto):
    return new_bucket(moto, "bundles")


def keys(moto, bucket: str) -> list[str]:
    listing = s3_client(moto).list_objects_v2(Bucket=bucket)
    return sorted(item["Key"] for item in listing.get("Contents", []))


@pytest.mark.parametrize("name", ["shared", "shared.zip"])
def test_export_to_s3_and_import_from_it(moto, bucket, tmp_path, name):
    flowlib.run(Scored(), execution_summary=False)
    url = f"s3://{bucket}/team/{name}"
    manifest = flowlib.export(Scored(), url, storage_options=s3_options(moto))
    stored = keys(moto, bucket)
    if name.endswith(".zip"):
        assert stored == ["team/shared.zip"]  # one object, uploaded whole
    else:
        assert len(stored) == len(manifest.files()) + 1 and "team/shared/manifest.json" in stored
        assert all(not key.endswith(".tmp") for key in stored)
    fresh = tmp_path / "fresh"
    flowlib.import_bundle(url, root=fresh, storage_options=s3_options(moto))
    flowlib.set_dir(fresh)
    assert flowlib.run(Scored(), execution_summary=False).ran == []


def test_a_flow_on_s3_exported_locally_and_imported_into_another_s3_root(moto, bucket, tmp_path):
    flowlib.set_dir(f"s3://{bucket}/mine", storage_options=s3_options(moto))
    flowlib.run(Scored(), execution_summary=False)
    flowlib.export(Scored(), tmp_path / "shared.tar.gz")

    flowlib.set_dir(f"s3://{bucket}/theirs", storage_options=s3_options(moto))
    flowlib.import_bundle(tmp_path / "shared.tar.gz")
    theirs = [key for key in keys(moto, bucket) if key.startswith("theirs/")]
    mine = [key.replace("mine/", "theirs/", 1) for key in keys(moto, bucket) if key.startswith("mine/")]
    assert sorted(theirs) == sorted(mine)
    record = Scored().metadata()
    assert all(info.path.startswith(f"s3://{bucket}/theirs/") for info in record.outputs.values())
    assert all(node.complete for node in flowlib.build_plan(Scored()).nodes)
    assert flowlib.run(Scored(), execution_summary=False).ran == []

    flowlib.set_dir(tmp_path / "local")  # and from the local bundle into a local root
    flowlib.import_bundle(tmp_path / "shared.tar.gz")
    assert flowlib.run(Scored(), execution_summary=False).ran == []
