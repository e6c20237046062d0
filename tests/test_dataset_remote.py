"""Datasets on an object store: a real S3-compatible server (moto on 127.0.0.1) through s3fs.

Parts are uploaded under the final prefix with names unique to each save, the manifest last;
readers trust only what the manifest lists, so a failed save leaves the old dataset readable.
"""

from __future__ import annotations

import pandas as pd
import pytest
from flows.servers import needs_s3, new_bucket, s3_client, s3_options

import flowlib
from flowlib.targets.dataset import MANIFEST

pytestmark = needs_s3


@pytest.fixture
def bucket(moto):
    name = new_bucket(moto, "ds")
    client = s3_client(moto)
    flowlib.set_dir(f"s3://{name}/flows", storage_options=s3_options(moto))

    def keys(prefix: str = "") -> list[str]:
        listing = client.list_objects_v2(Bucket=name, Prefix=prefix)
        return sorted(item["Key"] for item in listing.get("Contents", []))

    return keys


def rows(start: int, n: int) -> pd.DataFrame:
    return pd.DataFrame({"kind": [("a", "b")[i % 2] for i in range(start, start + n)], "n": range(start, start + n)})


class S3Stream(flowlib.TaskDataset):
    partition_on = ["kind"]
    part_rows = 300

    def run(self):
        self.save_batches(rows(i * 250, 250) for i in range(4))


@flowlib.requires(S3Stream)
class S3Count(flowlib.TaskJSON):
    def run(self):
        self.save({"rows": sum(batch.num_rows for batch in self.input_batches(filters=[("kind", "=", "b")]))})


def test_parts_then_manifest_under_the_final_prefix(bucket):
    flowlib.run(S3Count(), execution_summary=False)
    assert S3Count().output_load() == {"rows": 500}
    prefix = f"flows/S3Stream/{S3Stream().task_id}-data.dataset/"
    stored = bucket(prefix)
    assert stored[0] == prefix + MANIFEST
    parts = [key[len(prefix) :] for key in stored[1:]]
    assert sorted({part.split("/")[0] for part in parts}) == ["kind=a", "kind=b"]
    assert len(parts) == 4 and all(part.split("/")[1].startswith("part-") for part in parts)
    loaded = S3Stream().output_load().sort_values("n").reset_index(drop=True)
    pd.testing.assert_frame_equal(loaded, rows(0, 1000), check_dtype=False, check_like=True)
    assert flowlib.verify(S3Count()).ok
    assert flowlib.build_plan([S3Count()]).roots[0].complete


def test_a_failed_save_keeps_the_old_dataset_and_removes_its_own_parts(bucket):
    flowlib.run(S3Stream(), execution_summary=False)
    prefix = f"flows/S3Stream/{S3Stream().task_id}-data.dataset/"
    before = bucket(prefix)
    target = S3Stream().output()["data"]
    manifest = target.manifest()

    with pytest.raises(RuntimeError, match="the source broke"):
        target.save_batches(rows(i * 250, 250) if i < 3 else _boom() for i in range(4))
    assert bucket(prefix) == before  # the new parts were removed, the old ones are still listed and there
    assert target.manifest() == manifest and len(target.load()) == 1000

    info = target.save_batches([rows(0, 10)])
    after = bucket(prefix)
    assert len(after) == 3 and not set(after[1:]) & set(before[1:])  # new parts; the old ones deleted
    assert info.rows == 10 and len(target.load()) == 10


def _boom() -> pd.DataFrame:
    raise RuntimeError("the source broke")
