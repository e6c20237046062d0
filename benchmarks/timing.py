"""Inside a benchmark subprocess: time (and optionally profile) exactly the measured region.

Example:
    >>> with measured() as clock:
    ...     total = sum(range(1000))
    >>> clock.seconds >= 0
    True
"""

from __future__ import annotations

import contextlib
import os
import resource
import time
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["Clock", "cpu_now", "measured", "PROFILE_ENV", "rss_bytes", "peak_bytes", "reset_peak", "maxrss_bytes"]

#: When set, the measured region is profiled with cProfile and the stats dumped to this path.
PROFILE_ENV = "FLOWLIB_BENCH_PROFILE"


@dataclass
class Clock:
    """Wall time and CPU time (user + system of this process) of the measured block."""

    seconds: float = 0.0
    cpu_seconds: float = 0.0


def cpu_now() -> float:
    """User + system CPU seconds this process has used so far."""
    times = os.times()
    return times.user + times.system


@contextlib.contextmanager
def measured() -> Iterator[Clock]:
    """Time the block with ``perf_counter``; profile it when ``$FLOWLIB_BENCH_PROFILE`` names a file."""
    clock = Clock()
    profile_path = os.environ.get(PROFILE_ENV)
    profiler = None
    if profile_path:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    started, cpu_started = time.perf_counter(), cpu_now()
    try:
        yield clock
    finally:
        clock.seconds = time.perf_counter() - started
        clock.cpu_seconds = cpu_now() - cpu_started
        if profiler is not None and profile_path:
            profiler.disable()
            profiler.dump_stats(profile_path)


def _status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def rss_bytes() -> int | None:
    """This process's resident memory now (Linux), else ``None``."""
    kib = _status_kib("VmRSS")
    return None if kib is None else kib * 1024


def peak_bytes() -> int | None:
    """This process's peak resident memory since start or the last :func:`reset_peak` (Linux)."""
    kib = _status_kib("VmHWM")
    return None if kib is None else kib * 1024


def reset_peak() -> bool:
    """Reset the peak-RSS mark (Linux ``clear_refs``); ``False`` where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        return False
    return True


def maxrss_bytes() -> int:
    """Peak resident memory of this process since it started (``getrusage``)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
