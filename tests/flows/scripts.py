"""Running a script or module the way a user would: a fresh Python process, in a folder of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

__all__ = ["REPO", "run_python"]

REPO = Path(__file__).resolve().parents[2]


def run_python(args: list[str], cwd: Path, *, timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``python args`` in ``cwd``, outputs under ``cwd/data``, this checkout importable; fail with its output.

    flowlib's ``FLOWLIB_*`` variables and luigi's config of the calling process are not passed on;
    ``env`` adds variables of its own or replaces these (``PYTHONPATH=...``).
    """
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("FLOWLIB_", "LUIGI_CONFIG"))}
    environ.update(FLOWLIB_DIR=str(cwd / "data"), PYTHONPATH=str(REPO), PYTHONDONTWRITEBYTECODE="1")
    environ.update(env)
    done = subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=environ,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, f"{args} failed:\n{done.stdout}\n{done.stderr}"
    return done
