"""The typed data of a dataflow: :class:`Definition` (a named type), :class:`Input` (a value of one), :class:`Stage`.

Example:
    >>> url = Definition("url", str)
    >>> Input("https://example.com", url).value
    'https://example.com'
    >>> Input(3, url)
    Traceback (most recent call last):
    ...
    flowlib.dataflow.errors.DefinitionError: value 3 (int) does not fit definition 'url' (primitive str); ...
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any

from flowlib.dataflow.errors import DefinitionError

__all__ = ["Definition", "Input", "Stage", "STAGES", "PRIMITIVES"]

#: Type names a :class:`Definition` accepts for ``primitive`` (DFFML's names included).
PRIMITIVES: dict[str, tuple[type, ...] | None] = {
    "any": None,
    "object": None,
    "str": (str,),
    "string": (str,),
    "int": (int,),
    "integer": (int,),
    "float": (float, int),
    "number": (float, int),
    "bool": (bool,),
    "boolean": (bool,),
    "bytes": (bytes,),
    "list": (list, tuple),
    "array": (list, tuple),
    "dict": (dict,),
    "map": (dict,),
}


class Stage(enum.Enum):
    """When an operation runs: ``PROCESSING`` until no new permutation is left, then ``CLEANUP``, then ``OUTPUT``."""

    PROCESSING = "processing"
    CLEANUP = "cleanup"
    OUTPUT = "output"


#: The stages in the order a context moves through them.
STAGES = (Stage.PROCESSING, Stage.CLEANUP, Stage.OUTPUT)


def _checker(name: str, primitive: type | str) -> tuple[str, Callable[[Any], bool]]:
    """The primitive's display name and a fast predicate for values of it."""
    if isinstance(primitive, str):
        key = primitive.strip().lower()
        if key not in PRIMITIVES:
            raise DefinitionError(
                f"definition {name!r}: unknown primitive {primitive!r}; "
                f"use a Python type or one of {sorted(PRIMITIVES)}"
            )
        types = PRIMITIVES[key]
        label = key
    elif isinstance(primitive, type):
        types = None if primitive is object else ((float, int) if primitive is float else (primitive,))
        label = primitive.__name__
    else:
        raise DefinitionError(f"definition {name!r}: primitive must be a Python type or a type name, got {primitive!r}")
    if types is None:
        return label, lambda value: True
    if bool not in types and int in types:  # True is an int to Python, not to a definition of numbers
        return label, lambda value: isinstance(value, types) and not isinstance(value, bool)
    return label, lambda value: isinstance(value, types)


class Definition:
    """A named data type: values of it feed every operation input of the same definition.

    ``primitive`` is a Python type (``int``, ``str``, a class) or a type name (``"int"``, ``"string"``,
    ``"map"``, ``"any"``, see :data:`PRIMITIVES`). ``lock=True``: two operations never hold the same
    value of this definition at once.

    Example:
        >>> Definition("count", int)
        Definition('count', int)
        >>> Definition("db", "any", lock=True).lock
        True
    """

    __slots__ = ("name", "primitive", "lock", "label", "accepts")

    def __init__(self, name: str, primitive: type | str, lock: bool = False) -> None:
        if not isinstance(name, str) or not name:
            raise DefinitionError(f"a definition's name is a non-empty string, got {name!r}")
        self.name = name
        self.primitive = primitive
        self.lock = bool(lock)
        self.label, self.accepts = _checker(name, primitive)

    def check(self, value: Any) -> Any:
        """Return ``value`` if it fits this definition's primitive, else raise :class:`DefinitionError`."""
        if not self.accepts(value):
            shown = repr(value)
            shown = shown if len(shown) <= 80 else shown[:77] + "..."
            raise DefinitionError(
                f"value {shown} ({type(value).__name__}) does not fit definition {self.name!r} "
                f"(primitive {self.label}); give a {self.label} or change the definition's primitive"
            )
        return value

    def _key(self) -> tuple[str, str, bool]:
        return (self.name, self.label, self.lock)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Definition) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        lock = ", lock=True" if self.lock else ""
        return f"Definition({self.name!r}, {self.label}{lock})"


class Input:
    """A value of a :class:`Definition`, given to a context (checked against the definition's primitive).

    Example:
        >>> Input(2, Definition("b", int))
        Input(2, 'b')
    """

    __slots__ = ("value", "definition")

    def __init__(self, value: Any, definition: Definition) -> None:
        if not isinstance(definition, Definition):
            raise DefinitionError(f"Input({value!r}, ...) needs a Definition, got {definition!r}")
        self.value = definition.check(value)
        self.definition = definition

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Input) and self.definition == other.definition and self.value == other.value

    def __hash__(self) -> int:
        return hash((self.definition, type(self.value).__name__, repr(self.value)))

    def __repr__(self) -> str:
        return f"Input({self.value!r}, {self.definition.name!r})"
