"""Closed bridge sockets stop their ping timer at once, and no closed handler stays referenced.

jupyter_server's ``WebSocketMixin`` stops a socket's ping ``PeriodicCallback``
only at its next tick (``ws_ping_interval``, 30 s by default); until then the
timer keeps the closed handler (~11 KB) alive. Each bridge handler's
``on_close`` goes through ``BridgeSocket.on_close``, which stops it.

Two more holders outside the bridge are cut from its side (see
``BridgeSocket.forget_call_context`` and ``kernel_channels.release_handler``):
jupyter_server's ``CallContext`` copied into asyncio's cancelled timers, and the
kernel connection's never-cancelled ``give_up`` timer.
"""

from __future__ import annotations

import gc
import importlib
import inspect
import weakref
from typing import Any

from tests.helpers.bridge_client import KERNEL_SUBPROTOCOL, BridgeClient, KernelChannel, connected
from tests.helpers.probes import until

ROUNDS = 3


def pinging(handler: Any) -> bool:
    ping = handler.ping_callback
    return ping is not None and ping.is_running()


async def open_and_close(url: str, pool: set[Any], **kwargs: Any) -> list[Any]:
    """Open a socket, note its server handler(s), close it; the handlers."""
    before = set(pool)
    async with connected(url, **kwargs):
        assert await until(lambda: bool(pool - before))
        handlers = list(pool - before)
        assert all(pinging(h) for h in handlers)
    assert await until(lambda: not set(handlers) & pool)
    return handlers


async def test_closed_handlers_stop_pinging(
    url: Any, bridge_app: Any, jp_serverapp: Any, jp_base_url: str
) -> None:
    kernel_id = await jp_serverapp.kernel_manager.start_kernel()
    opened = bridge_app.open_connections
    closed: list[Any] = []
    for _ in range(ROUNDS):
        async with connected(url()) as ws:
            reply = await BridgeClient(ws).request("GET", f"{jp_base_url}api/status")
            assert reply.status == 200
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


HANDLER_CLASSES = (
    "jupyter_colab_bridge.server.handlers.HttpOverWebSocketHandler",
    "jupyter_colab_bridge.server.handlers.DiagnoseHandler",
    "jupyter_colab_bridge.server.kernel_channels.KernelChannelsHandler",
    "jupyter_colab_bridge.server.proxied_ws.ProxiedWebSocketHandler",
)


def record_handlers(monkeypatch: Any) -> list[weakref.ref[Any]]:
    """Wrap each bridge handler class's ``open`` to keep a weak reference to the handler."""
    refs: list[weakref.ref[Any]] = []
    for dotted in HANDLER_CLASSES:
        module, _, name = dotted.rpartition(".")
        cls = getattr(importlib.import_module(module), name)
        original = cls.open

        def recording_open(self: Any, *args: Any, _open: Any = original, **kwargs: Any) -> Any:
            refs.append(weakref.ref(self))
            return _open(self, *args, **kwargs)

        monkeypatch.setattr(cls, "open", recording_open)
    return refs


def holders(obj: Any, depth: int = 8) -> list[str]:
    """What refers to ``obj``, level by level, to name a leak's holder."""
    lines: list[str] = []
    seen = {id(obj)}
    frontier = [obj]
    ignore = {id(frontier)}
    for level in range(depth):
        found = []
        for item in frontier:
            for ref in gc.get_referrers(item):
                if id(ref) in seen or id(ref) in ignore or inspect.isframe(ref):
                    continue
                if isinstance(ref, list) and any(x is obj for x in ref):
                    continue  # the test's own list
                seen.add(id(ref))
                lines.append(f"{'  ' * level}{type(ref).__qualname__}: {repr(ref)[:100]}")
                found.append(ref)
        frontier = found[:12]
        ignore.add(id(frontier))
    return lines


async def test_closed_handlers_are_not_referenced(
    url: Any, bridge_app: Any, jp_serverapp: Any, jp_base_url: str, monkeypatch: Any
) -> None:
    refs = record_handlers(monkeypatch)
    kernel_id = await jp_serverapp.kernel_manager.start_kernel()
    for _ in range(ROUNDS):
        async with connected(url()) as ws:
            client = BridgeClient(ws)
            assert (await client.request("GET", f"{jp_base_url}api/status")).status == 200
            assert (await client.request("GET", f"{jp_base_url}api/kernels")).status == 200
        async with connected(url("http_over_websocket/diagnose", token=None)) as diagnose:
            diagnose.write_message("1")
            assert await diagnose.read_message() is not None
        async with connected(
            url(f"http_over_websocket/proxied_ws/api/kernels/{kernel_id}/channels"),
            subprotocols=[KERNEL_SUBPROTOCOL],
        ) as kernel:
            await KernelChannel(kernel).ready()
        async with connected(url("http_over_websocket/proxied_ws/api/events/subscribe")):
            pass
    # Every handler has seen its close; then each is released (or the wait ends and
    # the report below names what still holds it).
    assert await until(
        lambda: not bridge_app.open_connections and not bridge_app.diagnose_connections
    )
    assert len(refs) == 4 * ROUNDS
    await until(lambda: gc.collect() >= 0 and all(r() is None for r in refs), every=0.1)
    alive = [r() for r in refs if r() is not None]
    report = [f"{type(h).__name__}:\n" + "\n".join(holders(h)) for h in alive]
    del alive
    assert report == []
    await jp_serverapp.kernel_manager.shutdown_kernel(kernel_id)
