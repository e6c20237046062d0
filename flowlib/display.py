"""How previews and run summaries show themselves: printed in a script, rendered by a notebook.

A value returned to an interactive shell (Jupyter, IPython, the ``python`` prompt) is shown by
the shell itself (HTML in a notebook, its ``repr`` at a prompt), so flowlib prints only where
nobody else would show it: scripts and terminals running a program. Nothing shows twice.

Example:
    >>> shown_by_shell()  # doctest: +SKIP
    False
"""

from __future__ import annotations

import sys

__all__ = ["shown_by_shell", "in_notebook", "show"]


def _ipython_app() -> str:
    """The kind of IPython shell running this code ("" when there is none)."""
    ipython = sys.modules.get("IPython")
    get = getattr(ipython, "get_ipython", None)
    shell = get() if get is not None else None
    if shell is None:
        return ""
    config = getattr(shell, "config", {}) or {}
    if "IPKernelApp" in config or "ipykernel" in type(shell).__module__:
        return "kernel"
    return "terminal"


def in_notebook() -> bool:
    """Whether this code runs in a Jupyter kernel (a notebook, JupyterLab, VS Code...)."""
    return "ipykernel" in sys.modules and _ipython_app() == "kernel"


def shown_by_shell() -> bool:
    """Whether an interactive shell shows returned values itself (a notebook, IPython, ``>>>``)."""
    return bool(_ipython_app()) or hasattr(sys, "ps1")


def show(text: str, enabled: bool | None = None) -> None:
    """Print ``text`` when ``enabled`` (default: only where no interactive shell will show the value)."""
    if enabled if enabled is not None else not shown_by_shell():
        print(text, flush=True)
