"""Execution: the run transaction, and the backends that run a plan.

* :mod:`~flowlib.execution.transaction`: every ``run()`` is all-or-nothing and leaves a record;
* :mod:`~flowlib.execution.attempt`: one task under its lock, the check under the lock, retries;
* :mod:`~flowlib.execution.backend`: the :class:`Backend` interface and the one place a failure
  becomes an error;
* :mod:`~flowlib.execution.local` and :mod:`~flowlib.execution.luigid`: the two backends.
"""

from flowlib.execution.backend import Backend, Execution, RunOptions, failure_error
from flowlib.execution.local import LocalBackend
from flowlib.execution.luigid import LuigidBackend, normalise_url
from flowlib.execution.transaction import discard_outputs, run_transaction

__all__ = [
    "Backend",
    "Execution",
    "RunOptions",
    "LocalBackend",
    "LuigidBackend",
    "failure_error",
    "discard_outputs",
    "run_transaction",
    "normalise_url",
    "backend_for",
]


def backend_for(scheduler: str | None) -> Backend:
    """``luigid`` when a scheduler URL is given, else ``local``."""
    return LuigidBackend(scheduler) if scheduler else LocalBackend()
