"""The parent side: start one subprocess per measurement, repeat short ones, take medians.

Example:
    >>> sample = run_child("benchmarks.dag:construct", {"kind": "luigi", "shape": "chain", "n": 10})
    >>> sample["tasks"]
    10
"""

from __future__ import annotations

import json
import os
import re
import resource
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.child import MARKER
from benchmarks.timing import PROFILE_ENV

__all__ = ["REPO", "LOADS", "OTHERS", "run_child", "Measured", "interleaved", "root_cause", "load_average"]

REPO = Path(__file__).resolve().parent.parent
#: A measurement taking at least this long is not repeated (its noise is small against its length).
LONG_SECONDS = 15.0
#: The load average seen before each measurement of this process's run.
LOADS: list[float] = []
#: How many CPUs other processes kept busy, on average, during each measurement.
OTHERS: list[float] = []
_ERROR_LINE = re.compile(r"^(\w+\.)*\w*(Error|Exception|Interrupt)\b.*")


def load_average() -> float:
    """The 1-minute load average (other processes competing for the CPUs), or -1 where unknown."""
    try:
        return os.getloadavg()[0]
    except OSError:
        return -1.0


def _busy_cpu_seconds() -> float | None:
    """CPU seconds the whole machine has spent busy since boot (Linux ``/proc/stat``)."""
    try:
        with open("/proc/stat") as handle:
            fields = [int(x) for x in handle.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def root_cause(stderr: str) -> str:
    """The last ``SomethingError: message`` line of a child's stderr (luigi logs errors it catches)."""
    found = [line.strip() for line in stderr.splitlines() if _ERROR_LINE.match(line.strip())]
    return found[-1][:300] if found else ""


def run_child(
    target: str,
    kwargs: dict[str, Any],
    *,
    timeout: float = 600.0,
    profile_path: str | None = None,
    python: str | None = None,
) -> dict[str, Any]:
    """Run ``target`` (``module:function``) in a fresh interpreter; its result dict, or ``{"error": ...}``."""
    env = dict(os.environ)
    env.pop(PROFILE_ENV, None)
    if profile_path:
        env[PROFILE_ENV] = profile_path
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    command = [python or sys.executable, "-m", "benchmarks.child", target, json.dumps(kwargs)]
    load = load_average()
    LOADS.append(load)
    busy_before, children_before, started = _busy_cpu_seconds(), _children_cpu_seconds(), time.perf_counter()
    process = subprocess.Popen(
        command,
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # so a timeout ends its worker processes too
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        return {"error": f"did not finish within {timeout:.0f} s (stopped)", "timeout": True, "load": load}
    for line in reversed(stdout.splitlines()):
        if line.startswith(MARKER):
            result: dict[str, Any] = json.loads(line[len(MARKER) :])
            break
    else:
        last = stderr.strip().splitlines()[-1] if stderr.strip() else ""
        result = {"error": f"the benchmark process exited with code {process.returncode}: {last}"}
    if "error" in result:
        cause = root_cause(stderr)
        if cause and cause not in result["error"]:
            result["cause"] = cause
    result["load"] = load
    busy_after, wall = _busy_cpu_seconds(), time.perf_counter() - started
    if busy_before is not None and busy_after is not None and wall > 0:
        # Busy CPU time of the machine minus our own children's: what other processes used meanwhile.
        ours = _children_cpu_seconds() - children_before
        result["others_cpus"] = max(0.0, (busy_after - busy_before - ours) / wall)
        OTHERS.append(result["others_cpus"])
    return result


@dataclass
class Measured:
    """Repeated samples of one measurement: the median, every run, and the last result's details."""

    name: str
    runs: list[float] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    loads: list[float] = field(default_factory=list)
    #: CPUs other processes kept busy during each run (contention; see :func:`run_child`).
    others: list[float] = field(default_factory=list)
    #: The result dict of every successful run, in order.
    samples: list[dict[str, Any]] = field(default_factory=list)

    def median_of(self, key: str) -> float | None:
        """The median of one numeric field over the successful runs."""
        values = [float(s[key]) for s in self.samples if isinstance(s.get(key), (int, float))]
        return statistics.median(values) if values else None

    def cpu(self) -> Measured:
        """The same runs measured in CPU time (user + system of the measuring process) instead of wall time."""
        samples = [s for s in self.samples if isinstance(s.get("cpu_seconds"), (int, float))]
        error = self.error or ("" if samples or not self.samples else "no CPU time was reported")
        cpu = Measured(f"{self.name} (CPU)", [float(s["cpu_seconds"]) for s in samples], self.details, error)
        cpu.loads, cpu.others, cpu.samples = self.loads, self.others, samples
        return cpu

    @property
    def ok(self) -> bool:
        return not self.error and bool(self.runs)

    @property
    def seconds(self) -> float | None:
        return statistics.median(self.runs) if self.runs else None

    def describe_error(self) -> str:
        cause = self.details.get("cause", "")
        return f"{self.error} (cause: {cause})" if cause else self.error


Spec = tuple[str, Callable[[int], dict[str, Any]]]


def interleaved(
    specs: dict[str, Spec],
    *,
    repeats: int,
    timeout: float = 600.0,
    timeouts: dict[str, float] | None = None,
    once: set[str] | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Measured]:
    """Run each spec ``repeats`` times, alternating their order each round; one run only for
    specs in ``once``, for failures and for runs longer than :data:`LONG_SECONDS`.

    A spec is ``(target, kwargs_for(round))``; ``kwargs_for`` gives fresh directories per round.
    """
    results = {name: Measured(name) for name in specs}
    done: set[str] = set()
    for round_ in range(repeats):
        names = list(specs) if round_ % 2 == 0 else list(reversed(specs))
        for name in names:
            if name in done:
                continue
            target, kwargs_for = specs[name]
            limit = (timeouts or {}).get(name, timeout)
            sample = run_child(target, kwargs_for(round_), timeout=limit)
            measured = results[name]
            measured.loads.append(sample.get("load", -1.0))
            if "others_cpus" in sample:
                measured.others.append(sample["others_cpus"])
            if "error" in sample:
                measured.error, measured.details = sample["error"], sample
                done.add(name)
                log(f"    {name}: {measured.describe_error()}")
                continue
            measured.runs.append(float(sample["seconds"]))
            measured.samples.append(sample)
            measured.details = sample
            log(f"    {name}: {sample['seconds']:.3f} s")
            if sample["seconds"] >= LONG_SECONDS or name in (once or set()):
                done.add(name)
    return results
