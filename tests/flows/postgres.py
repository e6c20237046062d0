"""A real PostgreSQL server for the tests: ``initdb`` + ``pg_ctl`` in a temporary folder.

The ``postgres_url`` fixture (session-scoped) starts one server on a free port of 127.0.0.1,
creates a database and yields its SQLAlchemy URL; the server stops at the end of the session.
As root (initdb refuses to run as root) the server runs as the ``postgres`` system user.
Where the server cannot start the tests are skipped, except in CI (``CI=true``), where they fail.
"""

from __future__ import annotations

import glob
import os
import pwd
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from flows.servers import free_port

__all__ = ["PostgresServer", "start_postgres", "postgres_url"]


def _binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(p.split("/")[4]))
    return candidates[-1] if candidates else None


@dataclass
class PostgresServer:
    data: Path
    port: int
    user: str | None
    pg_ctl: str
    url: str

    def stop(self) -> None:
        _run([self.pg_ctl, "-D", str(self.data), "stop", "-m", "fast", "-w"], self.user, check=False)
        shutil.rmtree(self.data.parent, ignore_errors=True)


def _run(command: list[str], user: str | None, check: bool = True) -> subprocess.CompletedProcess[str]:
    if user is not None:
        if shutil.which("runuser"):
            command = ["runuser", "-u", user, "--", *command]
        else:
            command = ["su", user, "-s", "/bin/sh", "-c", shlex.join(command)]
    return subprocess.run(command, capture_output=True, text=True, check=check, timeout=120)


def start_postgres(database: str = "flowlib_test") -> PostgresServer:
    """Start a throwaway server; raises ``RuntimeError`` (with the server's log) when it cannot."""
    initdb, pg_ctl = _binary("initdb"), _binary("pg_ctl")
    if initdb is None or pg_ctl is None:
        raise RuntimeError("initdb / pg_ctl not found (install the postgresql package)")
    user = None
    if os.geteuid() == 0:
        user = "postgres"
        try:
            pwd.getpwnam(user)
        except KeyError:
            subprocess.run(["useradd", "--system", "--no-create-home", user], check=True, capture_output=True)
    base = Path(tempfile.mkdtemp(prefix="flowlib-pg-"))
    data, sockets = base / "data", base / "sock"
    sockets.mkdir()
    if user is not None:
        entry = pwd.getpwnam(user)
        for path in (base, sockets):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    port = free_port()
    try:
        _run([initdb, "-D", str(data), "-U", "flowlib", "--auth=trust", "-E", "UTF8", "--no-sync"], user)
        options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
        started = _run([pg_ctl, "-D", str(data), "-o", options, "-l", str(base / "server.log"), "-w", "start"], user)
        del started
    except subprocess.CalledProcessError as exc:
        log = (base / "server.log").read_text(errors="replace") if (base / "server.log").exists() else ""
        shutil.rmtree(base, ignore_errors=True)
        raise RuntimeError(f"PostgreSQL did not start: {exc.stderr}\n{log}") from exc
    server = PostgresServer(data, port, user, pg_ctl, f"postgresql+psycopg://flowlib@127.0.0.1:{port}/{database}")
    import psycopg

    with psycopg.connect(f"host=127.0.0.1 port={port} user=flowlib dbname=postgres", autocommit=True) as conn:
        # A natural-language collation (a < B), so that tests see flowlib's code-point order win over it.
        try:
            conn.execute(
                f"CREATE DATABASE \"{database}\" TEMPLATE template0 ENCODING 'UTF8' "
                "LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C'"
            )
        except psycopg.Error:
            conn.execute(f'CREATE DATABASE "{database}"')
    return server


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """The SQLAlchemy URL of a fresh database on a PostgreSQL server started for this session."""
    try:
        server = start_postgres()
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"PostgreSQL must run in CI: {exc}")
        pytest.skip(f"PostgreSQL is not available here: {exc}")
    try:
        yield server.url
    finally:
        server.stop()
