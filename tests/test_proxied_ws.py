"""proxied_ws: kernel channels (in-process) and other WebSockets (relayed)."""

from __future__ import annotations

import json
import socket
from typing import Any, ClassVar

import pytest
from tornado import websocket

from jupyter_colab_bridge.server.base import extension_app
from tests.helpers.bridge_client import (
    KERNEL_SUBPROTOCOL,
    BridgeClient,
    KernelChannel,
    connect,
    connected,
    handshake_status,
    start_kernel,
    wait_closed,
)
from tests.helpers.probes import until


async def start_session(open_bridge: Any, jp_base_url: str) -> tuple[BridgeClient, dict[str, Any]]:
    """A bridge socket (the ``open_bridge`` fixture) and a new notebook session."""
    client = await open_bridge(params={"min_version": "0.0.7"})
    body = {"path": "colab.ipynb", "type": "notebook", "name": "", "kernel": {"name": "python3"}}
    reply = await client.request("POST", f"{jp_base_url}api/sessions", body=json.dumps(body))
    assert reply.status == 201, reply.body
    return client, reply.json()


@pytest.mark.parametrize("subprotocols", [[KERNEL_SUBPROTOCOL], None])
async def test_colab_like_session(
    url: Any, open_bridge: Any, jp_base_url: str, subprotocols: list[str] | None
) -> None:
    client, session = await start_session(open_bridge, jp_base_url)
    kernel_id = session["kernel"]["id"]
    async with connected(
        url(
            f"http_over_websocket/proxied_ws/api/kernels/{kernel_id}/channels",
            params={"session_id": session["id"]},
        ),
        subprotocols=subprotocols,
    ) as ws:
        assert ws.selected_subprotocol == (KERNEL_SUBPROTOCOL if subprotocols else None)
        kernel = KernelChannel(ws)
        stdout, reply, _ = await kernel.execute("print(6*7)")
        assert stdout == "42\n" and reply["status"] == "ok"
    deleted = await client.request("DELETE", f"{jp_base_url}api/sessions/{session['id']}")
    assert deleted.status == 204


async def test_kernel_socket_has_tcp_nodelay(
    url: Any, open_bridge: Any, jp_base_url: str, jp_serverapp: Any
) -> None:
    _client, session = await start_session(open_bridge, jp_base_url)
    async with connected(
        url(f"http_over_websocket/proxied_ws/api/kernels/{session['kernel']['id']}/channels"),
        subprotocols=[KERNEL_SUBPROTOCOL],
    ) as ws:
        await KernelChannel(ws).execute("1")
        local_port = ws.protocol.stream.socket.getsockname()[1]
        found = []
        for handler in list(extension_app(jp_serverapp.web_app.settings).open_connections):
            sock = handler.ws_connection.stream.socket
            if sock.getpeername()[1] == local_port:
                found.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        assert found and all(found)


async def test_kernel_channels_need_credentials(
    url: Any, open_bridge: Any, jp_base_url: str
) -> None:
    _client, session = await start_session(open_bridge, jp_base_url)
    path = f"http_over_websocket/proxied_ws/api/kernels/{session['kernel']['id']}/channels"
    for bad in (url(path, token=None), url(path, token="wrong")):
        status = await handshake_status(bad, subprotocols=[KERNEL_SUBPROTOCOL])
        assert status == 403
    status = await handshake_status(url(path), origin="https://evil.example")
    assert status == 403


async def test_unknown_kernel_completes_handshake_then_closes_404(url: Any) -> None:
    async with connected(
        url(
            "http_over_websocket/proxied_ws/api/kernels/00000000-0000-0000-0000-000000000000/channels"
        ),
        subprotocols=[KERNEL_SUBPROTOCOL, "other"],
    ) as ws:
        assert ws.selected_subprotocol == KERNEL_SUBPROTOCOL
        code, reason = await wait_closed(ws)
        assert code == 404 and "00000000-0000-0000-0000-000000000000" in (reason or "")


async def test_unknown_path_closes_404(url: Any) -> None:
    async with connected(
        url("http_over_websocket/proxied_ws/api/no/such/socket"), subprotocols=["p1", "p2"]
    ) as ws:
        assert ws.selected_subprotocol == "p1"
        code, _ = await wait_closed(ws)
        assert code == 404


# -- the generic relay, against a test-only WebSocket on the same server ------------
class EchoSocket(websocket.WebSocketHandler):
    """Echoes frames with their type; closes with a code when asked."""

    closed_with: ClassVar[list[tuple[int | None, str | None]]] = []

    def select_subprotocol(self, subprotocols: list[str]) -> str | None:
        return "echo.v2" if "echo.v2" in subprotocols else None

    def open(self, *args: Any) -> None:
        self.write_message(
            json.dumps(
                {
                    "auth": self.request.headers.get("Authorization", "")[:6],
                    "origin": self.request.headers.get("Origin"),
                    "query": self.request.query,
                }
            )
        )

    def on_message(self, message: str | bytes) -> None:
        if message == "close please":
            self.close(4321, "asked to close")
        else:
            self.write_message(message, binary=isinstance(message, bytes))

    def on_close(self) -> None:
        EchoSocket.closed_with.append((self.close_code, self.close_reason))


@pytest.fixture
def echo_route(jp_serverapp: Any, jp_base_url: str) -> str:
    jp_serverapp.web_app.add_handlers(".*$", [(f"{jp_base_url}test-echo", EchoSocket)])
    EchoSocket.closed_with = []
    return "http_over_websocket/proxied_ws/test-echo"


async def test_relay_keeps_frame_types_subprotocol_and_query(url: Any, echo_route: str) -> None:
    async with connected(
        url(echo_route, params={"a": "1", "min_version": "0.0.7"}),
        subprotocols=["echo.v1", "echo.v2"],
    ) as ws:
        assert ws.selected_subprotocol == "echo.v2"
        hello = json.loads(await ws.read_message())
        assert hello == {"auth": "token ", "origin": None, "query": "a=1"}
        ws.write_message("text ✓")
        assert await ws.read_message() == "text ✓"
        blob = bytes(range(256)) * 100
        ws.write_message(blob, binary=True)
        assert await ws.read_message() == blob
        ws.write_message("close please")
        assert await wait_closed(ws) == (4321, "asked to close")


async def test_relay_passes_page_close_upstream(url: Any, echo_route: str) -> None:
    async with connected(url(echo_route)) as ws:
        await ws.read_message()
        ws.close(4000, "page closed")
        assert await until(lambda: bool(EchoSocket.closed_with))
        assert EchoSocket.closed_with == [(4000, "page closed")]


async def test_relay_refused_without_credentials(url: Any, echo_route: str) -> None:
    status = await handshake_status(url(echo_route, token=None))
    assert status == 403


@pytest.mark.parametrize("path", ["..%2F..%2Fetc", "http_over_websocket/diagnose", "a%5Cb"])
async def test_bad_proxied_paths_refused(url: Any, path: str) -> None:
    status = await handshake_status(url(f"http_over_websocket/proxied_ws/{path}"))
    assert status in (400, 404)


async def test_refused_kernel_socket_does_not_replace_the_session(
    jp_fetch: Any,
    url: Any,
    jp_http_port: int,
    jp_base_url: str,
    token: str,
    sockets: list[Any],
    bridge_app: Any,
) -> None:
    """A proxied_ws socket refused with 503 has done nothing upstream.

    From the first security review (issue 12).
    """
    bridge_app.max_connections = 2
    kernel_id = await start_kernel(jp_fetch)
    async with connected(
        f"ws://127.0.0.1:{jp_http_port}{jp_base_url}api/kernels/{kernel_id}/channels"
        f"?session_id=same&token={token}",
        origin=None,
    ) as direct:
        sockets.append(direct)
        sockets.extend([await connect(url()), await connect(url())])  # the limit: 2
        path = f"http_over_websocket/proxied_ws/api/kernels/{kernel_id}/channels"
        status = await handshake_status(url(path, params={"session_id": "same"}))
        assert status == 503
        # A close of the session's socket would come before the replies that follow.
        await KernelChannel(direct, session_id="same").ready()
        assert direct.close_code is None, "closed as stale"
