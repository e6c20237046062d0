"""Speed-ups of luigi's task construction, in one place.

luigi rebuilds a class's parameter list with ``dir()`` on every call and computes a new
task's parameter values twice (for its instance cache, then in ``__init__``). Flows of
thousands of tasks pay for both; :class:`LuigiSpeedups` caches the first per class and
reuses the second, keeps the string parameters the ``task_id`` is made of (records store
them), and changes nothing else. Subclasses provide
:meth:`~LuigiSpeedups.checked_param_values` (flowlib's strict checks).

Example:
    >>> import flowlib
    >>> issubclass(flowlib.Task, LuigiSpeedups)
    True
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

import luigi

__all__ = ["LuigiSpeedups", "forget_parameter_lists", "luigi_param_values"]

# Weak: classes redefined in a notebook are not kept alive by this cache.
_PARAMS: weakref.WeakKeyDictionary[type, tuple[int, list[tuple[str, luigi.Parameter]]]] = weakref.WeakKeyDictionary()
_LAST_VALUES = threading.local()


def forget_parameter_lists() -> None:
    """Drop the cached parameter lists and values (``flowlib.caches.reset`` calls it)."""
    _PARAMS.clear()
    _LAST_VALUES.__dict__.clear()


def _same(args_a: Any, args_b: Any, kwargs_a: Any, kwargs_b: Any) -> bool:
    """The same argument objects (identity, not equality: ``1 == True`` must not match)."""
    if len(args_a) != len(args_b) or len(kwargs_a) != len(kwargs_b):
        return False
    if any(a is not b for a, b in zip(args_a, args_b)):
        return False
    return all(name in kwargs_b and kwargs_b[name] is value for name, value in kwargs_a.items())


def luigi_param_values(cls: type, params: Any, kwargs: Any) -> list[tuple[str, Any]]:
    """luigi's own ``get_param_values`` (no cache, no checks) for keyword arguments."""
    return luigi.Task.get_param_values.__func__(cls, params, (), kwargs)  # type: ignore[attr-defined, no-any-return]


class LuigiSpeedups(luigi.Task):  # type: ignore[misc]
    """``get_params`` cached per class; ``get_param_values`` and the ``task_id``'s string parameters once per task."""

    @classmethod
    def get_params(cls) -> list[tuple[str, luigi.Parameter]]:
        """luigi's parameter list, cached per class; rebuilt when the class gains attributes (``inherits``)."""
        size = len(cls.__dict__)
        entry = _PARAMS.get(cls)
        if entry is None or entry[0] != size:
            entry = (size, super().get_params())
            _PARAMS[cls] = entry
        return entry[1]

    @classmethod
    def checked_param_values(cls, params: Any, args: Any, kwargs: Any) -> list[tuple[str, Any]]:
        """The parameter values; subclasses check them (this one is luigi's)."""
        return super().get_param_values(params, args, kwargs)  # type: ignore[no-any-return]

    @classmethod
    def get_param_values(cls, params: Any, args: Any, kwargs: Any) -> list[tuple[str, Any]]:
        """:meth:`checked_param_values`, reused when luigi asks again with the very same argument objects."""
        last = getattr(_LAST_VALUES, "entry", None)
        if last is not None and last[0] is cls and last[1] is params and _same(last[2], args, last[3], kwargs):
            return list(last[4])
        checked = cls.checked_param_values(params, args, kwargs)
        _LAST_VALUES.entry = (cls, params, args, kwargs, checked)
        return list(checked)

    def to_str_params(self, only_significant: bool = False, only_public: bool = False) -> dict[str, str]:
        """luigi's; the significant public ones (what the ``task_id`` is made of) computed once, like the id."""
        if not (only_significant and only_public):
            return super().to_str_params(only_significant, only_public)  # type: ignore[no-any-return]
        cached = self.__dict__.get("_flowlib_id_params")
        if cached is None:
            cached = self.__dict__["_flowlib_id_params"] = super().to_str_params(True, True)
        return dict(cached)
