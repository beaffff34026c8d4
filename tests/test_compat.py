"""The private names of other packages the bridge still uses (``jupyter_colab_bridge._compat``).

Each test fails, naming the package, when an upgrade renames or removes the
name, or changes what it is; and the bridge keeps working on its public
fallback when the name is gone.
"""

from __future__ import annotations

import asyncio
import base64
import contextvars
import json
import socket
import weakref
from typing import Any

import pytest
import tornado
import traitlets
from jupyter_server import CallContext
from tornado.websocket import WebSocketProtocol13
from traitlets import HasTraits, Instance

from jupyter_colab_bridge import _compat
from jupyter_colab_bridge.protocol.frames import LARGE_FRAME_CHARS
from jupyter_colab_bridge.server import large_text, nodelay
from jupyter_colab_bridge.server.backlog import WriteBacklog
from jupyter_colab_bridge.server.large_text import LargeTextProtocol
from jupyter_colab_bridge.server.tunnel import Tunnel
from tests.helpers.bridge_client import BridgeClient, connect


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_nothing_is_missing() -> None:
    """Every private name resolved on the installed versions (else: see the lines)."""
    assert _compat.missing() == []


def test_call_context_map_is_jupyter_servers() -> None:
    """``CallContext._name_value_map``: the map CallContext.set writes, readable here."""

    def inside() -> dict[str, Any] | None:
        CallContext.set("colab-bridge-probe", 42)
        return _compat.call_context_map()

    names = contextvars.copy_context().run(inside)
    assert names is not None, "jupyter_server's CallContext._name_value_map is gone or changed"
    assert names.get("colab-bridge-probe") == 42


def test_call_context_map_outside_a_request() -> None:
    assert contextvars.Context().run(_compat.call_context_map) is None


async def test_a_handshake_works_without_the_call_context(
    url: Any, jp_base_url: str, monkeypatch: pytest.MonkeyPatch, server_log: Any
) -> None:
    """A rename upstream does not turn every handshake into a 500 (issue 24)."""
    monkeypatch.setattr(_compat, "_CALL_CONTEXT_VAR", None)
    ws = await connect(url())
    try:
        reply = await BridgeClient(ws).request("GET", f"{jp_base_url}api/status")
        assert reply.status == 200
    finally:
        ws.close()


def test_a_missing_call_context_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_compat, "_CALL_CONTEXT_VAR", None)
    assert [line for line in _compat.missing() if "CallContext._name_value_map" in line]


# -- what replaced a private name ------------------------------------------------------
UPGRADE = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13"}


HANDSHAKE = {**UPGRADE, "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}


async def test_a_refusal_states_the_standard_phrase(fetch: Any, token: str) -> None:
    """The phrase comes from ``http.client.responses`` (as jupyter_server's), not ``_reason``."""
    headers = {**HANDSHAKE, "Origin": "https://evil.example"}
    response = await fetch(f"http_over_websocket?token={token}", headers=headers)
    assert (response.code, response.body) == (403, b"403 Forbidden\n")


async def test_a_refusal_states_the_errors_own_reason(
    fetch: Any, bridge_app: Any, open_bridge: Any, token: str
) -> None:
    bridge_app.max_connections = 1
    await open_bridge()  # takes the one place
    response = await fetch(f"http_over_websocket?token={token}", headers=HANDSHAKE)
    assert (response.code, response.body) == (503, b"503 Too many bridge connections\n")


async def test_the_write_backlog_counts_pending_writes() -> None:
    """What replaced tornado's ``stream._write_buffer``: the bytes of unfinished writes."""
    backlog = WriteBacklog()
    loop = asyncio.get_running_loop()
    first, second = loop.create_future(), loop.create_future()
    backlog.track(first, "x" * 10)
    backlog.track(second, b"y" * 5)
    assert backlog.bytes == 15
    first.set_result(None)
    await asyncio.sleep(0)  # done callbacks run on the loop's next step
    assert backlog.bytes == 5
    second.set_exception(ConnectionError("closed"))  # a closed socket frees its bytes too
    second.exception()
    await asyncio.sleep(0)
    assert backlog.bytes == 0


# -- tornado's frame loop: _read_bytes and _handle_message ------------------------------
def test_tornados_frame_steps_are_there() -> None:
    """``WebSocketProtocol13._read_bytes(n)`` and ``._handle_message(opcode, data)`` exist."""
    assert _compat.FRAME_HOOKS, (
        f"tornado {tornado.version} changed WebSocketProtocol13._read_bytes or "
        "._handle_message: see jupyter_colab_bridge/_compat.py"
    )


async def upload_through(url: Any, jp_base_url: str, bridge_app: Any) -> Any:
    """Save and read back a file whose request frame is large; the socket's protocol."""
    client = BridgeClient(await connect(url()))
    try:
        (handler,) = bridge_app.open_connections
        data = b"\x00\xff" * LARGE_FRAME_CHARS
        body = json.dumps({"type": "file", "format": "base64", "content": b64(data)})
        path = f"{jp_base_url}api/contents/compat.bin"
        saved = await client.request("PUT", path, body_base64=b64(body.encode()))
        assert saved.status == 201
        got = await client.request("GET", f"{path}?type=file&format=base64")
        assert base64.b64decode(got.json()["content"]) == data
        return handler.ws_connection
    finally:
        client.ws.close()


async def test_a_large_frame_goes_through_the_hooks(
    url: Any, jp_base_url: str, bridge_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    taken: list[int] = []
    submit = Tunnel.submit_text_bytes

    def spy(self: Tunnel, data: bytes) -> Any:
        taken.append(len(data))
        return submit(self, data)

    monkeypatch.setattr(Tunnel, "submit_text_bytes", spy)
    protocol = await upload_through(url, jp_base_url, bridge_app)
    assert type(protocol) is LargeTextProtocol
    assert taken and all(n > LARGE_FRAME_CHARS for n in taken), "tornado decoded the frame"


async def test_without_the_hooks_tornado_reads_large_frames(
    url: Any, jp_base_url: str, bridge_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fallback when tornado changes: its own protocol, correct but on the loop."""
    monkeypatch.setattr(large_text, "FRAME_HOOKS", False)
    protocol = await upload_through(url, jp_base_url, bridge_app)
    assert type(protocol) is WebSocketProtocol13


def test_missing_frame_steps_are_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_compat, "FRAME_HOOKS", False)
    assert [line for line in _compat.missing() if "_handle_message" in line]


# -- traitlets: _trait_values ------------------------------------------------------------
class Holder(HasTraits):
    held = Instance(object, allow_none=False)


class Held:
    """Something a trait holds (weak-referenceable)."""


def test_a_trait_that_refuses_none_can_be_forgotten() -> None:
    """``HasTraits._trait_values``: where jupyter_server's connection keeps its handler."""
    assert _compat.TRAIT_VALUES, (
        f"traitlets {traitlets.__version__} no longer keeps trait values in _trait_values"
    )
    held = Held()
    gone = weakref.ref(held)
    holder = Holder(held=held)
    del held
    assert gone() is not None
    assert _compat.forget_trait(holder, "held")
    assert gone() is None, "the object still holds the trait's value"


def test_missing_trait_values_are_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_compat, "TRAIT_VALUES", False)
    assert not _compat.forget_trait(Holder(held=object()), "held")
    assert [line for line in _compat.missing() if "_trait_values" in line]


# -- TCP_NODELAY: set_nodelay on the bridge's sockets, a transform for the server's own ----
async def test_the_bridges_sockets_set_nodelay_themselves(
    url: Any, bridge_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``WebSocketHandler.set_nodelay`` in ``open``, with the transform's mark turned off."""
    monkeypatch.setattr(nodelay, "nodelay_on_detach", lambda connection, log: None)
    ws = await connect(url())
    try:
        (handler,) = bridge_app.open_connections
        sock = handler.ws_connection.stream.socket
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        ws.close()


def test_nodelay_adds_no_router_rule(jp_serverapp: Any) -> None:
    """The mark for jupyter_server's own sockets is an output transform, not a router rule."""
    web_app = jp_serverapp.web_app
    assert any(issubclass(t, nodelay.NoDelayTransform) for t in web_app.transforms)
    targets = [rule.target for rule in web_app.default_router.rules]
    assert not [t for t in targets if type(t).__module__ == nodelay.__name__]
