"""Any Python object, pickled with cloudpickle (lambdas and local classes included).

Loading a pickle runs code: load pickles only from roots you trust. The other
formats only ever parse data.
"""

from __future__ import annotations

import pickle
from typing import IO, Any

import cloudpickle

from flowlib.errors import TargetFormatError
from flowlib.targets.base import FileTarget, register_target

__all__ = ["PickleTarget"]


@register_target
class PickleTarget(FileTarget):
    """Any object, as a cloudpickle file (protocol 5)."""

    name = "pickle"
    suffix = ".pkl"
    unreadable_because = ", or it needs a module this process cannot import"

    streams = True

    def _write_stream(self, obj: Any, handle: IO[bytes]) -> None:
        try:
            cloudpickle.dump(obj, handle, protocol=5)
        except (pickle.PicklingError, TypeError, AttributeError, RecursionError) as exc:
            raise TargetFormatError(
                f"cannot pickle {type(obj).__name__}: {type(exc).__name__}: {exc}; save the data it holds "
                "instead of the object (e.g. not open files, locks or connections)"
            ) from exc

    def _read(self, source: str | IO[bytes]) -> Any:
        if isinstance(source, str):
            with open(source, "rb") as handle:
                return pickle.load(handle)
        return pickle.load(source)
