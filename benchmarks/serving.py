"""Load on the gateway, side by side with a bare ASGI floor: ``python -m benchmarks.serving [--smoke]``.

Trains a small scikit-learn model (iris), pushes it to a temporary registry and starts two
uvicorn servers on 127.0.0.1, each in its own process:

- the **gateway**: ``flowlib.serving.app(registry)``, the whole stack (routing, content
  negotiation, registry lookup with its refresh, the thread pool, JSON errors);
- the **floor**: a bare ASGI callable that decodes the body, calls the same model and encodes
  the answer in a worker thread, as the gateway does (the least any such server must do).

The same client (httpx, ``--clients`` concurrent connections on one asyncio loop) sends
``--requests`` POSTs of ``--rows`` rows to each, alternating in rounds so both see the same
machine load, and prints p50, p99 and throughput for both, and the gateway/floor throughput
ratio (the target is at least 0.8). Any failed request is counted and printed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
PROJECT = "iris"
TARGET = 0.8


# -- the servers (each run in a child process) ------------------------------------------------
def floor_app(registry: str) -> Any:
    """The floor: decode, the same model, encode (in a worker thread); no routing, negotiation or lookups."""
    import anyio.to_thread

    from flowlib.io import get_decoder, get_encoder
    from flowlib.models import Registry

    model = Registry(registry).load(PROJECT)
    decoder, encoder = get_decoder("application/json"), get_encoder()
    header = encoder.encoding.header.encode()

    def answer(body: bytes) -> bytes:
        return encoder.dumps(model.predict(decoder.loads(body)))

    async def application(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        if scope["path"] == "/health":
            payload = b'{"status":"ok"}'
        else:  # off the event loop, as the gateway does: the same execution model, none of its work
            payload = await anyio.to_thread.run_sync(answer, body)
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", header)]})
        await send({"type": "http.response.body", "body": payload})

    return application


def _serve(kind: str, registry: str, port: int) -> None:
    import uvicorn

    from flowlib.serving import app

    application = app(registry) if kind == "gateway" else floor_app(registry)
    uvicorn.run(application, host="127.0.0.1", port=port, log_level="warning", access_log=False)


# -- the client ----------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(kind: str, registry: str) -> tuple[subprocess.Popen[bytes], str]:
    import httpx

    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.serving", "--serve", kind, "--registry", registry, "--port", str(port)],
        cwd=REPO,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:  # a child process: poll until it answers (bounded)
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"the {kind} server did not start")
        time.sleep(0.05)


async def _load(url: str, body: bytes, requests: int, clients: int) -> tuple[list[float], float, list[str]]:
    """Send ``requests`` POSTs from ``clients`` concurrent connections; latencies (s), wall time, errors."""
    import httpx

    latencies: list[float] = []
    errors: list[str] = []
    counter = iter(range(requests))
    headers = {"Content-Type": "application/json"}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:

        async def worker() -> None:
            for _ in counter:
                started = time.perf_counter()
                try:
                    response = await client.post(f"/models/{PROJECT}/predict", content=body, headers=headers)
                    if response.status_code != 200:
                        errors.append(f"{response.status_code} {response.text[:200]}")
                except httpx.HTTPError as exc:
                    errors.append(repr(exc))
                latencies.append(time.perf_counter() - started)

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        return latencies, time.perf_counter() - began, errors


def _prepare(folder: str, rows: int) -> tuple[str, bytes]:
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    import flowlib
    from flowlib.models import Registry, from_estimator

    class BenchIris(flowlib.TaskParquet):
        def run(self) -> None:
            self.save(load_iris(as_frame=True).frame)

    @flowlib.requires(BenchIris)
    class BenchModel(from_estimator(LogisticRegression, label="target", name="BenchModelBase")):  # type: ignore[misc]
        pass

    flowlib.set_dir(Path(folder) / "flows")
    task = BenchModel(max_iter=500)
    flowlib.run(task)
    registry = str(Path(folder) / "registry")
    Registry(registry).push(task, PROJECT, "1.0")
    frame = load_iris(as_frame=True).frame.drop(columns="target")
    body = frame.sample(rows, replace=True, random_state=0).to_json(orient="records").encode()
    return registry, body


def _cpu_busy() -> tuple[float, float] | None:
    """(busy, total) CPU jiffies of the whole machine, from /proc/stat."""
    try:
        fields = [float(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields) - idle, sum(fields)


def _summary(name: str, latencies: list[float], wall: float, errors: int) -> dict[str, float | str | int]:
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(round(0.99 * len(ordered))) - 1)]
    return {
        "name": name,
        "requests": len(latencies),
        "errors": errors,
        "p50_ms": statistics.median(ordered) * 1000,
        "p99_ms": p99 * 1000,
        "throughput": len(latencies) / wall,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.serving", description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests per server (default 2000)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (default 8)")
    parser.add_argument("--rows", type=int, default=10, help="rows per request (default 10)")
    parser.add_argument("--rounds", type=int, default=4, help="alternating rounds per server (default 4)")
    parser.add_argument("--smoke", action="store_true", help="200 requests in 2 rounds: seconds")
    parser.add_argument("--serve", choices=["gateway", "floor"], help=argparse.SUPPRESS)
    parser.add_argument("--registry", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        _serve(args.serve, args.registry, args.port)
        return 0
    if args.smoke:
        args.requests, args.rounds = 200, 2
    with tempfile.TemporaryDirectory(prefix="flowlib-serving-bench-") as folder:
        registry, body = _prepare(folder, args.rows)
        servers = {kind: _start(kind, registry) for kind in ("gateway", "floor")}
        results: dict[str, tuple[list[float], float, list[str]]] = {k: ([], 0.0, []) for k in servers}
        load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else -1.0
        cpu_before = _cpu_busy()
        try:
            for _kind, (_, url) in servers.items():  # warm up: connections, model load, caches
                asyncio.run(_load(url, body, max(20, args.requests // 20), args.clients))
            per_round = max(1, args.requests // args.rounds)
            for round_number in range(args.rounds):
                order = list(servers) if round_number % 2 == 0 else list(reversed(servers))
                for kind in order:
                    latencies, wall, errors = asyncio.run(_load(servers[kind][1], body, per_round, args.clients))
                    total = results[kind]
                    results[kind] = (total[0] + latencies, total[1] + wall, total[2] + errors)
        finally:
            for process, _ in servers.values():
                process.terminate()
                process.wait(10)
        cpu_after = _cpu_busy()
    load_after = os.getloadavg()[0] if hasattr(os, "getloadavg") else -1.0
    rows = [_summary(kind, *results[kind][:2], len(results[kind][2])) for kind in ("gateway", "floor")]
    print(
        f"serving benchmark: {args.requests} requests per server, {args.clients} concurrent clients, "
        f"{args.rows} rows per request, {args.rounds} alternating rounds, loopback"
    )
    print(f"{'server':<8} {'requests':>8} {'errors':>6} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8}")
    for row in rows:
        print(
            f"{row['name']:<8} {row['requests']:>8} {row['errors']:>6} {row['p50_ms']:>8.2f} "
            f"{row['p99_ms']:>8.2f} {row['throughput']:>8.0f}"
        )
    ratio = float(rows[0]["throughput"]) / float(rows[1]["throughput"])
    p50_ratio = float(rows[0]["p50_ms"]) / float(rows[1]["p50_ms"])
    print(
        f"gateway / floor: throughput {ratio:.2f}x (target >= {TARGET}x: {'met' if ratio >= TARGET else 'MISSED'}), "
        f"p50 latency {p50_ratio:.2f}x"
    )
    busy = ""
    if cpu_before and cpu_after and cpu_after[1] > cpu_before[1]:
        busy = f", machine CPU busy {100 * (cpu_after[0] - cpu_before[0]) / (cpu_after[1] - cpu_before[1]):.0f}%"
    print(f"contention: load average {load_before:.2f} before, {load_after:.2f} after on {os.cpu_count()} CPUs{busy}")
    for kind in ("gateway", "floor"):
        for error in results[kind][2][:5]:
            print(f"{kind} error: {error}")
    return 0 if all(row["errors"] == 0 for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
