"""a) Sequential requests: the bridge (auth-URL flow) against HTTP keep-alive."""

from __future__ import annotations

import asyncio
import http.client
import socket
import time
from typing import Any

from .bridge_client import BridgeConn
from .common import Deadline, timed_loop
from .context import BenchContext
from .http_client import RawHttp
from .stats import summary_ms


async def latency(ctx: BenchContext, path: str, n: int, tag: str) -> dict[str, Any]:
    """``n`` sequential GETs of ``path`` a side; the direct figure is the faster client's."""
    srv = ctx.server
    bridge = await BridgeConn.open(srv, concurrent=False)
    raw = await RawHttp(srv.port, srv.headers).connect()
    sync = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    sync.connect()
    assert sync.sock is not None
    sync.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    async def via_bridge() -> None:
        reply = await bridge.call("GET", path)
        assert reply.status == 200, reply.status

    async def via_raw() -> None:
        status, _ = await raw.get(path)
        assert status == 200, status

    async def via_sync() -> None:
        sync.request("GET", path, headers=srv.headers)
        response = sync.getresponse()
        response.read()
        assert response.status == 200, response.status

    try:
        for once in (via_bridge, via_raw, via_sync):  # warm up
            for _ in range(min(20, n)):
                await once()
        if ctx.profiler.dir is not None:  # one side at a time, each profiled
            with ctx.profiler.run(f"{tag}_bridge"):
                b = await timed_loop(n, Deadline(ctx.sizes.budget), via_bridge)
            with ctx.profiler.run(f"{tag}_direct"):
                r = await timed_loop(n, Deadline(ctx.sizes.budget), via_raw)
            s = await timed_loop(n, Deadline(ctx.sizes.budget), via_sync)
        else:  # interleaved, so drift of this machine hits all sides alike
            b, r, s = [], [], []
            deadline = Deadline(3 * ctx.sizes.budget)
            for i in range(n):
                if deadline.passed:
                    break
                sides = ((via_bridge, b), (via_raw, r), (via_sync, s))
                for once, acc in sides if i % 2 else sides[::-1]:
                    t0 = time.perf_counter()
                    await asyncio.wait_for(once(), deadline.left)
                    acc.append(time.perf_counter() - t0)
    finally:
        bridge.close()
        raw.close()
        sync.close()
    raw_s, sync_s = summary_ms(r), summary_ms(s)
    direct = min(raw_s, sync_s, key=lambda x: x["median_ms"])
    return {
        "bridge": summary_ms(b),
        "direct": direct,
        "direct_asyncio": raw_s,
        "direct_http_client": sync_s,
    }
