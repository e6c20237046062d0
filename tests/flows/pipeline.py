"""A four-task flow for subprocess tests: Numbers -> Scaled(scale) -> Fitted -> Scored.

Every ``run()`` appends ``<task_id>`` to the file named by ``FLOWS_RUN_LOG`` (when set),
so a test can count how often each task really ran, across processes.
``FLOWS_SLEEP`` (seconds) slows each task down, so that concurrent workers overlap.
``Broken`` always fails.
"""

from __future__ import annotations

import os
import time

import pandas as pd

import flowlib


def _note(task: flowlib.Task) -> None:
    delay = float(os.environ.get("FLOWS_SLEEP", "0") or 0)
    if delay:
        time.sleep(delay)
    log = os.environ.get("FLOWS_RUN_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(f"{task.task_id}\n")


class Numbers(flowlib.TaskParquet):
    """A column ``x`` of ``n`` integers."""

    n = flowlib.IntParameter(default=10)

    def run(self):
        _note(self)
        self.save(pd.DataFrame({"x": range(self.n)}))


@flowlib.requires(Numbers)
class Scaled(flowlib.TaskParquet):
    """``x * scale``, split in two outputs."""

    scale = flowlib.FloatParameter(default=1.0)
    persist = ["head", "tail"]

    def run(self):
        _note(self)
        df = self.input_load() * self.scale
        half = len(df) // 2
        self.save({"head": df.iloc[:half], "tail": df.iloc[half:]})


@flowlib.requires(Scaled)
class Fitted(flowlib.TaskPickle):
    """The mean of the head."""

    with_tail = flowlib.BoolParameter(default=False)

    def run(self):
        _note(self)
        head, tail = self.input_load()
        frame = pd.concat([head, tail]) if self.with_tail else head
        self.save({"mean": float(frame["x"].mean())})


@flowlib.requires({"model": Fitted, "data": Scaled})
class Scored(flowlib.TaskJSON):
    """How far the tail's mean is from the model's mean."""

    def run(self):
        _note(self)
        model = self.input_load(task="model")
        tail = self.input_load(task="data", keys="tail")
        self.save({"gap": float(tail["x"].mean()) - model["mean"]})


@flowlib.requires(Numbers)
class Broken(flowlib.TaskPickle):
    """Always fails."""

    def run(self):
        raise ValueError("broken on purpose")


class Tagged(flowlib.TaskJSON):
    """Parameters of several kinds, for command-line parsing."""

    label = flowlib.Parameter()
    sizes = flowlib.ListParameter(default=[1, 2])
    max_depth = flowlib.IntParameter(default=3)
    verbose = flowlib.BoolParameter(default=False)

    def run(self):
        sizes = list(self.sizes)
        self.save({"label": self.label, "sizes": sizes, "max_depth": self.max_depth, "verbose": self.verbose})


class Gather(flowlib.TaskJSON):
    """Sums ``width`` independent Numbers tasks: a flow several workers can share."""

    width = flowlib.IntParameter(default=6)

    def requires(self):
        return [Numbers(n=i + 1) for i in range(self.width)]

    def run(self):
        _note(self)
        self.save({"total": int(sum(int(df["x"].sum()) for df in self.input_load()))})
