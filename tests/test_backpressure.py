"""A page that stops reading, or goes away mid-stream, costs the server bounded memory.

Downloads, kernel output and relayed sockets stop producing while the page's
socket is full; a socket that disconnects cancels its requests and frees its
files and tasks. Figures printed (``pytest -s``) are quoted in
docs/explanation/security.md.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import json
import logging
from typing import Any

import pytest

from tests.helpers.bridge_client import (
    KERNEL_SUBPROTOCOL,
    KernelChannel,
    connect,
    wait_closed,
)
from tests.helpers.cases import (
    RELAY,
    SECRET,
)
from tests.helpers.probes import (
    Slow,
    fd_count,
    rss_bytes,
    server_handler_for,
    settled,
    until,
)


@pytest.fixture
def token() -> str:
    """The server's token: one whose URL-encoded forms differ from the raw one."""
    return SECRET


@pytest.mark.usefixtures("probe_routes")
async def test_stalled_download_is_bounded(
    jp_base_url: str, bridge_app: Any, open_bridge: Any, jp_root_dir: Any
) -> None:
    """From the adversarial tests (issue 3)."""
    size = 100 * 1024 * 1024
    with open(jp_root_dir / "huge.bin", "wb") as f:
        f.truncate(size)  # sparse: reads as zeros
    client = await open_bridge()
    handler = server_handler_for(bridge_app, client.ws)
    stream = handler.ws_connection.stream
    gc.collect()
    rss_before = rss_bytes()
    mid = client.send("GET", f"{jp_base_url}files/huge.bin")
    first = await client.read_frame()
    assert first["message_id"] == mid and first["status"] == 200
    # The page stops reading. Wait until the server stops producing.
    await settled(lambda: stream._total_write_index)
    buffered = len(stream._write_buffer)
    produced = stream._total_write_index
    rss_growth = rss_bytes() - rss_before
    print(
        f"\n[stalled 100 MB download] server wrote {produced / 2**20:.1f} MiB of frames "
        "into its socket,"
        f" {buffered / 2**20:.2f} MiB still in tornado's buffer, RSS +{rss_growth / 2**20:.1f} MiB"
    )
    assert buffered < 2 * 2**20
    assert (
        produced < 32 * 2**20
    )  # kernel socket buffers (both ends) + one chunk, not the 133 MiB of frames
    assert rss_growth < 48 * 2**20
    # The page resumes: the whole file arrives intact.
    received = len(base64.b64decode(first["data"]))
    frame = first
    while not frame["done"]:
        frame = await client.read_frame()
        assert frame["message_id"] == mid
        received += len(base64.b64decode(frame.get("data", "")))
    assert received == size


@pytest.mark.usefixtures("probe_routes")
async def test_disconnect_mid_stream_cancels_and_frees(
    jp_base_url: str, bridge_app: Any, open_bridge: Any, jp_root_dir: Any, server_log: Any
) -> None:
    """From the adversarial tests (issue 3)."""
    with open(jp_root_dir / "big.bin", "wb") as f:
        f.truncate(50 * 1024 * 1024)
    client = await open_bridge()  # warm-up: first-use imports and caches
    assert (await client.request("GET", f"{jp_base_url}api/status")).status == 200
    client.ws.close()
    assert await until(lambda: not bridge_app.open_connections)
    gc.collect()
    fds, tasks = fd_count(), len(asyncio.all_tasks())
    for _ in range(3):
        client = await open_bridge()
        handler = server_handler_for(bridge_app, client.ws)
        client.send("GET", f"{jp_base_url}files/big.bin")
        client.send("GET", f"{jp_base_url}adv-slow")
        await client.read_frame()
        assert await until(lambda h=handler: len(h.tunnel.tasks) == 2)
        server_tasks = list(handler.tunnel.tasks)
        client.ws.close()
        assert await until(lambda: not bridge_app.open_connections)
        assert await until(lambda tasks=server_tasks: all(t.done() for t in tasks))
        # Aborted; the slow handler runs on, counted until it ends (max_abandoned_requests).
        assert all(c.closed for c in handler.tunnel.running)
    assert await until(lambda: Slow.gone.count(f"{jp_base_url}adv-slow") == 3)
    # tornado never cancels a handler whose client went away (nor does it for direct
    # requests); it is told through on_connection_close. Let the slow ones end.
    Slow.release.set()
    assert await until(lambda: fd_count() <= fds and len(asyncio.all_tasks()) <= tasks), (
        fd_count(),
        fds,
    )
    assert not [r for r in server_log.records if r.levelno >= logging.ERROR], (
        "nothing failed noisily"
    )


@pytest.mark.usefixtures("probe_routes")
async def test_kernel_output_flood_is_bounded(
    url: Any, jp_base_url: str, bridge_app: Any, sockets: list[Any], open_bridge: Any
) -> None:
    """From the adversarial tests (issue 3)."""
    client = await open_bridge()
    body = {"path": "flood.ipynb", "type": "notebook", "name": "", "kernel": {"name": "python3"}}
    session = (
        await client.request("POST", f"{jp_base_url}api/sessions", body=json.dumps(body))
    ).json()
    path = f"http_over_websocket/proxied_ws/api/kernels/{session['kernel']['id']}/channels"
    ws = await connect(url(path), subprotocols=[KERNEL_SUBPROTOCOL])
    sockets.append(ws)
    kernel = KernelChannel(ws)
    await kernel.execute("1")
    handler = server_handler_for(bridge_app, ws)
    stream = handler.ws_connection.stream
    bridge_app.max_buffered_bytes = 4 * 2**20
    # display_data is not limited by jupyter's iopub data rate limit: 2 MB per message
    kernel.send(
        "execute_request",
        {
            "code": (
                "from IPython.display import display\n"
                "for i in range(60): display({'text/plain': 'x' * 2_000_000}, raw=True)"
            ),
            "silent": False,
            "store_history": False,
            "user_expressions": {},
            "allow_stdin": False,
        },
    )
    peak = 0

    def check() -> bool:
        nonlocal peak
        peak = max(peak, len(stream._write_buffer))
        return handler.ws_connection is None or handler.ws_connection.is_closing()

    assert await until(check, 30), "the server must stop buffering for a page that does not read"
    print(f"\n[kernel flood] peak buffered {peak / 2**20:.1f} MiB before closing the kernel socket")
    assert peak < 4 * 2**20 + 3 * 2**20
    code, reason = await wait_closed(ws)
    assert code == 1008 and "not reading" in (reason or "")
    assert (
        await client.request("DELETE", f"{jp_base_url}api/sessions/{session['id']}")
    ).status == 204


@pytest.mark.usefixtures("probe_routes")
async def test_relayed_socket_flood_is_bounded(
    url: Any, bridge_app: Any, sockets: list[Any]
) -> None:
    """From the adversarial tests (issue 3)."""
    ws = await connect(url(RELAY))
    sockets.append(ws)
    await ws.read_message()
    handler = server_handler_for(bridge_app, ws)
    stream = handler.ws_connection.stream
    ws.write_message("flood 150")  # 150 MiB the page will not read for now
    last = await settled(lambda: stream._total_write_index)
    print(
        f"\n[relay flood] bridge wrote {last / 2**20:.1f} MiB to the page's socket, "
        f"{len(stream._write_buffer) / 2**20:.2f} MiB in its buffer"
    )
    assert len(stream._write_buffer) <= 2 * 2**20
    assert last < 32 * 2**20
    received = 0
    while received < 150 * 2**20:
        received += len(await ws.read_message())
    assert received == 150 * 2**20
