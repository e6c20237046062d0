"""Every cache flowlib keeps in a process, behind one ``reset()``.

flowlib caches only what it can check or what cannot change under it: completeness
verdicts (checked against the files they rest on before each reuse), code
fingerprints (read when a class is defined), storage clients, what was read of each
record log (a ``stat`` before each use says whether lines were added), and luigi's
parameter lists per class. ``reset()`` forgets them all, e.g. after reloading modules
in a notebook or changing files under a running process in ways a ``stat`` cannot see
(a record log edited by hand in place, before the last 512 bytes this process read).
Memory outputs and memory records are data, not caches: ``flowlib.targets.clear_memory``
and ``flowlib.record.memory_records.clear`` drop those.

Example:
    >>> import flowlib.caches
    >>> flowlib.caches.reset()
"""

from __future__ import annotations

from flowlib.completion import completion_cache
from flowlib.fingerprint import forget_code_fingerprints
from flowlib.record import forget_logs
from flowlib.speedups import forget_parameter_lists
from flowlib.storage import forget_storages

__all__ = ["reset"]


def reset() -> None:
    """Forget every cached verdict, fingerprint, storage client and parameter list of this process."""
    completion_cache.reset()
    forget_code_fingerprints(sources=False)  # a class keeps the source it was defined with
    forget_storages()
    forget_logs()
    forget_parameter_lists()
