"""Sharing results: run a flow, export it to a bundle, import it in a colleague's root, run nothing.

Run from the repository root::

    python examples/share_results.py                 # in a temporary folder
    python examples/share_results.py --folder share  # or in ./share

It runs a three-task flow in ``<folder>/mine``, exports it to ``<folder>/sales.zip``, shows the
bundle's manifest, imports it into ``<folder>/theirs`` (as a colleague would) and runs the flow
there: nothing runs. Then it shows that a damaged copy of the bundle is refused, naming the bad file.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

import pandas as pd

import flowlib

__all__ = ["Sales", "MonthlyTotals", "Report", "main"]


class Sales(flowlib.TaskParquet):
    """Daily sales of one year (made up, the same for every run)."""

    year = flowlib.IntParameter(default=2025)

    def run(self) -> None:
        days = pd.date_range(f"{self.year}-01-01", f"{self.year}-12-31", freq="D")
        self.save(pd.DataFrame({"day": days, "amount": [(i * 37) % 101 for i in range(len(days))]}))


@flowlib.requires(Sales)
class MonthlyTotals(flowlib.TaskParquet):
    """Sales per month."""

    def run(self) -> None:
        sales = self.input_load()
        totals = sales.groupby(sales["day"].dt.month)["amount"].sum().rename_axis("month").reset_index()
        self.save(totals)


@flowlib.requires(MonthlyTotals)
class Report(flowlib.TaskJSON):
    """The best month and the year's total."""

    def run(self) -> None:
        totals = self.input_load()
        best = totals.loc[totals["amount"].idxmax()]
        self.save({"best_month": int(best["month"]), "total": int(totals["amount"].sum())})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", default=None, help="where to work (default: a temporary folder)")
    args = parser.parse_args(argv)
    folder = Path(args.folder or tempfile.mkdtemp(prefix="flowlib-share-"))
    folder.mkdir(parents=True, exist_ok=True)
    bundle = folder / "sales.zip"
    bundle.unlink(missing_ok=True)

    # 1. My side: run the flow, then export it with everything upstream.
    flowlib.set_dir(folder / "mine")
    mine = flowlib.run(Report(), execution_summary=False)
    print(f"mine: {len(mine.ran)} tasks ran")
    manifest = flowlib.export(Report(), bundle)
    print(manifest)

    # 2. The colleague's side: import into their root (every file verified first), then run.
    flowlib.set_dir(folder / "theirs")
    flowlib.import_bundle(bundle)
    theirs = flowlib.run(Report(), execution_summary=False)
    print(f"theirs: {len(theirs.ran)} tasks ran; report {Report().output_load()}")

    # 3. A damaged bundle is refused, naming the bad file, and nothing is imported.
    damaged = folder / "damaged.zip"
    with zipfile.ZipFile(bundle) as good, zipfile.ZipFile(damaged, "w") as bad:
        for item in good.infolist():
            data = good.read(item)
            bad.writestr(item, data[:-1] + b"?" if item.filename.endswith("-data.json") else data)
    try:
        flowlib.import_bundle(damaged, root=folder / "elsewhere")
    except flowlib.BundleError as exc:
        print(f"refused: {exc}")
    if args.folder is None:
        shutil.rmtree(folder)
    return 0 if not theirs.ran else 1


if __name__ == "__main__":
    sys.exit(main())
