"""c) A file download: MB/s, the server's CPU and its peak RSS growth."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from .bridge_client import BridgeConn
from .common import MB, Deadline
from .context import BenchContext
from .http_client import RawHttp
from .process import PeakRss, server_cpu_seconds


async def download(
    ctx: BenchContext, name: str, size: int, tag: str, repeat: int = 1
) -> dict[str, Any]:
    """Best of ``repeat`` downloads a side, the sides taking turns (unless profiling)."""
    srv = ctx.server
    path = f"/files/{name}"
    bridge = await BridgeConn.open(srv, concurrent=False)
    raw = await RawHttp(srv.port, srv.headers).connect()
    deadline = Deadline(2 * ctx.sizes.budget)
    runs: dict[str, list[dict[str, Any]]] = {"bridge": [], "direct": []}

    async def once(side: str) -> None:
        cpu0 = server_cpu_seconds(srv.pid)
        with PeakRss(srv.pid) as mem:
            t0 = time.perf_counter()
            if side == "bridge":
                reply = await asyncio.wait_for(bridge.call("GET", path), deadline.left)
                status, nbytes = reply.status, reply.nbytes
                assert reply.max_chunk <= 65536, reply.max_chunk
            else:
                status, nbytes = await asyncio.wait_for(raw.get(path), deadline.left)
            elapsed = time.perf_counter() - t0
        assert status == 200 and nbytes == size, (status, nbytes)
        runs[side].append(
            {
                "seconds": elapsed,
                "rss_growth_mb": mem.growth_mb,
                "rss_mode": mem.mode,
                "server_cpu_s": server_cpu_seconds(srv.pid) - cpu0,
            }
        )

    try:
        if ctx.profiler.dir is not None:
            for side in runs:
                with ctx.profiler.run(f"{tag}_{side}"):
                    for _ in range(repeat):
                        await once(side)
        else:
            for i in range(repeat):
                for side in ("bridge", "direct") if i % 2 == 0 else ("direct", "bridge"):
                    if not deadline.passed:
                        await once(side)
    finally:
        bridge.close()
        raw.close()
    out: dict[str, Any] = {}
    for side, done in runs.items():
        assert done, "no download finished in time"
        best = min(r["seconds"] for r in done)
        out[side] = {
            "seconds": best,
            "mb_per_s": size / MB / best,
            "downloads": len(done),
            "rss_growth_mb": max(r["rss_growth_mb"] for r in done),
            "rss_mode": done[0]["rss_mode"],
            "server_cpu_s_per_download": sum(r["server_cpu_s"] for r in done) / len(done),
        }
    return out
