"""Shared fixtures: every test gets its own output root and a clean memory store."""

from __future__ import annotations

import pytest
from flows.postgres import postgres_url  # noqa: F401 - a real PostgreSQL server (sources tests)
from flows.servers import moto  # noqa: F401 - a real S3-compatible server (remote tests)

import flowlib
from flowlib.targets import clear_memory


@pytest.fixture(autouse=True)
def flowlib_root(tmp_path, monkeypatch):
    """Point flowlib at a fresh directory for each test."""
    monkeypatch.delenv("FLOWLIB_DIR", raising=False)
    monkeypatch.delenv("FLOWLIB_SCHEDULER", raising=False)
    root = tmp_path / "flowlib-data"
    flowlib.set_dir(root)
    clear_memory()
    yield root
    flowlib.set_dir(None)
    clear_memory()
