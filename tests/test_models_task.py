"""ModelTask and from_estimator: train from the input, score into the record, predict through apply."""

from __future__ import annotations

import pandas as pd
import pytest
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression, Ridge

import flowlib
from flowlib.errors import FlowlibError, TaskDefinitionError, TaskFailedError, TaskIncompleteError
from flowlib.models import FeatureError, HyperParameter, ModelError, ModelTask, from_estimator


def record_of(task):
    """The task's record as its on-disk dict (``metadata()`` gives a dict, or a typed Record with ``to_dict``)."""
    record = task.metadata()
    return record if record is None or isinstance(record, dict) else record.to_dict()


FEATURES = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]


class Iris(flowlib.TaskParquet):
    persist = ["train", "test"]

    def run(self):
        frame = load_iris(as_frame=True).frame.sample(frac=1.0, random_state=0).reset_index(drop=True)
        self.save({"train": frame.iloc[:120], "test": frame.iloc[120:].reset_index(drop=True)})


@flowlib.requires(Iris)
class Threshold(ModelTask):
    """Predicts class 2 when the petal is longer than the cut; the cut is the mean of the training petals."""

    label = "target"
    features = ["petal length (cm)"]
    shift = flowlib.FloatParameter(default=0.0)

    def fit(self, data):
        train, _ = data
        return {"cut": float(train["petal length (cm)"].mean()) + self.shift}

    def score(self, model, data):
        _, test = data
        predicted = self.predict(test, model=model)["target"]
        return {"accuracy": float(((predicted == 2) == (test["target"] == 2)).mean())}

    def apply(self, model, frame):
        return (frame["petal length (cm)"] > model["cut"]).astype(int) * 2


def test_model_task_trains_scores_and_predicts():
    task = Threshold()
    assert flowlib.run(task)
    assert set(task.output()) == {"model"}
    model = task.output_load()
    assert model["cut"] > 0
    record = record_of(task)
    assert 0.5 < record["metadata"]["accuracy"] <= 1.0
    frame = pd.DataFrame({"petal length (cm)": [1.0, 6.5], "other": [0, 0]})
    predicted = task.predict(frame)
    assert isinstance(predicted, pd.DataFrame)
    assert predicted["target"].tolist() == [0, 2]


def test_lineage_compares_metrics_across_parameters():
    tasks = [Threshold(shift=1.2), Threshold(shift=3.0)]
    assert flowlib.run(tasks)
    table = flowlib.lineage(tasks)
    rows = table[table.family == "Threshold"].set_index("params.shift")
    assert rows.loc[1.2, "metadata.accuracy"] > rows.loc[3.0, "metadata.accuracy"]


def test_predict_before_run_says_to_run():
    with pytest.raises(TaskIncompleteError, match="has not been run"):
        Threshold(shift=1.0).predict(pd.DataFrame({"petal length (cm)": [1.0]}))


def test_predict_checks_feature_columns():
    flowlib.run(Threshold())
    with pytest.raises(FeatureError, match="petal length") as raised:
        Threshold().predict(pd.DataFrame({"x": [1.0]}))
    assert isinstance(raised.value, KeyError) and isinstance(raised.value, FlowlibError)


def test_score_must_return_a_dict():
    class BadScore(ModelTask):
        def fit(self, data):
            return 1

        def score(self, model, data):
            return 0.5

    with pytest.raises(TaskFailedError, match="return a dict"):
        flowlib.run(BadScore())
    assert BadScore().metadata() is None


def test_fit_is_required():
    class NoFit(ModelTask):
        pass

    with pytest.raises(TaskFailedError, match="define fit"):
        flowlib.run(NoFit())


def test_model_without_score_and_without_inputs():
    class Constant(ModelTask):
        value = flowlib.IntParameter(default=7)

        def fit(self, data):
            assert data is None
            return self.value

        def apply(self, model, frame):
            return [model] * len(frame)

    assert flowlib.run(Constant())
    assert record_of(Constant())["metadata"] == {}
    assert Constant().predict(pd.DataFrame({"a": [1, 2]})).to_dict("list") == {"prediction": [7, 7]}


# -- from_estimator --------------------------------------------------------------------------
@flowlib.requires(Iris)
class Forest(from_estimator(RandomForestClassifier, label="target", name="ForestBase")):
    pass


def test_from_estimator_parameters_are_hyperparameters_with_defaults():
    params = dict(Forest.get_params())
    assert isinstance(params["n_estimators"], luigi_int())
    assert params["n_estimators"]._default == RandomForestClassifier().n_estimators
    assert isinstance(params["bootstrap"], flowlib.BoolParameter)
    assert isinstance(params["max_depth"], HyperParameter)
    task = Forest(n_estimators=5, max_depth=3, random_state=0)
    assert task.estimator().get_params()["max_depth"] == 3
    assert Forest(n_estimators=5).task_id != Forest(n_estimators=6).task_id
    assert Forest.get_task_family() == "Forest"
    assert from_estimator(Ridge).get_task_family() == "Ridge"


def luigi_int():
    return flowlib.IntParameter


def test_from_estimator_trains_scores_and_predicts():
    task = Forest(n_estimators=10, max_depth=3, random_state=0)
    assert flowlib.run(task)
    model = task.output_load()
    assert isinstance(model, RandomForestClassifier)
    assert list(model.feature_names_in_) == FEATURES
    metrics = record_of(task)["metadata"]
    assert metrics["rows"] == 30 and 0.8 <= metrics["accuracy"] <= 1.0
    test = Iris().output_load("test")
    predicted = task.predict(test.drop(columns="target"))
    assert list(predicted.columns) == ["target"] and len(predicted) == 30
    assert (predicted["target"] == test["target"]).mean() == pytest.approx(metrics["accuracy"])
    with pytest.raises(FeatureError, match="petal width"):
        task.predict(test.drop(columns=["petal width (cm)"]))


def test_from_estimator_declared_features_and_regressor_metric():
    @flowlib.requires(Iris)
    class Petal(from_estimator(Ridge, label="petal width (cm)", features=["petal length (cm)"], name="PetalRidge")):
        pass

    task = Petal(alpha=0.1)
    assert flowlib.run(task)
    assert list(task.output_load().feature_names_in_) == ["petal length (cm)"]
    assert record_of(task)["metadata"]["r2"] > 0.8
    assert task.predict(pd.DataFrame({"petal length (cm)": [1.5, 5.0]}))["petal width (cm)"].is_monotonic_increasing


def test_hyperparameter_reads_literals():
    param = HyperParameter()
    assert param.parse("None") is None
    assert param.parse("0.5") == 0.5
    assert param.parse("entropy") == "entropy"
    assert param.parse("{'a': 1}") == {"a": 1}
    assert param.parse(param.serialize("balanced")) == "balanced"


def test_cli_style_parameters(monkeypatch):
    from flowlib.cli import parse_task_params

    (values,) = parse_task_params([Forest], ["--max-depth", "4", "--criterion", "entropy", "--bootstrap", "false"])
    assert values == {"max_depth": 4, "criterion": "entropy", "bootstrap": False}


def test_from_estimator_rejects_what_is_not_an_estimator():
    with pytest.raises(TaskDefinitionError, match="estimator class"):
        from_estimator(LogisticRegression())
    with pytest.raises(TaskDefinitionError, match="estimator class"):
        from_estimator(dict)


def test_training_data_without_label_is_a_clear_error():
    @flowlib.requires(Iris)
    class NoLabel(from_estimator(Ridge, label="nope", name="NoLabelRidge")):
        pass

    with pytest.raises(TaskFailedError, match="no label column 'nope'"):
        flowlib.run(NoLabel())
    assert issubclass(ModelError, FlowlibError)


def test_an_estimator_task_fingerprint_covers_the_estimator_and_its_library_version():
    import sklearn
    from sklearn.linear_model import LogisticRegression, Ridge

    from flowlib.fingerprint import code_fingerprint
    from flowlib.models import from_estimator

    ridge = from_estimator(Ridge, label="target", name="FpSameName")
    logistic = from_estimator(LogisticRegression, label="target", name="FpSameName")
    parts = ridge.code_parts()
    assert any("sklearn.linear_model" in part and sklearn.__version__ in part for part in parts)
    assert code_fingerprint(ridge) != code_fingerprint(logistic)
