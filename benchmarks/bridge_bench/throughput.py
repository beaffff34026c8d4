"""b) Requests in flight: one bridge socket against one keep-alive connection per request."""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

from .bridge_client import BridgeConn
from .common import Deadline
from .context import BenchContext
from .http_client import RawHttp
from .process import server_cpu_seconds


async def throughput(
    ctx: BenchContext, path: str, n: int, in_flight: int, tag: str
) -> dict[str, Any]:
    """``n`` GETs of ``path`` with ``in_flight`` at once: req/s and server CPU per request."""
    srv = ctx.server
    bridge = await BridgeConn.open(srv)
    conns = [await RawHttp(srv.port, srv.headers).connect() for _ in range(in_flight)]
    try:

        async def run_bridge(n: int) -> int:
            counter = itertools.count()
            deadline = Deadline(ctx.sizes.budget)

            async def worker() -> None:
                while next(counter) < n and not deadline.passed:
                    reply = await asyncio.wait_for(bridge.request("GET", path), deadline.left)
                    assert reply.status == 200, reply.status

            await asyncio.gather(*(worker() for _ in range(in_flight)))
            return min(n, next(counter) - in_flight)

        async def run_direct(n: int) -> int:
            counter = itertools.count()
            deadline = Deadline(ctx.sizes.budget)

            async def worker(conn: RawHttp) -> None:
                while next(counter) < n and not deadline.passed:
                    status, _ = await asyncio.wait_for(conn.get(path), deadline.left)
                    assert status == 200, status

            await asyncio.gather(*(worker(c) for c in conns))
            return min(n, next(counter) - in_flight)

        out = {}
        for side, run in (("bridge", run_bridge), ("direct", run_direct)):
            await run(2 * in_flight)  # warm up
            cpu0 = server_cpu_seconds(srv.pid)
            with ctx.profiler.run(f"{tag}_{side}"):
                t0 = time.perf_counter()
                done = await run(n)
                elapsed = time.perf_counter() - t0
            cpu = server_cpu_seconds(srv.pid) - cpu0
            out[side] = {
                "requests": done,
                "seconds": elapsed,
                "req_per_s": done / elapsed,
                "server_cpu_us_per_request": 1e6 * cpu / max(1, done),
            }
        return out
    finally:
        bridge.close()
        for c in conns:
            c.close()
