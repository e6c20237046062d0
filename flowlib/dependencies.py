"""``requires`` and ``inherits``: luigi.util's decorators, also taking one dict of named tasks.

Example:
    >>> import flowlib
    >>> class A(flowlib.TaskPickle):
    ...     pass
    >>> @flowlib.requires({"a": A})
    ... class B(flowlib.TaskPickle):
    ...     pass
    >>> B().requires()
    {'a': A()}
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import luigi
import luigi.util

from flowlib.errors import TaskDefinitionError

__all__ = ["requires", "inherits"]

T = TypeVar("T", bound=type)


def _split(tasks: tuple[Any, ...], decorator: str) -> tuple[tuple[type, ...], dict[str, type]]:
    if len(tasks) == 1 and isinstance(tasks[0], Mapping):
        named = dict(tasks[0])
        if not named:
            raise TaskDefinitionError(f"flowlib.{decorator}() got an empty dict; name at least one task class")
        classes: tuple[type, ...] = tuple(named.values())
    else:
        named, classes = {}, tasks
    if not classes:
        raise TaskDefinitionError(f"flowlib.{decorator}() needs task classes, e.g. @flowlib.{decorator}(GetData)")
    for cls in classes:
        if not (isinstance(cls, type) and issubclass(cls, luigi.Task)):
            raise TaskDefinitionError(
                f"flowlib.{decorator}() takes task classes or one dict of them, got {cls!r}; "
                "pass the class (GetData), not an instance (GetData())"
            )
    return (() if named else classes), named


def inherits(*tasks: Any) -> Callable[[T], T]:
    """Copy the parameters of ``tasks`` onto the decorated class (adds ``clone_parent(s)``)."""
    positional, named = _split(tasks, "inherits")
    return luigi.util.inherits(*positional, **named)  # type: ignore[no-any-return]


def requires(*tasks: Any) -> Callable[[T], T]:
    """Inherit the parameters of ``tasks`` and require them: one task, a list, or a dict of named tasks."""
    positional, named = _split(tasks, "requires")
    return luigi.util.requires(*positional, **named)  # type: ignore[no-any-return]
