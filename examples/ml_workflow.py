"""A small, real machine-learning flow with flowlib: wine data -> split and scale -> train -> evaluate.

The data is scikit-learn's wine dataset, which ships inside the package (no download).
Each task persists its outputs under the flowlib root (``FLOWLIB_DIR``, else ``./data``),
in a file named after its parameters, so:

* running the flow a second time runs nothing;
* changing ``C`` reruns only ``Train`` and ``Evaluate``; changing ``scale`` also reruns
  ``Preprocess``; ``GetData`` has no parameters and runs once.

Run the demo from the repository root::

    python examples/ml_workflow.py

or one task through luigi's command line (the module is importable from the repository root)::

    PYTHONPATH=. luigi --module examples.ml_workflow Train --scale 2 --local-scheduler
"""

from __future__ import annotations

import pandas as pd
from sklearn.datasets import load_wine
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, log_loss
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

import flowlib

__all__ = ["GetData", "Preprocess", "Train", "Evaluate", "main"]


class GetData(flowlib.TaskParquet):
    """The wine dataset as one DataFrame: 13 numeric features and the ``target`` class (0, 1, 2)."""

    def run(self):
        self.save(load_wine(as_frame=True).frame)


@flowlib.requires(GetData)
class Preprocess(flowlib.TaskParquet):
    """Split into train and test, standardise the features on train, then multiply them by ``scale``.

    With a regularised model, a larger ``scale`` means weaker regularisation.
    """

    scale = flowlib.FloatParameter(default=1.0)
    test_size = flowlib.FloatParameter(default=0.3)
    seed = flowlib.IntParameter(default=0)
    persist = ["train", "test"]

    def run(self):
        df = self.input_load()
        train, test = train_test_split(df, test_size=self.test_size, random_state=self.seed, stratify=df["target"])
        features = [c for c in df.columns if c != "target"]
        scaler = StandardScaler().fit(train[features])
        train, test = train.copy(), test.copy()
        train[features] = scaler.transform(train[features]) * self.scale
        test[features] = scaler.transform(test[features]) * self.scale
        self.save({"train": train, "test": test})


@flowlib.requires(Preprocess)
class Train(flowlib.TaskPickle):
    """A logistic regression fitted on the training split; ``C`` is its inverse regularisation strength."""

    C = flowlib.FloatParameter(default=1.0)

    def run(self):
        train = self.input_load(keys="train")
        model = LogisticRegression(C=self.C, max_iter=5000)
        model.fit(train.drop(columns="target"), train["target"])
        self.save(model)


@flowlib.requires({"model": Train, "data": Preprocess})
class Evaluate(flowlib.TaskJSON):
    """Accuracy, macro F1 and log loss of the model on the test split, saved as JSON."""

    def run(self):
        model = self.input_load(task="model")
        test = self.input_load(task="data", keys="test")
        features, truth = test.drop(columns="target"), test["target"]
        predicted = model.predict(features)
        metrics = {
            "accuracy": float(accuracy_score(truth, predicted)),
            "f1_macro": float(f1_score(truth, predicted, average="macro")),
            "log_loss": float(log_loss(truth, model.predict_proba(features), labels=model.classes_)),
            "test_rows": int(len(test)),
        }
        self.save(metrics)
        self.save_metadata({"accuracy": metrics["accuracy"]})  # kept in the task's record too


def _step(title: str) -> None:
    print(f"\n=== {title} ===")


def _report(result: flowlib.RunResult) -> None:
    # flowlib.run has printed its summary (what ran and why); add the one line this demo checks
    names = ", ".join(type(t).__name__ for t in result.ran) or "nothing"
    print(f"-> ran {len(result.ran)} task(s): {names}")


def main() -> dict[str, dict]:
    """The tour: preview, run, rerun (nothing to do), change parameters, load the metrics."""
    baseline = Evaluate(scale=1.0, C=1.0)
    new_c = Evaluate(scale=1.0, C=0.01)
    new_scale = Evaluate(scale=0.1, C=0.01)

    _step("0. start from scratch (a demo: remove what an earlier demo left)")
    for task in (baseline, new_c, new_scale):
        flowlib.invalidate_upstream(task)
    print(f"outputs live under {flowlib.settings.dir!r}")

    _step("1. preview: nothing has run yet")
    flowlib.preview(baseline)

    _step("2. run: every task runs, dependencies first")
    _report(flowlib.run(baseline))

    _step("3. run again: everything is complete, nothing runs")
    _report(flowlib.run(baseline))

    _step("4. change C: only Train and Evaluate run again")
    flowlib.preview(new_c)
    _report(flowlib.run(new_c))

    _step("5. change scale: Preprocess, Train and Evaluate run again, GetData does not")
    flowlib.preview(new_scale)
    _report(flowlib.run(new_scale))

    _step("6. load the metrics")
    metrics = {
        "scale=1.0 C=1.0": baseline.output_load(),
        "scale=1.0 C=0.01": new_c.output_load(),
        "scale=0.1 C=0.01": new_scale.output_load(),
    }
    print(pd.DataFrame.from_dict(metrics, orient="index").round(3).to_string())
    record = baseline.metadata()
    print(f"metadata in the record of {baseline}: {record.metadata if record is not None else None}")
    return metrics


if __name__ == "__main__":
    main()
