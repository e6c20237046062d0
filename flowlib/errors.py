"""One exception family: every flowlib error is a :class:`FlowlibError`."""

from __future__ import annotations

__all__ = [
    "FlowlibError",
    "TaskDefinitionError",
    "ParameterError",
    "PersistKeyError",
    "TargetFormatError",
    "TaskIncompleteError",
    "DependencyCycleError",
    "TaskFailedError",
    "CorruptOutputError",
    "StorageError",
    "LockTimeoutError",
]


class FlowlibError(Exception):
    """Base class of every error flowlib raises."""


class TaskDefinitionError(FlowlibError):
    """A task class is declared in a way flowlib cannot use (e.g. empty ``persist``)."""


class ParameterError(FlowlibError, TypeError):
    """A task parameter got a value of the wrong type."""


class PersistKeyError(FlowlibError, KeyError):
    """Saved or loaded keys differ from the task's ``persist`` list."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class TargetFormatError(FlowlibError, TypeError):
    """A format cannot hold the object it was given."""


class TaskIncompleteError(FlowlibError):
    """Outputs were requested from a task that has not been run."""


class DependencyCycleError(FlowlibError):
    """``requires()`` forms a cycle."""


class TaskFailedError(FlowlibError):
    """A task raised inside ``run()``; ``traceback`` holds the original traceback text."""

    def __init__(self, message: str, *, task: object = None, traceback: str = "") -> None:
        super().__init__(message)
        self.task = task
        self.traceback = traceback


class CorruptOutputError(FlowlibError):
    """An output file exists but cannot be read."""


class StorageError(FlowlibError, OSError):
    """The storage root cannot be created, written or read."""


class LockTimeoutError(FlowlibError):
    """Another process held a task's lock for longer than the wait allowed."""
