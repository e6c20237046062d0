"""TaskDask: dask DataFrames saved as partitioned datasets, computed on a real dask.distributed cluster.

The cluster is a ``distributed.LocalCluster`` on 127.0.0.1 with two worker processes,
started once for the module and closed after it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pyarrow.dataset as ds
import pytest

import flowlib

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as running:
        yield running


@pytest.fixture
def worker_pids(cluster):
    with distributed.Client(cluster.scheduler_address) as client:
        return set(client.run(os.getpid).values())


def events(rows: int = 1200) -> pd.DataFrame:
    return pd.DataFrame(
        {"day": [i % 4 for i in range(rows)], "n": range(rows), "amount": [i * 0.5 for i in range(rows)]}
    )


class DkEvents(flowlib.TaskDask):
    partition_on = ["day"]

    def run(self):
        self.save(dd.from_pandas(events(), npartitions=3))


def tag_pid(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(pid=os.getpid())


@flowlib.requires(DkEvents)
class DkTagged(flowlib.TaskDask):
    """Computes on whatever scheduler the run gives: each row says which process computed it."""

    def run(self):
        frame = self.input_load()
        meta = dd.utils.make_meta(frame).assign(pid=0)
        self.save(frame.map_partitions(tag_pid, meta=meta))


@flowlib.requires(DkEvents)
class DkDailyTotals(flowlib.TaskParquet):
    """A pandas task downstream of a dask one: it reads the same files in batches."""

    def run(self):
        totals: dict[int, float] = {}
        for batch in self.input_batches(columns=["day", "amount"]):
            part = batch.to_pandas().groupby("day")["amount"].sum()
            for day, amount in part.items():
                totals[day] = totals.get(day, 0.0) + amount
        self.save(pd.DataFrame({"day": list(totals), "amount": list(totals.values())}).sort_values("day"))


def test_a_dask_frame_is_saved_as_a_dataset_that_pandas_and_pyarrow_read():
    flowlib.run(DkDailyTotals(), execution_summary=False)
    folder = Path(DkEvents().output()["data"].path)
    assert sorted(p.name for p in folder.iterdir() if p.is_dir()) == ["day=0", "day=1", "day=2", "day=3"]
    loaded = DkEvents().output_load()
    assert isinstance(loaded, dd.DataFrame)
    parts = DkEvents().output()["data"].manifest().parts
    assert loaded.npartitions == len(parts) == 12  # 3 dask partitions x 4 days
    frame = loaded.compute().sort_values("n").reset_index(drop=True)
    pd.testing.assert_frame_equal(frame[["day", "n", "amount"]], events(), check_dtype=False)
    table = DkEvents().output_dataset().to_table(columns=["n"], filter=ds.field("day") == 2)
    assert sorted(table["n"].to_pylist()) == list(range(2, 1200, 4))
    expected = events().groupby("day")["amount"].sum()
    assert DkDailyTotals().output_load()["amount"].tolist() == expected.tolist()
    lazy = DkEvents().output_load(columns=["n"], filters=[("day", "=", 1)])
    assert list(lazy.columns) == ["n"] and sorted(lazy.compute()["n"]) == list(range(1, 1200, 4))


def test_run_computes_on_the_cluster_given_to_run(cluster, worker_pids):
    flowlib.run(DkTagged(), dask_scheduler=cluster.scheduler_address, execution_summary=False)
    pids = set(DkTagged().output_load()["pid"].compute())
    assert pids and pids <= worker_pids and os.getpid() not in pids
    assert flowlib.settings.dask_scheduler is None  # the run's scheduler was for that run only
    assert DkEvents().metadata().outputs["data"].rows == 1200


def test_the_scheduler_from_the_environment_and_without_one(cluster, worker_pids, monkeypatch):
    monkeypatch.setenv("FLOWLIB_DASK_SCHEDULER", cluster.scheduler_address)
    assert flowlib.settings.dask_scheduler == cluster.scheduler_address
    flowlib.run(DkTagged(), execution_summary=False)
    assert set(DkTagged().output_load()["pid"].compute()) <= worker_pids
    monkeypatch.delenv("FLOWLIB_DASK_SCHEDULER")
    flowlib.run(DkTagged(), forced=DkTagged(), execution_summary=False)  # dask's threads, here
    assert set(DkTagged().output_load()["pid"].compute()) == {os.getpid()}


def test_worker_processes_of_flowlib_pass_the_scheduler_on(cluster, worker_pids):
    result = flowlib.run(
        [DkTagged(), DkDailyTotals()], workers=2, dask_scheduler=cluster.scheduler_address, execution_summary=False
    )
    assert result and set(DkTagged().output_load()["pid"].compute()) <= worker_pids


def test_an_unreachable_scheduler_is_a_clear_error():
    flowlib.settings.dask_timeout, before = 2.0, flowlib.settings.dask_timeout
    try:
        with pytest.raises(flowlib.TaskFailedError) as failed:
            flowlib.run(DkEvents(), dask_scheduler="tcp://127.0.0.1:9", execution_summary=False)
    finally:
        flowlib.settings.dask_timeout = before
    assert "cannot reach the dask scheduler" in str(failed.value.__cause__)
    assert not DkEvents().output()["data"].exists()


def test_wrong_objects_are_refused():
    class DkWrong(flowlib.TaskDask):
        def run(self):
            self.save([1, 2])

    with pytest.raises(flowlib.TaskFailedError) as failed:
        flowlib.run(DkWrong(), execution_summary=False)
    assert "dask or pandas DataFrames" in str(failed.value.__cause__)


def test_the_scheduler_from_luigi_config(cluster, worker_pids):
    import luigi.configuration

    config = luigi.configuration.get_config()
    if not config.has_section("flowlib"):
        config.add_section("flowlib")
    config.set("flowlib", "dask_scheduler", cluster.scheduler_address)
    try:
        assert flowlib.settings.dask_scheduler == cluster.scheduler_address
        flowlib.run(DkTagged(), execution_summary=False)
    finally:
        config.remove_option("flowlib", "dask_scheduler")
    assert set(DkTagged().output_load()["pid"].compute()) <= worker_pids


def test_luigid_schedules_the_tasks_and_dask_computes_the_big_one(tmp_path, cluster, worker_pids):
    from flows.servers import start_luigid

    luigid = start_luigid(tmp_path / "luigid")
    try:
        result = flowlib.run(
            [DkTagged(), DkDailyTotals()], scheduler=luigid.url, dask_scheduler=cluster.scheduler_address,
            execution_summary=False,
        )  # fmt: skip
    finally:
        luigid.stop()
    assert result and result.scheduler
    assert set(DkTagged().output_load()["pid"].compute()) <= worker_pids
    assert DkDailyTotals().output_load()["amount"].sum() == events()["amount"].sum()
