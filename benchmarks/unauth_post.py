"""Benchmark: what an unauthenticated 16 MiB POST api/sessions from Colab's origin costs.

Run from the repository root::

    .venv/bin/python benchmarks/unauth_post.py [--body-mib 16] [--posts 3] [--json out.json]

The fourth security review's K1 (issue 23): a page on an allowed origin
without the token, or any local process claiming that origin, sends
``POST api/sessions`` with ``Origin: https://colab.research.google.com``,
no token and a large ``text/plain`` body (no preflight needed), to a server
with ``ColabBridge.kernel_map`` set. Before the fix the bridge parsed the
body on the event loop before authentication: +434 MiB and a 0.9 to 1.5 s
stall of every other client for 16 MiB.

It starts two real jupyter_servers as subprocesses (``bridge_bench``'s
``Server``): one with the bridge and a kernel map, and the same server
without the bridge, the reference. For each, it sends ``--posts`` such
requests, one at a time, and measures:

* the server's peak RSS growth during one request (median over the posts);
* another client's worst ``GET api/status`` latency while they are served
  (a prober in a process of its own, as in ``large_frames.py``).

It prints both and the ratios bridge/reference. Targets: growth below
64 MiB and worst latency below 0.5 s with the bridge. Figures of a shared
machine drift: compare the ratios within one run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from bridge_bench.common import MIB
from bridge_bench.process import PeakRss
from bridge_bench.server import Server
from large_frames import Prober

COLAB_ORIGIN = "https://colab.research.google.com"

#: The targets of issue 23 for the bridge's server.
TARGET_GROWTH_MB = 64 * MIB / 1e6
TARGET_WORST_MS = 500.0


def list_body(size: int) -> bytes:
    """``[{},{},...]`` of about ``size`` bytes: cheap to send, costly to parse."""
    return b"[" + b"{}," * (size // 3) + b"{}]"


async def unauthenticated_post(port: int, body: bytes) -> int:
    """One ``POST api/sessions`` as a page without the token sends it; its status."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = (
        f"POST /api/sessions HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Origin: {COLAB_ORIGIN}\r\nContent-Type: text/plain\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    writer.write(head.encode() + body)
    await writer.drain()
    status = int((await reader.readline()).split()[1])
    await reader.read()
    writer.close()
    return status


async def posts(server: Server, body: bytes, count: int, growth: list[float]) -> None:
    for _ in range(count):
        with PeakRss(server.pid) as rss:
            status = await unauthenticated_post(server.port, body)
        assert status in (403, 404), status  # refused (404: the reference judges the origin)
        growth.append(rss.growth_mb)


async def measure_one(server: Server, body: bytes, count: int) -> dict[str, float]:
    growth: list[float] = []
    worst_ms = await Prober(server).during(posts(server, body, count, growth))
    return {
        "peak_rss_growth_mb": round(statistics.median(growth), 1),
        "worst_ms": round(worst_ms, 1),
    }


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    body = list_body(int(args.body_mib * MIB))
    results: dict[str, Any] = {"body_mib": args.body_mib, "posts": args.posts}
    with tempfile.TemporaryDirectory() as tmp:
        for name, enabled in (("bridge", True), ("reference", False)):
            root = Path(tmp) / name
            root.mkdir()
            server = Server(root, bridge={"kernel_map": {"python3": "python3"}}, enabled=enabled)
            server.start()
            try:
                results[name] = await measure_one(server, body, args.posts)
            finally:
                server.stop()
    bridge, reference = results["bridge"], results["reference"]
    results["growth_ratio"] = round(
        bridge["peak_rss_growth_mb"] / max(reference["peak_rss_growth_mb"], 0.1), 2
    )
    results["worst_ratio"] = round(bridge["worst_ms"] / max(reference["worst_ms"], 0.1), 2)
    results["targets_met"] = (
        bridge["peak_rss_growth_mb"] < TARGET_GROWTH_MB and bridge["worst_ms"] < TARGET_WORST_MS
    )
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--body-mib", type=float, default=16.0)
    parser.add_argument("--posts", type=int, default=3)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    results = asyncio.run(measure(args))
    print(json.dumps(results, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
