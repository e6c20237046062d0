"""Workers (case 6): independent tasks that sleep, or burn CPU, run with ``workers=N``.

Example:
    >>> spin(0.01) >= 0.01
    True
"""

from __future__ import annotations

import os
import time
from typing import Any

import flowlib
from benchmarks.flows import tiny_frame
from benchmarks.timing import measured

__all__ = ["spin", "workers_run"]


def spin(seconds: float) -> float:
    """Burn ``seconds`` of this process's CPU time (a CPU-bound task); returns the CPU time used."""
    started = time.process_time()
    x = 0
    while time.process_time() - started < seconds:
        for i in range(10_000):
            x += i * i
    return time.process_time() - started


class SleepTask(flowlib.TaskParquet):
    i = flowlib.IntParameter()
    seconds = flowlib.FloatParameter()

    def run(self) -> None:
        time.sleep(self.seconds)
        self.save(tiny_frame(self.i))


class SpinTask(flowlib.TaskParquet):
    i = flowlib.IntParameter()
    seconds = flowlib.FloatParameter()

    def run(self) -> None:
        spin(self.seconds)
        self.save(tiny_frame(self.i))


def workers_run(*, work: str, tasks: int, seconds: float, workers: int, directory: str) -> dict[str, Any]:
    """Run ``tasks`` independent tasks of ``seconds`` each (``work``: sleep or cpu) with ``workers``."""
    flowlib.set_dir(directory)
    os.makedirs(directory, exist_ok=True)
    cls = SleepTask if work == "sleep" else SpinTask
    with measured() as clock:
        result = flowlib.run([cls(i=i, seconds=seconds) for i in range(tasks)], workers=workers)
    if len(result.ran) != tasks:
        raise RuntimeError(f"ran {len(result.ran)} of {tasks} tasks: {result}")
    return {"seconds": clock.seconds, "ran": len(result.ran), "cpus": os.cpu_count()}
