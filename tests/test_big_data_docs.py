"""The "Big data" page, its example and the big-data benchmark's smoke size run and do what they say."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from flows.scripts import run_python

REPO = Path(__file__).resolve().parent.parent
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)

pytest.importorskip("dask.dataframe")
pytest.importorskip("distributed")


def test_the_page_runs_as_one_script(tmp_path):
    blocks = PYTHON_BLOCK.findall((REPO / "docs" / "big-data.md").read_text())
    assert len(blocks) >= 5
    (tmp_path / "page.py").write_text("\n".join(blocks))
    run_python(["page.py"], tmp_path)
    [sales] = (tmp_path / "data" / "Sales").glob("*.dataset")
    assert sorted(p.name for p in sales.iterdir()) == ["_flowlib_manifest.json", "region=east", "region=west"]
    assert list((tmp_path / "data" / "DayMeans").glob("*.dataset/_flowlib_manifest.json"))


def test_the_example_runs_on_a_local_cluster(tmp_path):
    done = run_python([str(REPO / "examples" / "big_data.py"), "--rows", "300000", "--cluster"], tmp_path)
    out = done.stdout
    assert re.search(r"east\s+[\d.]+\s+\d+", out) and "west orders above 200:" in out
    assert "300,000 rows in 4 files" in out
    assert re.search(r"east: 500 products, mean amount \d+\.\d\d", out)
    folders = sorted(p.name for p in next((tmp_path / "data" / "Sales").glob("*.dataset")).iterdir())
    assert folders == ["_flowlib_manifest.json", "region=east", "region=north", "region=south", "region=west"]


def test_the_benchmark_smoke_size_measures_both_sides(tmp_path):
    done = run_python(["-m", "benchmarks.bigdata", "--smoke", "--out", str(tmp_path)], tmp_path, timeout=240)
    assert "flowlib save_batches (TaskDataset)" in done.stdout and "pyarrow scanner, readahead 1" in done.stdout
    figures = json.loads((tmp_path / "smoke-bigdata.json").read_text())["figures"]
    assert set(figures["write"]) == {"flowlib", "pyarrow", "write_dataset"}
    assert set(figures["read"]) == {"flowlib", "pyarrow"}
    for phase in ("write", "read"):
        for side in figures[phase].values():
            assert side["seconds"] > 0 and 50 * 2**20 < side["maxrss_bytes"] < 2**30
    assert figures["data"]["rows"] == 1_000_000
