"""The unauthenticated diagnose socket cannot hurt anyone.

It has its own small connection limit apart from the user's, caps what it
echoes, closes on large frames, and a client that never reads cannot grow
the server (the memory probes use a server subprocess, so that the client's
own buffers are not counted). A ``min_version`` is read once, when a socket
opens (diagnose's or the tunnel's), and one that is too long or not a version
closes the socket at once with 400 and a short reason.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

from jupyter_colab_bridge.protocol import handshake
from tests.helpers.bridge_client import (
    KERNEL_SUBPROTOCOL,
    BridgeClient,
    KernelChannel,
    connect,
    connected,
    start_kernel,
    wait_closed,
)
from tests.helpers.cases import (
    DIAGNOSE,
    MAIN,
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


# --------------------------------------------------------------------------------------
# -- ``min_version`` is read once per socket, and bounded (fourth security review, D1,
# issue 23).
#
# The review: the diagnose socket, open to any page on an allowed origin without
# a token, parsed ``min_version`` again on every frame; with a 60 KB value, 300
# one-byte frames (4 KB on the wire) stalled every other client for seconds. Now
# a ``min_version`` longer than
# :data:`~jupyter_colab_bridge.protocol.handshake.MAX_MIN_VERSION_CHARS`, or one
# that is not a version, closes the socket at once with 400 and a short reason
# (a close reason is at most 123 bytes), on the diagnose socket as on the
# tunnel; a usable one is parsed once, when the socket opens, and a frame costs
# the same whatever the query. An outdated page still gets its diagnose answers
# (``is_outdated_extension: true``): that is what diagnose is for.
# (These tests were tests/test_diagnose_min_version.py.)
# --------------------------------------------------------------------------------------
#: The review's probe: a 60 KB ``min_version`` (a valid, huge version).
HUGE = "0.0." + "7" * 60_000
#: Not a version, and 120 bytes of UTF-8 in 60 characters.
ACCENTS = "\u00e9" * 60
#: The largest payload of a close frame that carries a reason (RFC 6455: 125 - 2).
MAX_REASON_BYTES = 123


def min_version_url(url: Any, endpoint: str, value: str) -> str:
    """The endpoint's URL with ``min_version``; the tunnel gets the token, diagnose none."""
    params = {"min_version": value}
    if endpoint == DIAGNOSE:
        return str(url(endpoint, token=None, params=params))
    return str(url(endpoint, params=params))


async def still_answered(url: Any) -> None:
    """Another page's diagnose socket is served as before."""
    async with connected(url(DIAGNOSE, token=None, params={"min_version": "0.0.7"})) as ws:
        ws.write_message("other-page")
        reply = json.loads(await ws.read_message())
        assert reply["message_id"] == "other-page"
        assert reply["is_outdated_extension"] is False


@pytest.mark.parametrize(
    ("value", "reason_part"),
    [
        pytest.param(HUGE, "too long", id="60KB"),
        pytest.param("9" * 65, "too long", id="65-chars"),
        pytest.param("not-a-version", 'Invalid "min_version" provided: not-a-version', id="words"),
        pytest.param(ACCENTS, 'Invalid "min_version" provided', id="non-ascii"),
        pytest.param("0.0.7\n\x00", 'Invalid "min_version" provided', id="control"),
    ],
)
@pytest.mark.parametrize("endpoint", [DIAGNOSE, MAIN])
async def test_unusable_min_version_closes_the_socket(
    url: Any, server_log: Any, endpoint: str, value: str, reason_part: str
) -> None:
    """Closed at once with 400 and a short reason that a browser accepts; a log line.

    From the fourth security review (D1, issue 23).
    """
    async with connected(min_version_url(url, endpoint, value)) as ws:
        ws.write_message("colab-1")  # no answer comes: the socket is closed first
        code, reason = await wait_closed(ws)
    assert code == 400, (code, reason)
    assert reason is not None and reason_part in reason
    assert len(reason.encode("utf-8")) <= MAX_REASON_BYTES
    logged = [m for m in server_log.text().splitlines() if m.startswith("Colab bridge")]
    named = [m for m in logged if "min_version" in m]
    assert named, "no bridge log line names min_version"
    assert all(len(m) < 1000 for m in logged), "the value was logged in full"
    await still_answered(url)


@pytest.mark.parametrize("endpoint", [DIAGNOSE, MAIN])
async def test_repeated_min_version_closes_the_socket(
    url: Any, server_log: Any, endpoint: str
) -> None:
    """``?min_version=0.0.7&min_version=<60 KB>``: one value per socket, or none.

    From the fourth security review (D1, issue 23).
    """
    base = min_version_url(url, endpoint, "0.0.7")
    async with connected(f"{base}&min_version={HUGE}") as ws:
        code, reason = await wait_closed(ws)
    assert code == 400 and reason is not None and "more than once" in reason
    assert "min_version" in server_log.text()


async def test_outdated_page_still_gets_diagnose_answers(url: Any, sockets: list[Any]) -> None:
    """A page that wants a newer bridge learns so from diagnose (docs/protocol.md section 2).

    From the fourth security review (D1, issue 23).
    """
    ws = await connect(url(DIAGNOSE, token=None, params={"min_version": "9.9.9"}))
    sockets.append(ws)
    for frame in ("a", "b"):
        ws.write_message(frame)
        reply = json.loads(await ws.read_message())
        assert reply["message_id"] == frame
        assert reply["is_outdated_extension"] is True


async def test_a_frame_does_not_parse_the_query(
    url: Any, sockets: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The version is parsed when the socket opens, never per frame.

    A counting wrapper around the bridge's own ``parse_version`` (the real
    function still runs) shows how often each frame parses. From the fourth
    security review (D1, issue 23).
    """
    calls: list[str] = []
    real = handshake.parse_version

    def counting(text: str) -> Any:
        calls.append(text)
        return real(text)

    monkeypatch.setattr(handshake, "parse_version", counting)
    ws = await connect(url(DIAGNOSE, token=None, params={"min_version": "0.0.7"}))
    sockets.append(ws)
    ws.write_message("first")
    json.loads(await ws.read_message())
    opened = len(calls)
    for i in range(50):
        ws.write_message(f"m{i}")
        assert json.loads(await ws.read_message())["is_outdated_extension"] is False
    assert len(calls) == opened, f"{len(calls) - opened} parses for 50 frames"


async def test_tunnel_with_usable_min_version_serves(url: Any, jp_base_url: str) -> None:
    """Colab's own ``min_version=0.0.7`` on the tunnel: requests are served.

    From the fourth security review (D1, issue 23).
    """
    async with connected(url(params={"min_version": "0.0.7"})) as ws:
        reply = await BridgeClient(ws).request("GET", f"{jp_base_url}api/status")
        assert reply.status == 200


# -- the pure reading (protocol/handshake.py) ------------------------------------------
@pytest.mark.parametrize(
    ("values", "problem", "outdated"),
    [
        pytest.param([], None, False, id="absent"),
        pytest.param([b"0.0.7"], None, False, id="colab"),
        pytest.param([b"0.0.1a3"], None, False, id="pre-release"),
        pytest.param([b"9.9.9"], "Requested version (9.9.9) > Current version", True, id="newer"),
        pytest.param([b"0.0.7", b"0.0.7"], "given more than once", False, id="twice"),
        pytest.param([HUGE.encode()], "too long (60004 characters; at most 64)", False, id="60KB"),
        pytest.param([b"\xff\xfe"], 'Invalid "min_version" provided: ', False, id="not-utf8"),
    ],
)
def test_read_min_version(values: list[bytes], problem: str | None, outdated: bool) -> None:
    """From the fourth security review (D1, issue 23)."""
    version = handshake.read_min_version(values)
    assert version.outdated is outdated
    if problem is None:
        assert version.problem is None
    else:
        assert version.problem is not None and problem in version.problem
        assert len(version.problem.encode("utf-8")) <= MAX_REASON_BYTES


def test_close_reason_is_printable_and_short() -> None:
    """From the fourth security review (D1, issue 23)."""
    reason = handshake.close_reason('Invalid "min_version" provided: ' + "\u00e9\n" * 40)
    assert reason.isascii() and reason.isprintable()
    assert len(reason.encode()) <= MAX_REASON_BYTES and reason.endswith("...")
