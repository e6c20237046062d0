"""Lineage and user metadata: which data and code produced an output (issue 5 items 5, 6)."""

from __future__ import annotations

import luigi
import pandas as pd
import pytest

import flowlib
from flowlib.fingerprint import code_fingerprint
from flowlib.lineage import LINEAGE_COLUMNS, lineage


def model_flow(source=None):
    """Data -> Features(scale) -> Train(scale, lr), Train saving metrics with save_metadata.

    ``LnData`` reads the list ``source`` (default 1, 2, 3, 4): a test changes the data by changing it.
    """
    source = [1.0, 2.0, 3.0, 4.0] if source is None else source

    class LnData(flowlib.TaskParquet):
        def run(self):
            self.save(pd.DataFrame({"x": list(source), "y": [i % 2 for i in range(len(source))]}))

    @flowlib.requires(LnData)
    class LnFeatures(flowlib.TaskParquet):
        scale = flowlib.FloatParameter(default=1.0)

        def run(self):
            df = self.input_load()
            self.save(df.assign(x=df.x * self.scale))

    @flowlib.requires(LnFeatures)
    class LnTrain(flowlib.TaskPickle):
        lr = flowlib.FloatParameter(default=0.1)

        def run(self):
            df = self.input_load()
            accuracy = round(1 - self.lr, 3)
            self.save({"weights": [self.lr * v for v in df.x]})
            self.save_metadata({"accuracy": accuracy, "scores": {"f1": accuracy / 2}, "note": f"lr={self.lr}"})

    return LnData, LnFeatures, LnTrain


def test_one_row_per_task_with_its_record():
    LnData, LnFeatures, LnTrain = model_flow()
    flowlib.run(LnTrain(lr=0.2))
    table = lineage(LnTrain(lr=0.2))
    assert list(table.columns[: len(LINEAGE_COLUMNS)]) == list(LINEAGE_COLUMNS)
    assert table.family.tolist() == ["LnData", "LnFeatures", "LnTrain"]  # dependencies first
    assert table.task_id.tolist() == [LnData().task_id, LnFeatures().task_id, LnTrain(lr=0.2).task_id]
    assert table.status.tolist() == ["COMPLETE"] * 3 and table.reason.tolist() == [""] * 3
    assert table.task.tolist() == ["LnData()", "LnFeatures(scale=1.0)", "LnTrain(scale=1.0, lr=0.2)"]

    features = table.set_index("family").loc["LnFeatures"]
    record = LnFeatures().metadata().to_dict()
    assert features["params"] == {"scale": 1.0} and features["params.scale"] == 1.0
    assert features["upstream"] == [LnData().task_id]
    assert features["code"] == record["code"] == code_fingerprint(LnFeatures)
    assert features["outputs"] == record["outputs"]
    assert features["paths"] == {"data": LnFeatures().output()["data"].path}
    assert features["fingerprints"] == {"data": record["outputs"]["data"]["fingerprint"]}
    assert features["rows"] == 4 and features["bytes"] == record["outputs"]["data"]["bytes"] > 0
    assert features["inputs"] == {LnData().task_id: {"data": LnData().metadata().outputs["data"].fingerprint}}
    assert features["duration"] == record["duration"]
    assert features["started"] == pd.Timestamp(record["started"]).tz_convert("UTC")
    assert features["versions"]["pandas"] == pd.__version__

    assert isinstance(table["started"].dtype, pd.DatetimeTZDtype) and str(table["started"].dt.tz) == "UTC"
    assert str(table["rows"].dtype) == "Int64"
    train = table.set_index("family").loc["LnTrain"]
    assert pd.isna(train["rows"])  # a dict has no rows
    assert train["params"] == {"scale": 1.0, "lr": 0.2}


def test_the_model_row_answers_which_data_and_code_produced_it():
    LnData, LnFeatures, LnTrain = model_flow()
    flowlib.run(LnTrain())
    table = lineage([LnTrain()]).set_index("task_id")
    model = table.loc[LnTrain().task_id]
    (upstream_id,) = model["inputs"]
    assert upstream_id == LnFeatures().task_id
    assert model["inputs"][upstream_id] == table.loc[upstream_id, "fingerprints"]
    assert table.loc[upstream_id, "inputs"] == {LnData().task_id: table.loc[LnData().task_id, "fingerprints"]}


def test_user_metadata_compares_parameter_sets_in_one_call():
    LnData, LnFeatures, LnTrain = model_flow()
    experiments = [LnTrain(lr=0.1), LnTrain(lr=0.5), LnTrain(scale=2.0, lr=0.3)]
    flowlib.run(experiments)
    table = lineage(experiments)
    # Shared upstream tasks appear once.
    assert table.family.value_counts().to_dict() == {"LnTrain": 3, "LnFeatures": 2, "LnData": 1}
    models = table[table.family == "LnTrain"].sort_values("params.lr")
    assert models["params.lr"].tolist() == [0.1, 0.3, 0.5]
    assert models["params.scale"].tolist() == [1.0, 2.0, 1.0]
    assert models["metadata.accuracy"].tolist() == [0.9, 0.7, 0.5]
    assert models["metadata.scores.f1"].tolist() == [0.45, 0.35, 0.25]
    assert models["metadata.note"].tolist() == ["lr=0.1", "lr=0.3", "lr=0.5"]
    assert table[table.family != "LnTrain"]["metadata.accuracy"].isna().all()
    assert table["params.lr"].isna().sum() == 3  # tasks without that parameter
    assert LnTrain(lr=0.5).metadata().metadata == {"accuracy": 0.5, "scores": {"f1": 0.25}, "note": "lr=0.5"}


def test_tasks_without_a_record_show_their_status_and_missing_values():
    LnData, LnFeatures, LnTrain = model_flow()
    flowlib.run(LnFeatures())
    table = lineage(LnTrain()).set_index("family")
    assert table.loc["LnTrain", "status"] == "PENDING" and table.loc["LnTrain", "reason"] == "no output"
    assert table.loc["LnTrain", "params.lr"] == 0.1
    for column in ("code", "outputs", "paths", "fingerprints", "rows", "bytes", "inputs", "duration", "versions"):
        assert pd.isna(table.loc["LnTrain", column]), column
    assert pd.isna(table.loc["LnTrain", "started"])
    assert table.loc["LnFeatures", "status"] == "COMPLETE"
    assert "metadata.accuracy" not in table.columns  # no record holds it yet


def test_a_stale_task_shows_the_record_of_its_current_outputs():
    source = [1.0, 2.0]
    LnData, LnFeatures, LnTrain = model_flow(source)
    flowlib.run(LnTrain())
    source.append(3.0)
    flowlib.run(LnData(), forced_all=True)
    table = lineage(LnTrain()).set_index("family")
    assert table.loc["LnFeatures", "status"] == "STALE"
    assert table.loc["LnFeatures", "reason"] == "upstream LnData changed"
    # The features were made from the old data: their consumed fingerprint is not LnData's current one.
    consumed = table.loc["LnFeatures", "inputs"][LnData().task_id]
    assert consumed != table.loc["LnData", "fingerprints"]
    assert table.loc["LnTrain", "metadata.accuracy"] == 0.9


def test_plain_luigi_tasks_and_memory_tasks():
    class LnExternal(luigi.ExternalTask):
        def output(self):
            return luigi.LocalTarget("/nonexistent/flowlib-lineage-input.csv")

    class LnMemory(flowlib.TaskMemory):
        def run(self):
            self.save(pd.DataFrame({"a": [1, 2]}))
            self.save_metadata({"source": "memory"})

    assert lineage(LnExternal()).loc[0, "status"] == "PENDING"
    assert pd.isna(lineage(LnExternal()).loc[0, "code"])
    flowlib.run(LnMemory())
    row = lineage(LnMemory()).iloc[0]
    assert row["rows"] == 2 and row["bytes"] == 0 and row["metadata.source"] == "memory"
    assert row["fingerprints"]["data"].startswith("memory-")


def test_save_metadata_outside_run_is_an_error():
    LnData, LnFeatures, LnTrain = model_flow()
    with pytest.raises(flowlib.FlowlibError, match=r"save_metadata\(\) is called from inside run\(\)"):
        LnTrain().save_metadata({"accuracy": 1.0})


def test_metadata_is_replaced_when_the_task_reruns():
    runs = []

    class LnCounter(flowlib.TaskPickle):
        def run(self):
            runs.append(1)
            self.save(len(runs))
            if len(runs) == 1:
                self.save_metadata({"first": True})

    flowlib.run(LnCounter())
    assert lineage(LnCounter()).loc[0, "metadata.first"]
    flowlib.run(LnCounter(), forced_all=True)
    assert LnCounter().metadata().metadata == {}
    assert "metadata.first" not in lineage(LnCounter()).columns
