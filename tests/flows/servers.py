"""Start and stop real servers on 127.0.0.1 for tests: luigi's ``luigid`` and moto's S3 server.

Each server gets a free port and its own files under a temporary directory, is polled
until it answers, and is always stopped by the caller (use them in fixtures).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

PYTHON_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def executable(name: str) -> str | None:
    """A console script of this environment (next to ``sys.executable``), else on PATH."""
    beside = PYTHON_BIN / name
    if beside.exists():
        return str(beside)
    return shutil.which(name)


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def log_text(self) -> str:
        logs = [self.log, self.log.parent / "logs" / "luigi-server.log"]
        return "\n".join(p.read_text(errors="replace") for p in logs if p.exists())


def _wait_until_answers(server: Server, probe: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"server exited with {server.process.returncode}:\n{server.log_text()}")
        try:
            with urllib.request.urlopen(probe, timeout=2) as response:
                if response.status < 500:
                    return
        except urllib.error.HTTPError as exc:
            if exc.code < 500:
                return
        except OSError:
            pass
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"server did not answer {probe} within {timeout}s:\n{server.log_text()}")


def start_luigid(directory: Path, *, config: str = "") -> Server:
    """A real ``luigid`` on 127.0.0.1 with its state and logs in ``directory``.

    ``config`` is the text of a luigi config file for it (e.g. ``[scheduler]`` options).
    """
    luigid = executable("luigid")
    if luigid is None:
        raise RuntimeError("luigid not found next to the Python executable nor on PATH (pip install luigi)")
    (directory / "logs").mkdir(parents=True, exist_ok=True)
    port = free_port()
    cfg = directory / "luigid.cfg"
    cfg.write_text(config)
    env = dict(os.environ, LUIGI_CONFIG_PATH=str(cfg))
    log = directory / "luigid.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [
                luigid,
                "--address",
                "127.0.0.1",
                "--port",
                str(port),
                "--state-path",
                str(directory / "state.pickle"),
                "--logdir",
                str(directory / "logs"),
            ],
            cwd=directory,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Server(process, f"http://127.0.0.1:{port}", log)
    _wait_until_answers(server, server.url + "/api/task_list?data=" + urllib.parse.quote('{"status": "DONE"}'))
    return server


def luigid_tasks(url: str, status: str) -> dict[str, Any]:
    """``{task_id: task}`` that luigid's API lists with ``status`` (DONE, FAILED, PENDING, RUNNING...)."""
    query = urllib.parse.quote(json.dumps({"status": status}))
    with urllib.request.urlopen(f"{url}/api/task_list?data={query}", timeout=10) as response:
        return dict(json.loads(response.read())["response"])


def start_moto(directory: Path) -> Server:
    """moto's S3-compatible server on 127.0.0.1 (``moto_server``, else ``python -m moto.server``)."""
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    moto = executable("moto_server")
    command = [moto] if moto else [sys.executable, "-m", "moto.server"]
    log = directory / "moto.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            command + ["-H", "127.0.0.1", "-p", str(port)], cwd=directory, stdout=out, stderr=subprocess.STDOUT
        )
    server = Server(process, f"http://127.0.0.1:{port}", log)
    _wait_until_answers(server, server.url + "/moto-api/")
    return server


#: Credentials moto accepts (any will do); the tests' S3 clients and flowlib roots use these.
KEY, SECRET, REGION = "testing-key", "testing-secret", "us-east-1"

needs_s3 = pytest.mark.skipif(
    any(importlib.util.find_spec(name) is None for name in ("moto", "s3fs", "boto3", "flask")),
    reason="moto[server], s3fs and boto3 are needed for the S3 tests",
)


@pytest.fixture(scope="session")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One moto S3 server for the session; each test makes buckets of its own (:func:`new_bucket`)."""
    server = start_moto(tmp_path_factory.mktemp("moto"))
    yield server
    server.stop()


def new_bucket(moto: Server, prefix: str) -> str:
    """A new, empty bucket on the moto server, named ``<prefix>-<random>``."""
    name = f"{prefix}-{uuid.uuid4().hex[:10]}"
    s3_client(moto).create_bucket(Bucket=name)
    return name


def s3_client(moto: Server) -> Any:
    """A boto3 S3 client talking to the moto server."""
    import boto3

    return boto3.client(
        "s3", endpoint_url=moto.url, aws_access_key_id=KEY, aws_secret_access_key=SECRET, region_name=REGION
    )


def s3_options(moto: Server) -> dict[str, Any]:
    """fsspec / s3fs storage options for the moto server."""
    return {"client_kwargs": {"endpoint_url": moto.url, "region_name": REGION}, "key": KEY, "secret": SECRET}
