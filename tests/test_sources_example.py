"""examples/data_by_name.py: one flow, unchanged, against CSV files, SQLite and PostgreSQL."""

from __future__ import annotations

import pandas as pd
import pytest
import sqlalchemy as sa

import flowlib
from examples import data_by_name
from examples.catalog import Prediction
from flowlib.sources import use

EXPECTED = {"id": [2, 3, 5, 6], "verdict": ["pass", "pass", "pass", "fail"], "probability": [0.6, 0.7, 1.0, 0.8]}


@pytest.fixture(autouse=True)
def no_feeds():
    with use():
        yield


@pytest.mark.parametrize("kind", ["csv", "sqlite", "postgres"])
def test_the_flow_runs_unchanged_on_each_deployment(kind, tmp_path, request, capsys):
    url = request.getfixturevalue("postgres_url") if kind == "postgres" else None
    args = ["--feeds", kind, "--folder", str(tmp_path / "school")] + (["--url", url] if url else [])
    assert data_by_name.main(args) == 0
    assert data_by_name.Predict().output_load().to_dict("list") == EXPECTED
    feeds, sink = data_by_name.deployment(kind, tmp_path / "school", url)
    if kind == "csv":
        published = pd.read_csv(tmp_path / "school" / "predictions.csv")
    else:
        engine = sa.create_engine(sink.url)
        published = pd.read_sql("SELECT * FROM predictions ORDER BY id", engine)
        engine.dispose()
    assert published.to_dict("list") == EXPECTED
    assert "4 ran" in capsys.readouterr().out


def test_switching_feeds_rereads_sources_and_spares_the_rest(tmp_path, capsys):
    folder = tmp_path / "school"
    data_by_name.main(["--feeds", "csv", "--folder", str(folder)])
    data_by_name.main(["--feeds", "sqlite", "--folder", str(folder)])
    out = capsys.readouterr().out
    assert "(source data changed)" in out and "2 already complete: StudentsByCity(), Predict()" in out
    source = flowlib.Source(data_by_name.QUERY)
    assert source.metadata().data.startswith("SQLFeed:")
    assert flowlib.Publish(
        data_by_name.Predict(), schema=Prediction, sink=data_by_name.deployment("sqlite", folder)[1]
    ).complete()


def test_the_example_runs_as_a_script(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parent.parent / "examples" / "data_by_name.py"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWLIB_") and k != "PYTHONPATH"}
    env["FLOWLIB_DIR"] = str(tmp_path / "out")
    done = subprocess.run(
        [sys.executable, str(script), "--feeds", "sqlite", "--folder", str(tmp_path / "school")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "flowlib run succeeded" in done.stdout and "pass" in done.stdout
