"""How previews and run summaries show themselves: printed in a script, rendered by a notebook.

A value returned to an interactive shell (Jupyter, IPython, the ``python`` prompt) is shown by
the shell itself (HTML in a notebook, its ``repr`` at a prompt), so flowlib shows text only where
nobody else would show it: scripts and terminals running a program. Nothing shows twice.

What it shows goes through the ``flowlib.summary`` logger, whose own handler writes to standard
output. Raise that logger's level (or replace its handler) to silence or redirect previews and summaries:
``logging.getLogger("flowlib.summary").setLevel(logging.WARNING)``.

Example:
    >>> shown_by_shell()  # doctest: +SKIP
    False
"""

from __future__ import annotations

import logging
import sys
from typing import Any

__all__ = ["shown_by_shell", "in_notebook", "show", "summary_logger"]


class _Stdout(logging.StreamHandler):  # type: ignore[type-arg]
    """A handler writing to ``sys.stdout`` as it is at each message (redirections and captures apply)."""

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stdout

    @stream.setter
    def stream(self, _value: Any) -> None:
        """``StreamHandler.__init__`` sets a stream; this handler always looks the current one up."""


#: Where previews and run summaries go in scripts: standard output, unless configured otherwise.
summary_logger = logging.getLogger("flowlib.summary")
summary_logger.setLevel(logging.INFO)
summary_logger.addHandler(_Stdout())
summary_logger.propagate = False  # its own handler shows it; the root logger's would show it twice


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
    """Show ``text`` when ``enabled`` (default: only where no interactive shell will show the value)."""
    if enabled if enabled is not None else not shown_by_shell():
        summary_logger.info(text)
