"""d) Execute round trips and e) kernel output, through the bridge, direct and ZMQ."""

from __future__ import annotations

import time
import uuid
from functools import partial
from typing import Any, Union
from urllib.parse import quote, urlencode

from .common import KERNEL_SUBPROTOCOL, MB, Deadline, timed_loop
from .context import BenchContext
from .kernel_clients import WsKernel, ZmqKernel
from .stats import summary_ms
from .websocket import ws_connect

OUTPUT_CHUNK = 65536

KernelClient = Union[WsKernel, ZmqKernel]


def output_code(total: int, chunk: int = OUTPUT_CHUNK) -> tuple[str, int]:
    """A cell that prints about ``total`` bytes in flushed writes of ``chunk``; and its length."""
    count = total // chunk
    code = (
        "import sys\n"
        f"_s = 'x' * {chunk - 1} + '\\n'\n"
        f"for _ in range({count}):\n"
        "    sys.stdout.write(_s); sys.stdout.flush()\n"
    )
    return code, count * chunk


async def kernel_socket(ctx: BenchContext, via_bridge: bool) -> WsKernel:
    """The kernel's channels: through ``proxied_ws`` or jupyter_server's own WebSocket."""
    srv = ctx.server
    session = uuid.uuid4().hex
    rel = f"api/kernels/{ctx.kernel_id}/channels?session_id={session}"
    if via_bridge:
        auth = f"http://127.0.0.1:{srv.port}/?token={quote(srv.token)}"
        url = f"ws://127.0.0.1:{srv.port}/http_over_websocket/proxied_ws/{rel}&" + urlencode(
            {"jupyter_http_over_ws_auth_url": auth}
        )
        ws = await ws_connect(url, [KERNEL_SUBPROTOCOL])
    else:
        url = f"ws://127.0.0.1:{srv.port}/{rel}"
        ws = await ws_connect(url, [KERNEL_SUBPROTOCOL], headers=srv.headers)
    return WsKernel(ws)


async def start_kernel(ctx: BenchContext) -> None:
    """Start the run's kernel and wait until it answers."""
    ctx.kernel_id = ctx.server.start_kernel()
    ws = await kernel_socket(ctx, False)
    await ws.execute("pass", 60)  # the kernel is ready
    ws.close()


async def execute_rtt(ctx: BenchContext, rounds: int = 4) -> dict[str, Any]:
    """Blocks of round trips, the three sides taking turns (one socket open at a time)."""
    n = ctx.sizes.d_round_trips
    per_block = max(1, n // rounds)
    times: dict[str, list[float]] = {"bridge": [], "direct": [], "zmq": []}
    deadline = Deadline(3 * ctx.sizes.budget)
    for _ in range(rounds):
        for side in times:
            client: KernelClient
            if side == "zmq":
                client = ZmqKernel(ctx.connection_file())
            else:
                client = await kernel_socket(ctx, side == "bridge")
            try:
                for _ in range(3):
                    await client.execute("pass", 30)
                with ctx.profiler.run(f"d_{side}"):
                    times[side] += await timed_loop(
                        per_block, deadline, partial(client.execute, "pass", 30)
                    )
            finally:
                client.close()
    return {side: summary_ms(t) for side, t in times.items()}


async def output_rate(ctx: BenchContext, rounds: int = 3) -> dict[str, Any]:
    """Best of ``rounds`` a side, the sides taking turns."""
    code, total = output_code(ctx.sizes.e_bytes)
    best: dict[str, float] = {}
    deadline = Deadline(2 * ctx.sizes.budget)
    for i in range(rounds):
        for side in ("bridge", "direct") if i % 2 == 0 else ("direct", "bridge"):
            if deadline.passed and side in best:
                continue
            client = await kernel_socket(ctx, side == "bridge")
            try:
                await client.execute("print('warm')", 30)
                with ctx.profiler.run(f"e_{side}_{i}"):
                    t0 = time.perf_counter()
                    seen = await client.execute(code, deadline.left + 10)
                    elapsed = time.perf_counter() - t0
                assert seen == total, (seen, total)
                best[side] = min(best.get(side, elapsed), elapsed)
            finally:
                client.close()
    return {
        side: {"seconds": t, "mb_per_s": total / MB / t, "rounds": rounds}
        for side, t in best.items()
    }
