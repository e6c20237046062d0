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
    "RemoteTaskError",
    "UnknownExperimentError",
]


class FlowlibError(Exception):
    """Base class of every error flowlib raises."""


class TaskDefinitionError(FlowlibError):
    """A task class is declared in a way flowlib cannot use (e.g. empty ``persist``)."""


class ParameterError(FlowlibError, TypeError):
    """A task parameter is unknown, missing, or got a value it does not accept.

    ``task`` (the task family), ``parameter`` (its name), ``value`` (what was given; absent for a
    missing parameter) and ``accepted`` (what it takes) say what was wrong.
    """

    def __init__(
        self, message: str, *, task: str = "", parameter: str = "", value: object = None, accepted: str = ""
    ) -> None:
        super().__init__(message)
        self.task = task
        self.parameter = parameter
        self.value = value
        self.accepted = accepted


class PersistKeyError(FlowlibError, KeyError):
    """Saved or loaded keys differ from the task's ``persist`` list."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class TargetFormatError(FlowlibError, TypeError):
    """A format cannot hold the object it was given."""


class UnknownExperimentError(FlowlibError, KeyError):
    """A :class:`~flowlib.WorkflowMulti` has no experiment of the name asked for."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


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


class RemoteTaskError(FlowlibError):
    """A task that failed in another process (a worker process, a luigi worker), as its traceback text.

    flowlib chains it as the cause of the task's exception, so Python prints the traceback once.
    """

    def __str__(self) -> str:
        return "\n\n" + (str(self.args[0]) if self.args else "")


class CorruptOutputError(FlowlibError):
    """An output file exists but cannot be read."""


class StorageError(FlowlibError, OSError):
    """The storage root cannot be created, written or read."""


class LockTimeoutError(FlowlibError):
    """Another process held a task's lock for longer than the wait allowed."""
