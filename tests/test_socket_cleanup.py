"""Closed bridge sockets stop their ping timer at once: every ``on_close`` calls the mixin's.

jupyter_server's ``WebSocketMixin`` stops a socket's ping ``PeriodicCallback``
only at its next tick (``ws_ping_interval``, 30 s by default); until then the
timer keeps the closed handler (~11 KB) alive. Each bridge handler's
``on_close`` goes through ``BridgeHandlerMixin.on_close``, which stops it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from tests.helpers.bridge_client import KERNEL_SUBPROTOCOL, BridgeClient, connect

ROUNDS = 3


async def until(predicate: Any, seconds: float = 10) -> bool:
    for _ in range(int(seconds / 0.02)):
        if predicate():
            return True
        await asyncio.sleep(0.02)
    return bool(predicate())


def pinging(handler: Any) -> bool:
    ping = handler.ping_callback
    return ping is not None and ping.is_running()


async def open_and_close(url: str, pool: set[Any], **kwargs: Any) -> list[Any]:
    """Open a socket, note its server handler(s), close it; the handlers."""
    before = set(pool)
    ws = await connect(url, **kwargs)
    assert await until(lambda: bool(pool - before))
    handlers = list(pool - before)
    assert all(pinging(h) for h in handlers)
    ws.close()
    assert await until(lambda: not set(handlers) & pool)
    return handlers


async def test_closed_handlers_stop_pinging(
    url: Any, bridge_app: Any, jp_serverapp: Any, jp_base_url: str
) -> None:
    kernel_id = await jp_serverapp.kernel_manager.start_kernel()
    opened = bridge_app.open_connections
    closed: list[Any] = []
    for _ in range(ROUNDS):
        ws = await connect(url())
        assert (await BridgeClient(ws).request("GET", f"{jp_base_url}api/status")).status == 200
        ws.close()
        closed += await open_and_close(url(), opened)
        closed += await open_and_close(
            url("http_over_websocket/diagnose", token=None), bridge_app.diagnose_connections
        )
        closed += await open_and_close(
            url(f"http_over_websocket/proxied_ws/api/kernels/{kernel_id}/channels"),
            opened,
            subprotocols=[KERNEL_SUBPROTOCOL],
        )
        closed += await open_and_close(
            url("http_over_websocket/proxied_ws/api/events/subscribe"), opened
        )
    kinds = {type(h).__name__ for h in closed}
    assert kinds == {
        "HttpOverWebSocketHandler",
        "DiagnoseHandler",
        "KernelChannelsHandler",
        "ProxiedWebSocketHandler",
    }
    assert [type(h).__name__ for h in closed if pinging(h)] == []
    await jp_serverapp.kernel_manager.shutdown_kernel(kernel_id)
