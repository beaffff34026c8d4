"""The unauthenticated diagnose socket cannot hurt anyone.

It has its own small connection limit apart from the user's, caps what it
echoes, closes on large frames, and a client that never reads cannot grow
the server (the memory probes use a server subprocess, so that the client's
own buffers are not counted).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

from tests.helpers.bridge_client import (
    KERNEL_SUBPROTOCOL,
    BridgeClient,
    KernelChannel,
    connect,
    start_kernel,
)
from tests.helpers.cases import (
    DIAGNOSE,
)
from tests.helpers.probes import (
    RawSocket,
    rss,
    until_sync,
)
from tests.helpers.servers import running


async def test_diagnose_sockets_do_not_lock_out_the_user(
    jp_serverapp: Any, jp_fetch: Any, url: Any, sockets: list[Any], bridge_app: Any
) -> None:
    """Unauthenticated diagnose sockets have their own small limit, apart from the user's.

    From the first security review (issue 12).
    """
    bridge_app.max_connections = 2  # the user's two sockets below
    kernel_id = await start_kernel(jp_fetch)
    held = 0
    refused_at = None
    for _ in range(100):
        try:
            ws = await connect(url(DIAGNOSE, token=None))
        except HTTPClientError as e:
            refused_at = e.code
            break
        sockets.append(ws)
        held += 1
    assert refused_at == 503, f"diagnose sockets have no limit of their own ({held} opened)"
    print(f"\n[diagnose flood] {held} diagnose sockets held (the limit), the next one: 503")
    # The real user still connects, both ways a page uses, while they are held.
    ws = await connect(url())
    sockets.append(ws)
    reply = await BridgeClient(ws).request("GET", f"{jp_serverapp.base_url}api/status")
    assert reply.status == 200
    kernel = await connect(
        url(f"http_over_websocket/proxied_ws/api/kernels/{kernel_id}/channels"),
        subprotocols=[KERNEL_SUBPROTOCOL],
    )
    sockets.append(kernel)
    await KernelChannel(kernel).ready()
    assert len(bridge_app.open_connections) == 2  # the user's two, none of diagnose's


async def test_diagnose_echo_is_capped(url: Any, sockets: list[Any]) -> None:
    """From the first security review (issue 12)."""
    ws = await connect(url(DIAGNOSE, token=None))
    sockets.append(ws)
    ws.write_message("m" * 1000)
    reply = json.loads(await ws.read_message())
    assert 0 < len(reply["message_id"]) <= 256
    assert reply["message_id"] == "m" * len(reply["message_id"])
    ws.write_message("colab-7")  # an ordinary id still comes back whole
    assert json.loads(await ws.read_message())["message_id"] == "colab-7"


async def test_diagnose_large_frame_closes_the_socket(url: Any, sockets: list[Any]) -> None:
    """From the first security review (issue 12)."""
    ws = await connect(url(DIAGNOSE, token=None))
    sockets.append(ws)
    ws.write_message("\x01" * (64 * 1024))
    assert await asyncio.wait_for(ws.read_message(), 30) is None
    assert ws.close_code == 1009


@pytest.fixture
def diagnose_server(tmp_path: Path) -> Iterator[Any]:
    with running(tmp_path) as server:
        yield server


def test_non_reading_diagnose_client_cannot_grow_the_server(diagnose_server: Any) -> None:
    """Six 8 MiB frames of control bytes, never reading: the review's probe (288 MiB before).

    From the first security review (issue 12).
    """
    server = diagnose_server
    path = f"{server.base_url}{DIAGNOSE}"
    with RawSocket(server.port, path) as warm:  # first-use imports and caches
        warm.send_text(b"warm-up")
        assert warm.received(), "the warm-up frame was answered"
    before = rss(server.proc.pid)
    with RawSocket(server.port, path) as raw:
        sent = 0
        for _ in range(6):
            if not raw.send_text(b"\x01" * (8 * 2**20)):
                break
            sent += 1
        assert raw.wait_closed(), "the server closed the socket (1009) and let it go"
        growth = rss(server.proc.pid) - before
    print(
        f"\n[diagnose 6 x 8 MiB, never read] {sent} of 6 frames taken before the server "
        f"closed the socket (1009); RSS +{growth / 2**20:.1f} MiB"
    )
    assert growth < 8 * 2**20, f"the server grew {growth / 2**20:.1f} MiB"


def test_non_reading_diagnose_client_is_closed(diagnose_server: Any) -> None:
    """Many small frames, never reading: writes are bounded, then the socket is closed.

    From the first security review (issue 12).
    """
    server = diagnose_server
    path = f"{server.base_url}{DIAGNOSE}"
    before = rss(server.proc.pid)
    with RawSocket(server.port, path) as raw:
        frame = b"\x01" * 200  # each answer is about 1.2 KB once JSON-escaped
        sent, closed = 0, False
        while sent < 200_000:
            if not raw.send_text(frame):
                closed = True
                break
            sent += 1
        # tornado drops the TCP connection once its close handshake times out (5 s).
        closed = closed or until_sync(lambda: not raw.send_text(b"still there?"), every=0.5)
        growth = rss(server.proc.pid) - before
    print(
        f"\n[diagnose small frames, never read] {sent} frames sent, then the server had "
        f"closed the socket; RSS +{growth / 2**20:.1f} MiB"
    )
    assert closed, f"{sent} frames sent and the socket is still open"
    assert growth < 16 * 2**20, f"the server grew {growth / 2**20:.1f} MiB"
    assert "not reading" in server.log_text()
