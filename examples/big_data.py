"""Big data: stream a table larger than you would load into a partitioned dataset, read back only what you need.

``Sales`` streams generated sales in batches into a dataset partitioned by region (a
``TaskDask``: its files are a plain Parquet dataset that loads as a dask DataFrame);
``RegionTotals``, a pandas task, aggregates them batch by batch (``input_batches``);
``EastAverages`` computes on the same files with dask. Run from the repository root::

    python examples/big_data.py                     # 2 million rows, dask on local threads
    python examples/big_data.py --rows 20000000     # more rows: memory stays flat
    python examples/big_data.py --cluster           # the dask task computes on a LocalCluster (127.0.0.1)
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import numpy as np
import pandas as pd

import flowlib

__all__ = ["Sales", "RegionTotals", "EastAverages", "main"]

REGIONS = np.array(["east", "north", "south", "west"])


def sales(rows: int, batch_rows: int = 250_000) -> Iterator[pd.DataFrame]:
    """``rows`` generated sales, ``batch_rows`` at a time (the whole table never exists in memory)."""
    rng = np.random.default_rng(1)
    for start in range(0, rows, batch_rows):
        n = min(batch_rows, rows - start)
        yield pd.DataFrame(
            {
                "order": np.arange(start, start + n),
                "region": REGIONS[rng.integers(0, len(REGIONS), n)],
                "product": rng.integers(0, 500, n),
                "amount": rng.gamma(2.0, 30.0, n).round(2),
            }
        )


class Sales(flowlib.TaskDask):
    """All sales, hive-partitioned by region: one folder ``region=east/`` ... per region."""

    rows = flowlib.IntParameter(default=2_000_000)
    partition_on = ["region"]

    def run(self) -> None:
        self.save_batches(sales(self.rows))


@flowlib.requires(Sales)
class RegionTotals(flowlib.TaskParquet):
    """Revenue and orders per region, aggregated one record batch at a time."""

    def run(self) -> None:
        totals: dict[str, list[float]] = {}
        for batch in self.input_batches(columns=["region", "amount"]):
            frame = batch.to_pandas()
            for region, group in frame.groupby("region", observed=True)["amount"]:
                revenue, orders = totals.get(str(region), [0.0, 0])
                totals[str(region)] = [revenue + float(group.sum()), orders + len(group)]
        self.save(pd.DataFrame([(r, *v) for r, v in sorted(totals.items())], columns=["region", "revenue", "orders"]))


@flowlib.requires(Sales)
class EastAverages(flowlib.TaskDask):
    """Average amount per product in the east, computed with dask on the same files."""

    def run(self) -> None:
        # A lazy dask DataFrame of two columns of one partition: nothing else is read.
        east = self.input_load(columns=["product", "amount"], filters=[("region", "=", "east")])
        averages = east.groupby("product")["amount"].mean().reset_index()
        self.save(averages.repartition(npartitions=2))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--cluster", action="store_true", help="compute the dask task on a LocalCluster")
    args = parser.parse_args(argv)
    flows = [RegionTotals(rows=args.rows), EastAverages(rows=args.rows)]
    if args.cluster:
        from distributed import LocalCluster

        with LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None) as cluster:
            flowlib.run(flows, dask_scheduler=cluster.scheduler_address)
    else:
        flowlib.run(flows)

    print(RegionTotals(rows=args.rows).output_load().to_string(index=False))
    # Lazy loading: only one column of one partition is read from disk.
    west = Sales(rows=args.rows).output_load(
        columns=["amount"], filters=[("region", "=", "west"), ("amount", ">", 200)]
    )
    print(f"west orders above 200: {len(west):,}")
    dataset = Sales(rows=args.rows).output_dataset()  # a pyarrow.dataset.Dataset: filter and project before reading
    print(f"{dataset.count_rows():,} rows in {len(dataset.files)} files")
    averages = EastAverages(rows=args.rows).output_load().compute()  # the dask output, as a DataFrame
    print(f"east: {len(averages)} products, mean amount {averages['amount'].mean():.2f}")
    flowlib.preview(flows)  # shows itself in a script: everything is COMPLETE now


if __name__ == "__main__":
    main()
