"""The bridge's limits, and pages that press on them: frame size, requests in
flight, connections, timeouts, load, pages that stop reading or go away.

Each limit answers the one request or socket that passed it (1009, 503, 504)
and the server keeps serving the others; a request that timed out keeps its
place until its handler finishes, so closed sockets cannot multiply the work.
A page that stops reading, or goes away mid-stream, costs the server bounded
memory: downloads, kernel output and relayed sockets stop producing while the
page's socket is full; a socket that disconnects cancels its requests and
frees its files and tasks. Figures printed (``pytest -s``) are quoted in
docs/explanation/security.md; timings are benchmark figures
(benchmarks/large_frames.py), never asserted here.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import json
import logging
import os
from typing import Any

import pytest
from jupyter_server.base.handlers import JupyterHandler
from tornado import web

from jupyter_colab_bridge.protocol.frames import FrameError, parse_request_frame
from tests.helpers.bridge_client import (
    KERNEL_SUBPROTOCOL,
    BridgeClient,
    KernelChannel,
    connect,
    connected,
    handshake_status,
    wait_closed,
)
from tests.helpers.cases import (
    DIAGNOSE,
    KERNEL,
    MAIN,
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


IN_FLIGHT = 4
ABANDONED = 4


class SlowHandler(JupyterHandler):
    """Outlives any timeout the tests set; counts the handlers running at once."""

    running = 0
    peak = 0
    release: asyncio.Event | None = None

    @web.authenticated
    async def get(self) -> None:
        cls = SlowHandler
        cls.running += 1
        cls.peak = max(cls.peak, cls.running)
        try:
            assert cls.release is not None
            await cls.release.wait()
            self.finish("slow")
        finally:
            cls.running -= 1


@pytest.fixture
def slow(jp_serverapp: Any, jp_base_url: str, bridge_app: Any) -> Any:
    """A route whose handlers outlive the timeout; the limits set for the sockets opened after."""
    bridge_app.max_requests_in_flight = IN_FLIGHT
    bridge_app.max_abandoned_requests = ABANDONED
    bridge_app.abandoned_requests.limit = ABANDONED  # the server-wide budget, made at start
    bridge_app.request_timeout = 0.3
    SlowHandler.running = SlowHandler.peak = 0
    SlowHandler.release = asyncio.Event()
    jp_serverapp.web_app.add_handlers(".*$", [(f"{jp_base_url}test-slow", SlowHandler)])
    yield f"{jp_base_url}test-slow"
    SlowHandler.release.set()


def strict_loads(text: str) -> Any:
    def refuse(name: str) -> Any:
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


async def statuses(client: BridgeClient, ids: list[Any]) -> list[int | None]:
    return [r.status for r in await asyncio.wait_for(client.wait(*ids), 30)]


# -- 3. in-flight limits hold until the handler finishes ----------------------------
async def test_timed_out_requests_keep_their_place(url: Any, slow: str, server_log: Any) -> None:
    async with connected(url()) as ws:
        client = BridgeClient(ws)
        first = [client.send("GET", slow) for _ in range(IN_FLIGHT)]
        assert await statuses(client, first) == [504] * IN_FLIGHT
        assert SlowHandler.running == IN_FLIGHT  # they run on
        again = [client.send("GET", slow) for _ in range(IN_FLIGHT)]
        assert await statuses(client, again) == [503] * IN_FLIGHT
        assert SlowHandler.peak == IN_FLIGHT
        assert "max_requests_in_flight" in client.replies[again[0]].status_text


async def test_closed_sockets_cannot_multiply_the_work(
    url: Any, slow: str, jp_base_url: str, bridge_app: Any
) -> None:
    refused = 0
    for _ in range(3):
        async with connected(url()) as ws:
            client = BridgeClient(ws)
            ids = [client.send("GET", slow) for _ in range(IN_FLIGHT)]
            got = await statuses(client, ids)
            refused += got.count(503)
        assert await until(lambda: not bridge_app.open_connections)  # the server saw it
    assert SlowHandler.peak <= IN_FLIGHT + ABANDONED
    assert refused > 0
    # Other requests are still served while the budget is spent.
    async with connected(url()) as ws:
        reply = await BridgeClient(ws).request("GET", f"{jp_base_url}api/status")
        assert reply.status in (200, 503)
        SlowHandler.release.set()  # type: ignore[union-attr]
        assert await until(lambda: SlowHandler.running == 0)
        assert (await BridgeClient(ws).request("GET", f"{jp_base_url}api/status")).status == 200


# -- 2. a page that closes mid-download costs at most one log line --------------------
@pytest.mark.parametrize("bridge_config", [{}])
async def test_page_closing_mid_download_logs_one_line(
    url: Any, jp_base_url: str, jp_root_dir: Any, server_log: Any, bridge_app: Any
) -> None:
    (jp_root_dir / "big.bin").write_bytes(b"\x01" * (20 * 1024 * 1024))
    async with connected(url()) as ws:
        client = BridgeClient(ws)
        client.send("GET", f"{jp_base_url}api/contents/big.bin?content=1&format=base64")
        await client.read_frame()  # the reply has started; stop reading
        handler = server_handler_for(bridge_app, ws)
        # the request's task, if the handler is still writing; the frames it wrote wait
        # unread either way (a fast server may have finished the whole body by now)
        tasks = list(handler.tunnel.tasks)
        before = len(server_log.records)
    # The server has seen the close and ended the download; then what gc finds.
    assert await until(lambda: not bridge_app.open_connections)
    assert await until(lambda: all(t.done() for t in tasks))
    gc.collect()
    noisy = [
        r
        for r in server_log.records[before:]
        if r.levelno >= logging.WARNING or r.exc_info is not None
    ]
    assert len(noisy) <= 1, "\n".join(r.getMessage() for r in noisy[:5])
    async with connected(url()) as ws:
        assert (await BridgeClient(ws).request("GET", f"{jp_base_url}api/status")).status == 200


# -- 5. strict JSON both ways -------------------------------------------------------
@pytest.mark.parametrize("raw", ["NaN", "Infinity", "-Infinity", "1e400", "-1e400"])
def test_non_finite_message_id_is_refused(raw: str) -> None:
    frame = f'{{"message_id": {raw}, "method": "GET", "path": "/api/status"}}'
    with pytest.raises(FrameError) as e:
        parse_request_frame(frame)
    reply = strict_loads(e.value.reply())
    assert reply["status"] == 400
    assert "message_id" not in reply


@pytest.mark.parametrize("raw", ["NaN", "1e400"])
async def test_non_finite_message_id_live(url: Any, jp_base_url: str, raw: str) -> None:
    async with connected(url()) as ws:
        await ws.write_message(
            f'{{"message_id": {raw}, "method": "GET", "path": "{jp_base_url}api/status"}}'
        )
        message = await ws.read_message()
        assert isinstance(message, str)
        assert strict_loads(message)["status"] == 400
        reply = await BridgeClient(ws).request("GET", f"{jp_base_url}api/status")
        assert reply.status == 200


def test_finite_numeric_ids_still_echo() -> None:
    assert (
        parse_request_frame('{"message_id": 1.5, "method": "GET", "path": "/"}').message_id == 1.5
    )


# -- 6. one credential per socket ---------------------------------------------------
async def test_conflicting_credentials_refused_at_handshake(
    url: Any, jp_base_url: str, token: str, server_log: Any
) -> None:
    both = url(token=None, params={"token": token})
    assert await handshake_status(both, headers={"Authorization": "token wrong"}) == 403
    assert "conflicting credentials" in server_log.text()
    # The same token twice is one credential.
    async with connected(both, headers={"Authorization": f"token {token}"}) as ws:
        reply = await BridgeClient(ws).request("GET", f"{jp_base_url}api/status")
        assert reply.status == 200


async def test_auth_url_token_and_other_query_token_refused(
    url: Any, jp_base_url: str, token: str
) -> None:
    """The auth URL's token becomes the socket's Authorization: a different ?token= conflicts."""
    assert await handshake_status(url(params={"token": "other"})) == 403
    async with connected(url(params={"token": token})) as ws:
        assert (await BridgeClient(ws).request("GET", f"{jp_base_url}api/status")).status == 200


@pytest.mark.parametrize("value", [0, -1])
def test_max_abandoned_requests_below_one_is_refused(value: int) -> None:
    from traitlets import TraitError

    from jupyter_colab_bridge.app import ColabBridge

    with pytest.raises(TraitError, match="max_abandoned_requests must be at least 1"):
        ColabBridge(max_abandoned_requests=value)


async def test_query_token_alone_is_forwarded(url: Any, jp_base_url: str, token: str) -> None:
    async with connected(url(token=None, params={"token": token})) as ws:
        reply = await BridgeClient(ws).request("GET", f"{jp_base_url}api/status")
        assert reply.status == 200


def test_body_base64_survives_the_strict_parser() -> None:
    body = base64.b64encode(b"\x00\xff" * 10).decode()
    frame = json.dumps({"message_id": "a", "method": "POST", "path": "/", "body_base64": body})
    assert parse_request_frame(frame).body == b"\x00\xff" * 10


# --------------------------------------------------------------------------------------
# -- The bridge's limits: frame size, requests in flight, connections, timeouts, load.
#
# Each limit answers the one request or socket that passed it (1009, 503, 504)
# and the server keeps serving the others. Figures printed by the load tests
# (``pytest -s``) are quoted in docs/explanation/security.md.
# (These tests were tests/test_limits.py.)
# --------------------------------------------------------------------------------------
@pytest.mark.usefixtures("probe_routes")
async def test_oversized_frame_closes_that_socket_1009_only(
    jp_base_url: str, bridge_app: Any, open_bridge: Any
) -> None:
    """From the adversarial tests (issue 3)."""
    bridge_app.max_message_bytes = 4096
    big = await open_bridge()
    other = await open_bridge()
    big.ws.write_message(
        json.dumps(
            {
                "message_id": "b",
                "method": "PUT",
                "path": f"{jp_base_url}adv-headers",
                "body": "x" * 5000,
            }
        )
    )
    code, _ = await wait_closed(big.ws)
    assert code == 1009
    assert (await other.request("GET", f"{jp_base_url}api/status")).status == 200
    ok = await other.request("PUT", f"{jp_base_url}adv-headers", body="y" * 3000)
    assert ok.status == 200


@pytest.mark.usefixtures("probe_routes")
async def test_requests_beyond_in_flight_limit_get_503(
    jp_base_url: str, bridge_app: Any, open_bridge: Any
) -> None:
    """From the adversarial tests (issue 3)."""
    bridge_app.max_requests_in_flight = 3
    client = await open_bridge()
    ids = [client.send("GET", f"{jp_base_url}adv-slow", message_id=f"s{i}") for i in range(8)]
    refused = await client.wait(*ids[3:])  # answered while the first three still hang
    assert [r.status for r in refused] == [503] * 5
    assert all("max_requests_in_flight" in (r.status_text or "") for r in refused)
    assert not any(m in client.done for m in ids[:3])
    Slow.release.set()
    assert [r.status for r in await client.wait(*ids[:3])] == [200] * 3
    assert (await client.request("GET", f"{jp_base_url}api/status")).status == 200


@pytest.mark.usefixtures("probe_routes")
async def test_max_connections_503_at_handshake(
    url: Any, jp_base_url: str, bridge_app: Any, sockets: list[Any], open_bridge: Any
) -> None:
    """From the adversarial tests (issue 3)."""
    assert len(bridge_app.open_connections) == 0
    bridge_app.max_connections = 2
    bridge_app.max_diagnose_connections = 1
    a = await open_bridge()
    await open_bridge(endpoint=RELAY)
    for endpoint in (MAIN, RELAY, KERNEL):
        status = await handshake_status(url(endpoint))
        assert status == 503
    # diagnose has a limit of its own, apart from the user's sockets
    await open_bridge(endpoint=DIAGNOSE)
    status = await handshake_status(url(DIAGNOSE))
    assert status == 503
    a.ws.close()
    assert await until(lambda: len(bridge_app.open_connections) == 1)
    c = await open_bridge()
    assert (await c.request("GET", f"{jp_base_url}api/status")).status == 200


@pytest.mark.usefixtures("probe_routes")
async def test_request_timeout_gives_504(
    jp_base_url: str, bridge_app: Any, open_bridge: Any
) -> None:
    """From the adversarial tests (issue 3)."""
    bridge_app.request_timeout = 0.3
    client = await open_bridge()
    reply = await client.request("GET", f"{jp_base_url}adv-slow")
    assert reply.status == 504 and reply.frames[0]["done"] is True
    assert await until(lambda: Slow.gone == [f"{jp_base_url}adv-slow"]), (
        "the handler was told to stop"
    )
    assert (await client.request("GET", f"{jp_base_url}api/status")).status == 200


@pytest.mark.usefixtures("probe_routes")
async def test_request_timeout_does_not_cut_a_streaming_reply(
    jp_base_url: str, bridge_app: Any, open_bridge: Any, jp_root_dir: Any
) -> None:
    """A download that is still flowing when request_timeout passes completes.

    From the adversarial tests (issue 3).
    """
    size = 40 * 1024 * 1024  # more than the socket buffers can swallow at once
    with open(jp_root_dir / "slowly.bin", "wb") as f:
        f.truncate(size)
    bridge_app.request_timeout = 0.3
    client = await open_bridge()
    mid = client.send("GET", f"{jp_base_url}files/slowly.bin")
    first = await client.read_frame()
    assert first["status"] == 200
    # The scenario, not a wait for the server: the page stops reading for three
    # times request_timeout, so the timeout passes while the reply streams.
    await asyncio.sleep(3 * bridge_app.request_timeout)
    received, frame = len(base64.b64decode(first["data"])), first
    while not frame["done"]:
        frame = await asyncio.wait_for(client.read_frame(), 30)
        assert frame["message_id"] == mid and "status" not in frame
        received += len(base64.b64decode(frame.get("data", "")))
    assert received == size
    assert (await client.request("GET", f"{jp_base_url}api/status")).status == 200


@pytest.mark.usefixtures("probe_routes")
async def test_500_requests_on_one_socket(jp_base_url: str, open_bridge: Any) -> None:
    """From the adversarial tests (issue 3)."""
    client = await open_bridge()
    ids = [
        client.send(
            "GET",
            f"{jp_base_url}api/status" if i % 2 else f"{jp_base_url}api/kernelspecs",
            message_id=i,
        )
        for i in range(500)
    ]
    replies = await client.wait(*ids)
    statuses = [r.status for r in replies]
    assert set(statuses) <= {200, 503}
    assert all(
        r.frames[-1]["done"] and [f["done"] for f in r.frames].count(True) == 1 for r in replies
    )
    print(f"\n[500 at once] {statuses.count(200)} x 200, {statuses.count(503)} x 503")
    # any stray frame for an id already done would fail in _absorb
    assert (
        await client.request("GET", f"{jp_base_url}api/status", message_id="last")
    ).status == 200
    assert set(client.replies) == set(ids) | {"last"}


@pytest.mark.usefixtures("probe_routes")
async def test_100_sockets_server_keeps_answering(
    url: Any,
    jp_base_url: str,
    bridge_app: Any,
    jp_fetch: Any,
    jp_root_dir: Any,
    sockets: list[Any],
) -> None:
    """From the adversarial tests (issue 3).

    Another client is answered while 100 sockets download a file each.
    """
    (jp_root_dir / "mid.bin").write_bytes(os.urandom(1024 * 1024))
    await jp_fetch("api", "status")
    gc.collect()
    fds = fd_count()
    clients = await asyncio.gather(*(connect(url()) for _ in range(100)))
    sockets.extend(clients)
    assert len(bridge_app.open_connections) == 100
    bridges = [BridgeClient(ws) for ws in clients]
    for b in bridges:
        b.send("GET", f"{jp_base_url}files/mid.bin", message_id="dl")
    # Answered while the downloads are asked for; how fast is a benchmark figure
    # (benchmarks/large_frames.py --sockets 100), not asserted here.
    status = await jp_fetch("api", "status")
    assert status.code == 200
    done = await asyncio.gather(*(b.wait("dl") for b in bridges[:10]))
    assert all(r.status == 200 and len(r.body) == 1024 * 1024 for (r,) in done)
    for ws in clients:
        ws.close()
    assert await until(lambda: not bridge_app.open_connections)
    assert await until(lambda: fd_count() <= fds), (fd_count(), fds)


# --------------------------------------------------------------------------------------
# -- A page that stops reading, or goes away mid-stream, costs the server bounded memory.
#
# Downloads, kernel output and relayed sockets stop producing while the page's
# socket is full; a socket that disconnects cancels its requests and frees its
# files and tasks. Figures printed (``pytest -s``) are quoted in
# docs/explanation/security.md.
# (These tests were tests/test_backpressure.py.)
# --------------------------------------------------------------------------------------
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
