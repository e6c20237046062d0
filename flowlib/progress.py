"""Progress of a run: tasks done / total, the task running now, elapsed time.

A tqdm bar when tqdm is installed (``pip install flowlib[progress]``) and stderr
is a terminal or a notebook; otherwise a log line per finished task. Silent
with ``progress=False``.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

__all__ = ["Progress"]

logger = logging.getLogger(__name__)


def _interactive() -> bool:
    if "ipykernel" in sys.modules:
        return True
    stream = sys.stderr
    return bool(getattr(stream, "isatty", lambda: False)())


class Progress:
    """Reports how far a run is; ``enabled=None`` means "only in a terminal or notebook"."""

    def __init__(self, total: int, *, enabled: bool | None = None) -> None:
        self.total = total
        self.finished = 0
        self.failed = 0
        self.started = time.monotonic()
        self.bar: Any = None
        show = _interactive() if enabled is None else enabled
        if show and total:
            try:
                from tqdm.auto import tqdm
            except ImportError:
                self.bar = None
            else:
                self.bar = tqdm(total=total, desc="flowlib", unit="task", leave=True, file=sys.stderr)

    def start(self, task: Any) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(f"running {task.get_task_family()}", refresh=False)
        logger.debug("running %s", task)

    def done(self, task: Any, *, failed: bool = False) -> None:
        self.finished += 1
        self.failed += int(failed)
        if self.bar is not None:
            self.bar.update(1)
        logger.info("[%d/%d, %.1fs] %s %s", self.finished, self.total, time.monotonic() - self.started,
                    "failed" if failed else "done", task)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
