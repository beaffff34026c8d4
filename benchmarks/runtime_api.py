"""Benchmark: what one ``GET api/colab/resources`` costs (not part of the test run).

Run from the repository root::

    .venv/bin/python benchmarks/runtime_api.py [--kernels 3] [--calls 300] [--json]

It starts a real jupyter_server with the bridge as a subprocess (random port,
a token, a temporary root_dir, log level WARN) and ``--kernels`` real ipykernel
kernels, then measures from this process:

a) the collection itself, in this process (``ResourceCollector.collect`` for
   the server's kernels, cache bypassed), in microseconds, with its parts:
   the server's descendants' ``{pid: ppid}`` map, memory and kernels (the map included),
   disk, GPUs;
b) over HTTP (keep-alive, one request at a time): median milliseconds per call
   and the server's CPU per call (its process, threads included, kernels not),
   for ``GET api/status`` (the reference: the cheapest authenticated API call)
   and ``GET api/colab/resources`` with ``resources_max_age`` 0 (every call a
   fresh reading) and the default 0.5 (calls in a row mostly reuse one).
   The two endpoints take turns in blocks, so drift of a shared machine hits
   both alike; each ``resources_max_age`` is its own server.
"""

from __future__ import annotations

import argparse
import http.client
import json
import logging
import os
import platform
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import psutil

from jupyter_colab_bridge.runtime.gpus import GpuReader
from jupyter_colab_bridge.runtime.resources import (
    RESOURCES_MAX_AGE,
    KernelProcess,
    ResourceCollector,
    disk_figures,
    memory_figures,
    parent_pids,
)

TOKEN = "bench-t0ken"
BLOCK = 25  # calls of one endpoint before the other's turn


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    port: int
    root: Path

    def connection(self) -> http.client.HTTPConnection:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        conn.connect()
        assert conn.sock is not None
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def call(
    conn: http.client.HTTPConnection, method: str, path: str, body: bytes | None = None
) -> bytes:
    headers = {"Authorization": f"token {TOKEN}", "Content-Type": "application/json"}
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    data = response.read()
    if response.status >= 300:
        raise RuntimeError(f"{method} {path}: {response.status} {data[:200]!r}")
    return data


@contextmanager
def server(home: Path, max_age: float, kernels: int) -> Iterator[Server]:
    """A jupyter_server with the bridge and ``kernels`` running kernels."""
    home.mkdir(parents=True)
    config, root = home / "config", home / "root"
    config.mkdir()
    root.mkdir()
    (config / "jupyter_server_config.json").write_text(
        json.dumps({"ServerApp": {"jpserver_extensions": {"jupyter_colab_bridge": True}}})
    )
    env = dict(
        os.environ,
        JUPYTER_CONFIG_DIR=str(config),
        JUPYTER_DATA_DIR=str(home / "data"),
        JUPYTER_RUNTIME_DIR=str(home / "runtime"),
        JUPYTER_PLATFORM_DIRS="1",
        IPYTHONDIR=str(home / "ipython"),
    )
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "jupyter_server",
        "--no-browser",
        "--allow-root",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.root_dir={root}",
        f"--IdentityProvider.token={TOKEN}",
        "--ServerApp.log_level=WARN",
        f"--ColabBridge.resources_max_age={max_age}",
    ]
    with (home / "server.log").open("wb") as log:
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=root)
    srv = Server(proc, port, root)
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((home / "server.log").read_text()[-3000:])
            try:
                call(srv.connection(), "GET", "/api/status")
                break
            except OSError:
                time.sleep(0.2)
        conn = srv.connection()
        for _ in range(kernels):
            call(conn, "POST", "/api/kernels", b"{}")
        conn.close()
        yield srv
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def kernels_of(proc: subprocess.Popen[bytes]) -> list[KernelProcess]:
    """The server's kernel processes, found by their connection files."""
    found = []
    for child in psutil.Process(proc.pid).children():
        match = re.search(r"kernel-([\w-]+)\.json", " ".join(child.cmdline()))
        if match:
            found.append(KernelProcess(match.group(1), child.pid))
    return found


def per_call_us(work: Callable[[], Any], seconds: float = 1.0) -> tuple[float, float]:
    """(median, best) microseconds of ``work`` over batches of 10 run for about ``seconds``.

    The best batch is the cost on a quiet machine; the median includes what
    other jobs on a shared machine add.
    """
    work()
    times: list[float] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(times) < 5:
        started = time.perf_counter()
        for _ in range(10):
            work()
        times.append((time.perf_counter() - started) / 10)
    return statistics.median(times) * 1e6, min(times) * 1e6


def in_process(srv: Server) -> dict[str, Any]:
    """a) the collection and its parts, in this process."""
    log = logging.getLogger("bench")
    kernels = kernels_of(srv.proc)
    gpus = GpuReader(log)
    collector = ResourceCollector(str(srv.root), gpus, log)
    return {
        "kernels": len(kernels),
        "processes": len(psutil.pids()),
        "gpus": len(gpus.read()),
        "collect_us": per_call_us(lambda: collector.collect(kernels)),
        "ppid_map_us": per_call_us(parent_pids),
        "memory_and_kernels_us": per_call_us(lambda: memory_figures(kernels)),
        "disk_us": per_call_us(lambda: disk_figures(str(srv.root))),
        "gpus_us": per_call_us(gpus.read),
    }


def server_cpu(proc: subprocess.Popen[bytes]) -> float:
    times = psutil.Process(proc.pid).cpu_times()
    return float(times.user + times.system)


def over_http(srv: Server, calls: int, base_url: str = "/") -> dict[str, dict[str, float]]:
    """b) median latency and server CPU per call, both endpoints taking turns in blocks."""
    conn = srv.connection()
    paths = {"api/status": f"{base_url}api/status", "resources": f"{base_url}api/colab/resources"}
    for path in paths.values():  # warm up: first reading, NVML start, caches
        for _ in range(5):
            call(conn, "GET", path)
    latency: dict[str, list[float]] = {name: [] for name in paths}
    cpu: dict[str, float] = dict.fromkeys(paths, 0.0)
    for _ in range(max(1, calls // BLOCK)):
        for name, path in paths.items():
            cpu_before = server_cpu(srv.proc)
            for _ in range(BLOCK):
                started = time.perf_counter()
                body = call(conn, "GET", path)
                latency[name].append(time.perf_counter() - started)
            cpu[name] += server_cpu(srv.proc) - cpu_before
            if name == "resources":
                assert body.startswith(b")]}'\n")
    conn.close()
    return {
        name: {
            "median_ms": statistics.median(latency[name]) * 1e3,
            "server_cpu_ms_per_call": cpu[name] / len(latency[name]) * 1e3,
            "calls": len(latency[name]),
        }
        for name in paths
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kernels", type=int, default=3, help="kernels running (default 3)")
    parser.add_argument("--calls", type=int, default=300, help="HTTP calls per endpoint")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()

    results: dict[str, Any] = {
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "psutil": psutil.__version__,
        },
        "http": {},
    }
    with tempfile.TemporaryDirectory(prefix="runtime-api-bench-") as tmp:
        for max_age in (0.0, RESOURCES_MAX_AGE):
            with server(Path(tmp) / f"max-age-{max_age}", max_age, args.kernels) as srv:
                if max_age == 0.0:
                    results["in_process"] = in_process(srv)
                results["http"][f"max_age={max_age:g}"] = over_http(srv, args.calls)

    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    a = results["in_process"]
    print(
        f"Python {results['machine']['python']}, {results['machine']['cpus']} CPUs, "
        f"{a['processes']} processes, {a['kernels']} kernels, {a['gpus']} GPUs"
    )
    print("\na) one collection in-process (cache bypassed)   median us   best us")
    for key, label in (
        ("collect_us", "collect(): memory + kernels + disk + GPUs"),
        ("memory_and_kernels_us", "  memory + kernels' process trees"),
        ("ppid_map_us", "    of which the descendants' {pid: ppid} map"),
        ("disk_us", "  disk (root_dir)"),
        ("gpus_us", "  GPUs (NVML)"),
    ):
        median, best = a[key]
        print(f"   {label:<46} {median:8.1f} {best:9.1f}")
    print("\nb) over HTTP, one call at a time     median ms   server CPU ms/call  CPU vs status")
    for config, measures in results["http"].items():
        status = measures["api/status"]
        for name, m in measures.items():
            ratio = m["server_cpu_ms_per_call"] / status["server_cpu_ms_per_call"]
            print(
                f"   {name:<11} {config:<15} {m['median_ms']:10.3f} "
                f"{m['server_cpu_ms_per_call']:15.3f} {ratio:16.2f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
