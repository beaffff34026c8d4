"""Benchmark: the port proxy against a direct request to the same app (not part of the test run).

Run from the repository root::

    .venv/bin/python benchmarks/port_proxy.py [--calls 400] [--mib 64] [--rounds 3] [--json]

It starts, as subprocesses, a real jupyter_server with the bridge (random
port, a token, log level WARN) and a small tornado app on another loopback
port (``--serve-target``, the same routes as the tests' app), then measures
from this process, each measure direct (``127.0.0.1:<app>``) and through
``{base_url}_proxy/<app>/`` (with ``Authorization: token``), taking turns
in blocks so that drift of a shared machine hits both alike:

a) latency: median milliseconds of ``GET /hello`` (a small JSON reply), one
   request at a time on a keep-alive connection (the proxy opens a new
   connection to the app per request); for scale, the same for the server's
   cheapest authenticated call, ``GET api/status`` (``api_status_ms``), and
   the server's CPU per call (its process, user and system) for both
   (``server_cpu_ms``: less swayed by a busy machine than wall time);
b) download: MB/s of one ``GET /bytes?n=<mib> MiB``;
c) upload: MB/s of one ``POST /upload`` of ``<mib>`` MiB (the app hashes it);
d) WebSocket: median milliseconds of a 100-byte echo round trip, and MB/s
   of 1 MiB binary echoes.

Each figure is the median of ``--rounds`` rounds; the ratio is proxy / direct
(for times) or proxy / direct throughput, so 1.0 is "as fast as direct".
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from bridge_bench.common import free_port
from bridge_bench.server import Server

BLOCK = 20


def serve_target(port: int) -> None:
    """The app (the tests' own), in its own process: ``--serve-target <port>``."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tornado.ioloop import IOLoop

    from tests.helpers.port_apps import TargetApp

    TargetApp(port)
    IOLoop.current().start()


def wait_listening(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 90
    while True:
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(log.read_text()[-3000:])
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextmanager
def processes(home: Path) -> Iterator[tuple[Server, int]]:
    """The server with the bridge (bridge_bench's) and the app's port, both listening."""
    server = Server(home)
    app_port = free_port()
    app_log = home / "app.log"
    with app_log.open("wb") as alog:
        app = subprocess.Popen(
            [sys.executable, __file__, "--serve-target", str(app_port)],
            stdout=alog,
            stderr=subprocess.STDOUT,
        )
    try:
        server.start()
        wait_listening(app_port, app, app_log)
        yield server, app_port
    finally:
        server.stop()
        stop(app)


class Way:
    """One way to the app: direct, or through the proxy."""

    def __init__(self, name: str, port: int, prefix: str, headers: dict[str, str]) -> None:
        self.name, self.port, self.prefix, self.headers = name, port, prefix, headers

    def connection(self) -> http.client.HTTPConnection:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        conn.connect()
        assert conn.sock is not None
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn

    def call(
        self, conn: http.client.HTTPConnection, method: str, path: str, body: bytes | None = None
    ) -> bytes:
        conn.request(method, self.prefix + path, body=body, headers=self.headers)
        response = conn.getresponse()
        data = response.read()
        if response.status != 200:
            raise RuntimeError(f"{self.name} {method} {path}: {response.status} {data[:200]!r}")
        return data


def latency_ms(ways: list[tuple[Way, str]], calls: int) -> list[float]:
    """Median ms of ``GET <path>`` for each (way, path), in turns of ``BLOCK`` calls."""
    conns = [way.connection() for way, _ in ways]
    times: list[list[float]] = [[] for _ in ways]
    for (way, path), conn in zip(ways, conns):
        way.call(conn, "GET", path)  # warm up
    while len(times[0]) < calls:
        for (way, path), conn, spent in zip(ways, conns, times):
            for _ in range(BLOCK):
                started = time.perf_counter()
                way.call(conn, "GET", path)
                spent.append(time.perf_counter() - started)
    return [statistics.median(t) * 1e3 for t in times]


def server_cpu_ms(way: Way, path: str, pid: int, calls: int) -> float:
    """The server process's CPU (user and system) per ``GET <path>``, in ms."""
    import psutil

    server = psutil.Process(pid)
    conn = way.connection()
    way.call(conn, "GET", path)
    before = server.cpu_times()
    for _ in range(calls):
        way.call(conn, "GET", path)
    after = server.cpu_times()
    spent = (after.user - before.user) + (after.system - before.system)
    return spent / calls * 1e3


def download_mbs(way: Way, size: int) -> float:
    conn = way.connection()
    started = time.perf_counter()
    data = way.call(conn, "GET", f"/bytes?n={size}")
    elapsed = time.perf_counter() - started
    assert len(data) == size
    return size / elapsed / 1e6


def upload_mbs(way: Way, body: bytes) -> float:
    conn = way.connection()
    started = time.perf_counter()
    answer = json.loads(way.call(conn, "POST", "/upload", body))
    elapsed = time.perf_counter() - started
    assert answer["size"] == len(body)
    return len(body) / elapsed / 1e6


async def websocket_figures(way: Way, echoes: int, mib: int) -> tuple[float, float]:
    from tornado.httpclient import HTTPRequest
    from tornado.websocket import websocket_connect

    url = f"ws://127.0.0.1:{way.port}{way.prefix}/ws"
    ws = await websocket_connect(HTTPRequest(url, headers=way.headers), max_message_size=1 << 24)
    try:
        times = []
        for _ in range(echoes):
            started = time.perf_counter()
            await ws.write_message("x" * 100)
            await ws.read_message()
            times.append(time.perf_counter() - started)
        block = os.urandom(1 << 20)
        started = time.perf_counter()
        for _ in range(mib):
            await ws.write_message(block, binary=True)
            assert await ws.read_message() == block
        elapsed = time.perf_counter() - started
    finally:
        ws.close()
    return statistics.median(times) * 1e3, mib * (1 << 20) / elapsed / 1e6


def one_round(ways: list[Way], calls: int, mib: int, pid: int) -> dict[str, dict[str, float]]:
    size = mib * (1 << 20)
    body = os.urandom(size)
    figures: dict[str, dict[str, float]] = {w.name: {} for w in ways}
    direct, proxy = ways
    api = Way("api", proxy.port, "", proxy.headers)
    hello = [(direct, "/hello"), (proxy, "/hello"), (api, "/api/status")]
    direct_ms, proxy_ms, api_ms = latency_ms(hello, calls)
    figures["direct"]["latency_ms"], figures["proxy"]["latency_ms"] = direct_ms, proxy_ms
    figures["direct"]["api_status_ms"] = figures["proxy"]["api_status_ms"] = api_ms
    # CPU: the proxied call against the server's own cheapest call (the "direct" column)
    figures["direct"]["server_cpu_ms"] = server_cpu_ms(api, "/api/status", pid, calls)
    figures["proxy"]["server_cpu_ms"] = server_cpu_ms(proxy, "/hello", pid, calls)
    for way in ways:
        figures[way.name]["download_mbs"] = download_mbs(way, size)
        figures[way.name]["upload_mbs"] = upload_mbs(way, body)
        ws_ms, ws_mbs = asyncio.run(websocket_figures(way, calls // 2, min(mib, 32)))
        figures[way.name]["ws_echo_ms"] = ws_ms
        figures[way.name]["ws_mbs"] = ws_mbs
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--mib", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    parser.add_argument("--serve-target", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_target:
        serve_target(args.serve_target)
        return
    with tempfile.TemporaryDirectory() as tmp, processes(Path(tmp)) as (server, app):
        ways = [
            Way("direct", app, "", {}),
            Way("proxy", server.port, f"/_proxy/{app}", server.headers),
        ]
        rounds = [one_round(ways, args.calls, args.mib, server.pid) for _ in range(args.rounds)]
    measures = list(rounds[0]["proxy"])
    result: dict[str, Any] = {
        "machine": f"{os.cpu_count()} CPUs, Python {platform.python_version()}",
        "rounds": args.rounds,
        "mib": args.mib,
    }
    print(f"port proxy against direct: {result['machine']}, medians of {args.rounds} rounds")
    print(f"{'measure':<14} {'direct':>10} {'proxy':>10} {'ratio':>7}")
    for measure in measures:
        direct = statistics.median(r["direct"][measure] for r in rounds)
        proxy = statistics.median(r["proxy"][measure] for r in rounds)
        if measure == "api_status_ms":  # the server's own, for scale: no ratio
            result[measure] = proxy
            print(f"{measure:<14} {'':>10} {proxy:>10.3f}   (the server's own GET api/status)")
            continue
        result[measure] = {"direct": direct, "proxy": proxy, "ratio": proxy / direct}
        note = (
            "  (direct: the server's CPU for GET api/status)" if measure == "server_cpu_ms" else ""
        )
        print(f"{measure:<14} {direct:>10.3f} {proxy:>10.3f} {proxy / direct:>7.2f}{note}")
    if args.json:
        print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
