"""Change detection: the code fingerprint of a task class.

The fingerprint is a hash of the class's own source, parsed and dumped by
``ast`` so that comments, blank lines, formatting and docstrings do not count.
A class attribute ``version = "..."`` replaces it.

Example:
    >>> import flowlib
    >>> class A(flowlib.TaskPickle):
    ...     version = "1"
    >>> code_fingerprint(A)
    'version:1'
"""

from __future__ import annotations

import ast
import inspect
import textwrap
import threading
import types
from typing import Any

from flowlib.hashing import hash_bytes

__all__ = ["code_fingerprint", "source_fingerprint"]

_cache: dict[type, str] = {}
_lock = threading.Lock()


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
    """Fingerprint of Python source, blind to comments, whitespace and docstrings."""
    tree = _strip_docstrings(ast.parse(textwrap.dedent(source)))
    return hash_bytes(ast.dump(tree, annotate_fields=False).encode("utf-8"))


def _code_bytes(code: types.CodeType) -> bytes:
    parts = [code.co_code, repr(code.co_names).encode(), repr(code.co_varnames).encode()]
    for const in code.co_consts:
        parts.append(_code_bytes(const) if isinstance(const, types.CodeType) else repr(const).encode())
    return b"\x00".join(parts)


def _bytecode_fingerprint(cls: type) -> str:
    """Fallback when the source is not available (e.g. classes built with ``exec``)."""
    parts: list[bytes] = []
    for name in sorted(vars(cls)):
        value: Any = vars(cls)[name]
        func = getattr(value, "__wrapped__", value)
        code = getattr(func, "__code__", None)
        if code is not None:
            parts.append(name.encode() + b"=" + _code_bytes(code))
    return "bytecode:" + hash_bytes(b"\x01".join(parts))


def code_fingerprint(cls: type) -> str:
    """The fingerprint of a task class's code, or ``version:<v>`` when it sets ``version``."""
    version = getattr(cls, "version", None)
    if version is not None:
        return f"version:{version}"
    cached = _cache.get(cls)
    if cached is None:
        with _lock:  # Python 3.11's ast is not safe from several threads at once (CPython gh-106905)
            cached = _cache.get(cls)
            if cached is None:
                try:
                    cached = source_fingerprint(inspect.getsource(cls))
                except (OSError, TypeError, SyntaxError, IndentationError):
                    cached = _bytecode_fingerprint(cls)
                _cache[cls] = cached
    return cached


def forget_code_fingerprints() -> None:
    """Drop cached fingerprints (after reloading a module in the same process)."""
    _cache.clear()
