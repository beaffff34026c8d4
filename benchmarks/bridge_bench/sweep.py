"""``--sweep``: a) across body sizes and b) across requests in flight."""

from __future__ import annotations

import os
from typing import Any

from .common import MB
from .context import BenchContext
from .latency import latency
from .throughput import throughput


async def sweep(ctx: BenchContext) -> dict[str, Any]:
    out: dict[str, Any] = {"size": {}, "in_flight": {}}
    sizes = [(1_000, 100), (64_000, 100), (1 * MB, 20), (10 * MB, 5)]
    for size, n in sizes:
        name = f"s{size}.bin"
        (ctx.server.root / name).write_bytes(os.urandom(size))
        print(f"sweep: {size} byte bodies ...", flush=True)
        lat = await latency(ctx, f"/files/{name}", n, f"sweep_a_{size}")
        out["size"][str(size)] = {
            "bridge_median_ms": lat["bridge"]["median_ms"],
            "direct_median_ms": lat["direct"]["median_ms"],
            "bridge_mb_per_s": size / MB / (lat["bridge"]["median_ms"] / 1000),
            "direct_mb_per_s": size / MB / (lat["direct"]["median_ms"] / 1000),
        }
    for k in (1, 8, 64):
        print(f"sweep: {k} in flight ...", flush=True)
        t = await throughput(ctx, "/api/status", max(200, 25 * k), k, f"sweep_b_{k}")
        out["in_flight"][str(k)] = {
            "bridge_req_per_s": t["bridge"]["req_per_s"],
            "direct_req_per_s": t["direct"]["req_per_s"],
        }
    return out
