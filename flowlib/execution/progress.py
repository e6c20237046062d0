"""Progress of a run: tasks done / total, the task(s) running now, elapsed time.

A tqdm bar (``pip install flowlib[progress]``) when stderr is a terminal or in a
notebook (a widget there when ipywidgets is installed, else tqdm's text bar, without
warnings); without tqdm, a plain line on stderr per task started and finished.
Silent when stderr is not a terminal (unless asked with ``progress=True``) and
with ``progress=False``. Every step is also logged at DEBUG / INFO.

Example:
    >>> import io
    >>> class T:
    ...     def get_task_family(self): return "Train"
    ...     def __str__(self): return "Train(scale=2.0)"
    >>> out = io.StringIO()
    >>> progress = Progress(1, enabled=True, stream=out, bar=False)
    >>> progress.start(T()); progress.done(T()); progress.close()
    >>> print(out.getvalue().replace("0.0s", "t"), end="")
    flowlib [0/1, t] running Train(scale=2.0)
    flowlib [1/1, t] done Train(scale=2.0)
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import sys
import time
from typing import IO, Any

from flowlib.display import in_notebook

__all__ = ["Progress"]

logger = logging.getLogger(__name__)


def _interactive(stream: IO[str]) -> bool:
    """A terminal, or a running Jupyter kernel (not merely ipykernel imported)."""
    if in_notebook():
        return True
    return bool(getattr(stream, "isatty", lambda: False)())


def _bar_class() -> Any:
    """tqdm's widget bar in a notebook with ipywidgets, else its text bar; ``None`` without tqdm.

    Chosen here rather than by ``tqdm.auto``, which warns (``TqdmWarning``) in a notebook without
    ipywidgets: the text bar draws there just as well.
    """
    try:
        from tqdm.std import tqdm
    except ImportError:
        return None
    if in_notebook() and importlib.util.find_spec("ipywidgets") is not None:
        with contextlib.suppress(ImportError):
            from tqdm.notebook import tqdm as notebook_tqdm

            return notebook_tqdm
    return tqdm


def _make_bar(total: int, stream: IO[str]) -> Any:
    bar = _bar_class()
    if bar is None:
        return None
    return bar(total=total, desc="flowlib", unit="task", leave=True, file=stream, dynamic_ncols=True)


class Progress:
    """Reports how far a run is.

    Args:
        total: how many tasks the run will decide (ran, skipped or failed).
        enabled: ``True`` always shows, ``False`` never, ``None`` only in a terminal or notebook.
        stream: where to draw (default: ``sys.stderr`` at the time of the call).
        bar: ``False`` uses the plain lines even when tqdm is installed.
    """

    def __init__(
        self, total: int, *, enabled: bool | None = None, stream: IO[str] | None = None, bar: bool = True
    ) -> None:
        self.total = total
        self.finished = 0
        self.failed = 0
        self.started = time.monotonic()
        self.running: dict[str, str] = {}
        self.stream: IO[str] = stream if stream is not None else sys.stderr
        show = _interactive(self.stream) if enabled is None else enabled
        self.visible = bool(show and total)
        self.bar: Any = _make_bar(total, self.stream) if self.visible and bar else None

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def _running_text(self) -> str:
        names = list(self.running.values())
        if not names:
            return ""
        shown = ", ".join(names[:2]) + (f" (+{len(names) - 2})" if len(names) > 2 else "")
        return f"running {shown}"

    def _refresh_bar(self) -> None:
        parts = [self._running_text()] + ([f"{self.failed} failed"] if self.failed else [])
        self.bar.set_postfix_str("; ".join(p for p in parts if p), refresh=True)

    def _line(self, what: str, task: Any) -> None:
        self.stream.write(f"flowlib [{self.finished}/{self.total}, {self.elapsed:.1f}s] {what} {task}\n")
        self.stream.flush()

    def start(self, task: Any) -> None:
        """``task`` starts running now."""
        logger.debug("running %s", task)
        if self.bar is not None:
            self.running[str(getattr(task, "task_id", id(task)))] = str(task.get_task_family())
            self._refresh_bar()
        elif self.visible:
            self._line("running", task)

    def done(self, task: Any, *, failed: bool = False) -> None:
        """``task`` is decided: it ran, was skipped, or failed (or could not run)."""
        self.finished += 1
        self.failed += int(failed)
        verdict = "failed" if failed else "done"
        if logger.isEnabledFor(logging.INFO):
            logger.info("[%d/%d, %.1fs] %s %s", self.finished, self.total, self.elapsed, verdict, task)
        if self.bar is not None:
            self.running.pop(str(getattr(task, "task_id", id(task))), None)
            self.bar.update(1)
            self._refresh_bar()
        elif self.visible:
            self._line(verdict, task)

    def close(self) -> None:
        """Finish the bar (it stays on screen with the final count)."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None
