"""Change detection: the code fingerprint of a task class.

A task's fingerprint covers its own class and every user class it inherits from
(not flowlib's, luigi's or the standard library's), so a subclass that only
inherits ``run()`` changes when that ``run()`` does. Each class contributes:

* its source, parsed and dumped by ``ast`` so that comments, blank lines,
  formatting and docstrings do not count, when ``inspect`` can find it;
* otherwise (classes made in a notebook cell, with ``exec`` or ``type()``) its
  functions' bytecode, names and constants and its plain data attributes, all in
  a form that does not depend on ``PYTHONHASHSEED``, the process, or line numbers.

The source of a class is read once, when the class is defined, so a file edited
later cannot lend its new source to a class already loaded. Bytecode is read
when the fingerprint is first asked for, after the class is complete (a class
rebuilt from a pickle gets its methods only after it is created). A class
attribute ``version = "..."`` replaces its own part; on the task class itself it
replaces the whole fingerprint. ``code_parts()`` (a classmethod) may add strings
(e.g. the code of operations a task runs).

Example:
    >>> import flowlib
    >>> class A(flowlib.TaskPickle):
    ...     version = "1"
    >>> code_fingerprint(A)
    'version:1'
"""

from __future__ import annotations

import ast
import functools
import inspect
import sys
import textwrap
import threading
import types
import weakref
from collections.abc import Iterator
from typing import Any

from flowlib.hashing import hash_bytes

__all__ = ["code_fingerprint", "source_fingerprint", "pin_source", "pin_fingerprint", "forget_code_fingerprints"]

#: Prefix of every fingerprint made by this scheme (a change of scheme reruns each task once).
SCHEME = "code2"

_fingerprints: weakref.WeakKeyDictionary[type, str] = weakref.WeakKeyDictionary()
_sources: weakref.WeakKeyDictionary[type, str] = weakref.WeakKeyDictionary()
_lock = threading.RLock()  # Python 3.11's ast is not safe from several threads at once (CPython gh-106905)
_LIBRARY_ROOTS = {"flowlib", "luigi", "builtins", "abc", "typing"} | set(getattr(sys, "stdlib_module_names", ()))


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Module)):
            body = node.body
            first = body[0] if body else None
            value = first.value if isinstance(first, ast.Expr) else None
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return tree


def source_fingerprint(source: str) -> str:
    """Fingerprint of Python source, blind to comments, whitespace and docstrings.

    Example:
        >>> source_fingerprint("x = 1  # one") == source_fingerprint("x = 1")
        True
    """
    with _lock:
        tree = _strip_docstrings(ast.parse(textwrap.dedent(source)))
        dumped = ast.dump(tree, annotate_fields=False)
    return hash_bytes(dumped.encode("utf-8"))


def _is_library(cls: type) -> bool:
    return cls.__module__.partition(".")[0] in _LIBRARY_ROOTS


def _class_source(cls: type) -> str | None:
    try:
        return "ast:" + source_fingerprint(inspect.getsource(cls))
    except (OSError, TypeError, SyntaxError, IndentationError):
        return None


def pin_source(cls: type) -> None:
    """Read ``cls``'s source now, if it has one (called when a task class is defined)."""
    if "version" in cls.__dict__ or cls in _sources:
        return
    part = _class_source(cls)
    if part is not None:
        with _lock:
            _sources[cls] = part


def pin_fingerprint(cls: type, fingerprint: str) -> None:
    """Use ``fingerprint`` for ``cls`` in this process (a worker takes the one its parent planned with)."""
    with _lock:
        _fingerprints[cls] = fingerprint


# -- the bytecode form, for classes without source ------------------------------------------------
def _plain(value: Any) -> str | None:
    """A canonical text of plain data (``None`` for anything else), independent of hash seeds."""
    if value is None or isinstance(value, (bool, int, float, complex, str, bytes)):
        return repr(value)
    if isinstance(value, (tuple, list)):
        items = [_plain(v) for v in value]
        return None if None in items else f"{type(value).__name__}({','.join(items)})"  # type: ignore[arg-type]
    if isinstance(value, (set, frozenset)):
        items = [_plain(v) for v in value]
        return None if None in items else f"set({','.join(sorted(items))})"  # type: ignore[arg-type]
    if isinstance(value, dict):
        pairs = [(_plain(k), _plain(v)) for k, v in value.items()]
        if any(k is None or v is None for k, v in pairs):
            return None
        return "dict(" + ",".join(f"{k}:{v}" for k, v in pairs) + ")"
    if isinstance(value, type):
        return f"class {value.__module__}.{value.__qualname__}"
    return None


def _const(value: Any) -> bytes:
    if isinstance(value, types.CodeType):
        return _code_bytes(value)
    if isinstance(value, (tuple, frozenset)):
        inner = [_const(v) for v in value]
        if isinstance(value, frozenset):
            inner.sort()
        return b"(" + b",".join(inner) + b")"
    return repr(value).encode("utf-8", "backslashreplace")


def _code_bytes(code: types.CodeType, doc: str | None = None) -> bytes:
    consts = list(code.co_consts)
    if doc is not None and consts and consts[0] == doc:
        consts = consts[1:]  # docstrings do not count
    parts = [
        code.co_code,
        repr(code.co_names).encode(),
        repr(code.co_varnames).encode(),
        repr(code.co_freevars).encode(),
        repr((code.co_argcount, code.co_kwonlyargcount, code.co_flags)).encode(),
    ]
    parts.extend(_const(c) for c in consts)
    return b"\x00".join(parts)


def _functions(value: Any) -> Iterator[tuple[str, Any]]:
    """The functions behind a class attribute (methods, static/class methods, properties)."""
    if isinstance(value, (staticmethod, classmethod)):
        value = value.__func__
    if isinstance(value, property):
        for role in ("fget", "fset", "fdel"):
            func = getattr(value, role)
            if func is not None:
                yield from ((f"{role}.{n}", f) for n, f in _functions(func))
        return
    if isinstance(value, functools.partial):
        value = value.func
    seen = 0
    while hasattr(value, "__wrapped__") and seen < 10:  # flowlib wraps run(); decorators wrap others
        value = value.__wrapped__
        seen += 1
    if getattr(value, "__code__", None) is not None:
        yield "", value


def _bytecode_part(cls: type) -> str:
    items: list[bytes] = [f"class {cls.__qualname__}".encode()]
    for name in sorted(vars(cls)):
        value = vars(cls)[name]
        functions = list(_functions(value))
        if functions:
            for role, func in functions:
                items.append(f"{name}{role}=".encode() + _code_bytes(func.__code__, func.__doc__))
            continue
        if name.startswith("_"):
            continue  # luigi's and flowlib's bookkeeping; __doc__ does not count
        text = _plain(value)
        if text is not None:
            items.append(f"{name}={text}".encode())
    return "bc:" + hash_bytes(b"\x01".join(items))


def _own_part(cls: type) -> str:
    version = cls.__dict__.get("version")
    if version is not None:
        return f"version:{version}"
    part = _sources.get(cls)
    if part is None:
        part = _class_source(cls)
        if part is not None:
            _sources[cls] = part
    return part if part is not None else _bytecode_part(cls)


def _compute(cls: type) -> str:
    own_version = cls.__dict__.get("version")
    if own_version is not None:
        return f"version:{own_version}"
    parts = [f"{cls.__qualname__}={_own_part(cls)}"]
    parts.extend(f"{base.__qualname__}={_own_part(base)}" for base in cls.__mro__[1:] if not _is_library(base))
    extra = getattr(cls, "code_parts", None)
    if callable(extra):
        parts.extend(f"part={text}" for text in extra())
    return f"{SCHEME}:" + hash_bytes("\n".join(parts).encode("utf-8"))


def code_fingerprint(cls: type) -> str:
    """The fingerprint of a task class's code, or ``version:<v>`` when the class sets ``version``."""
    version = cls.__dict__.get("version")
    if version is not None:  # read each time: a version set after the class was made counts too
        return f"version:{version}"
    cached = _fingerprints.get(cls)
    if cached is None:
        with _lock:
            cached = _fingerprints.get(cls)
            if cached is None:
                cached = _fingerprints[cls] = _compute(cls)
    return cached


def forget_code_fingerprints(*, sources: bool = True) -> None:
    """Drop cached fingerprints, and with ``sources`` the sources read at class definition (after a reload)."""
    with _lock:
        _fingerprints.clear()
        if sources:
            _sources.clear()
