"""Large request frames: taken as raw bytes, parsed off the loop, the body decoded without copies.

A text frame longer than ``LARGE_FRAME_CHARS`` reaches the tunnel as tornado's
raw bytes (``server/large_text.py``); ``parse_text_frame_bytes`` decodes its
``body_base64`` from a view of them and checks the UTF-8 itself. Bad input of
every kind gets its answer: a 400 reply for bad base64, a 1007 close for a
frame that is not UTF-8 (RFC 6455 section 8.1), and the server serves on.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import tracemalloc
from typing import Any, ClassVar

import pytest
from tornado import web

from jupyter_colab_bridge.protocol.frames import (
    LARGE_FRAME_CHARS,
    BridgeRequest,
    FrameError,
    NotUtf8Error,
    parse_request_frame,
    parse_text_frame_bytes,
)
from jupyter_colab_bridge.server.context import RequestContext
from jupyter_colab_bridge.server.dispatch import dispatch
from jupyter_colab_bridge.server.tunnel import (
    AbandonedRequests,
    PageSocket,
    Tunnel,
    TunnelConnection,
    TunnelCredentials,
    TunnelHandshake,
    TunnelLimits,
)
from tests.helpers.bridge_client import connected

BODY = os.urandom(LARGE_FRAME_CHARS)
B64 = base64.b64encode(BODY).decode()
TEXT_OPCODE = 0x1


def frame(**fields: Any) -> str:
    return json.dumps({"message_id": "m", "method": "POST", "path": "/x", **fields})


FRAMES = {
    "body_base64 last": frame(body_base64=B64),
    "body_base64 first": json.dumps(
        {"body_base64": B64, "message_id": 1, "method": "put", "path": "/é"}
    ),
    "spaces around the colon": frame().replace('"m",', f'"m", "body_base64" :  "{B64}",'),
    "escaped slash in the value": frame(body_base64=B64).replace("/", "\\/"),
    "the key inside another string": frame(path='/"body_base64": "x', body="y" * LARGE_FRAME_CHARS),
    "a body, no body_base64": frame(body="ü" * LARGE_FRAME_CHARS),
    "no key": frame(body_base64=B64).replace('"path"', '"pat"'),
}


@pytest.mark.parametrize("name", list(FRAMES))
def test_bytes_parse_as_the_text_does(name: str) -> None:
    text = FRAMES[name]
    try:
        expected: Any = parse_request_frame(text)
    except FrameError as e:
        expected = (e.status, e.text)
    try:
        got: Any = parse_text_frame_bytes(text.encode())
    except FrameError as e:
        got = (e.status, e.text)
    assert got == expected


def test_bytes_parse_allocates_only_the_body() -> None:
    """The decoded body is the one large allocation: no str of the frame, no slice."""
    data = frame(body_base64=B64).encode()
    tracemalloc.start()
    try:
        request = parse_text_frame_bytes(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert request.body == BODY
    assert peak < len(BODY) + 64 * 1024, (peak, len(BODY))


@pytest.mark.parametrize(
    "data",
    [
        frame(body_base64=B64).encode().replace(b'"m"', b'"\xff"'),  # in the JSON
        frame(body_base64=B64).encode().replace(b'"body_base64": "', b'"body_base64": "\xc3'),
    ],
    ids=["in the JSON", "in body_base64"],
)
def test_bytes_not_utf8(data: bytes) -> None:
    with pytest.raises(NotUtf8Error):
        parse_text_frame_bytes(data)


def test_non_ascii_base64_is_a_400_not_a_close() -> None:
    data = frame(body_base64="é" + B64).encode()
    with pytest.raises(FrameError) as info:
        parse_text_frame_bytes(data)
    assert not isinstance(info.value, NotUtf8Error)
    assert (info.value.status, info.value.text) == (
        400,
        'Invalid request. "body_base64" is not valid base64.',
    )


class EchoHandler(web.RequestHandler):
    def post(self) -> None:
        self.finish(self.request.body)


async def test_tunnel_takes_bytes_and_reads_on_after_the_parse() -> None:
    frames: list[dict[str, Any]] = []
    closed: list[tuple[int, str]] = []

    async def send(text: str) -> None:
        frames.append(json.loads(text))

    tunnel = Tunnel(
        web.Application([("/echo", EchoHandler)]),
        TunnelHandshake(
            TunnelCredentials({"Host": "127.0.0.1"}, None), RequestContext("127.0.0.1", "http"), "/"
        ),
        TunnelLimits(4, 0, AbandonedRequests(8)),
        PageSocket(send, fail=lambda code, reason: closed.append((code, reason))),
        logging.getLogger("test_large_frames"),
    )
    pending = tunnel.submit_text_bytes(frame(path="/echo", body_base64=B64).encode())
    assert pending is not None  # the socket reads its next frame only after this
    await pending
    bad = tunnel.submit_text_bytes(frame(path="/echo", body_base64=B64).encode() + b"\xff")
    assert bad is not None
    await bad
    assert closed == [(1007, "The frame is not valid UTF-8 text.")]
    await asyncio.gather(*tunnel.tasks)
    reply = b"".join(base64.b64decode(f.get("data", "")) for f in frames)
    assert [f["status"] for f in frames if "status" in f] == [200]
    assert reply == BODY


async def test_large_upload_through_the_socket(open_bridge: Any, jp_base_url: str) -> None:
    client = await open_bridge()
    content = base64.b64encode(BODY).decode()
    body = json.dumps({"type": "file", "format": "base64", "content": content})
    path = f"{jp_base_url}api/contents/large.bin"
    saved = await client.request("PUT", path, body_base64=base64.b64encode(body.encode()).decode())
    assert saved.status == 201
    got = await client.request("GET", f"{path}?type=file&format=base64")
    assert base64.b64decode(got.json()["content"]) == BODY


async def test_large_bad_base64_gets_400_and_the_socket_serves_on(
    open_bridge: Any, jp_base_url: str
) -> None:
    client = await open_bridge()
    bad = await client.request("POST", f"{jp_base_url}api/status", body_base64="!" + B64)
    assert (bad.status, bad.status_text) == (
        400,
        'Invalid request. "body_base64" is not valid base64.',
    )
    assert (await client.request("GET", f"{jp_base_url}api/status")).status == 200


async def test_large_frame_not_utf8_closes_with_1007(
    url: Any, jp_base_url: str, server_log: Any, open_bridge: Any
) -> None:
    async with connected(url()) as ws:
        data = json.dumps(
            {
                "message_id": "u",
                "method": "POST",
                "path": f"{jp_base_url}api/status",
                "body_base64": B64,
            }
        ).encode()
        assert ws.protocol is not None
        ws.protocol._write_frame(True, TEXT_OPCODE, data.replace(b'"u"', b'"\xff"'))
        assert await ws.read_message() is None
        assert (ws.close_code, ws.close_reason) == (1007, "The frame is not valid UTF-8 text.")
        assert "closing a tunnel socket: The frame is not valid UTF-8 text." in server_log.text()
        other = await open_bridge()
        assert (await other.request("GET", f"{jp_base_url}api/status")).status == 200


class BodyHandler(web.RequestHandler):
    bodies: ClassVar[list[bytes]] = []

    def post(self) -> None:
        BodyHandler.bodies.append(self.request.body)
        self.finish("ok")


@pytest.mark.parametrize("path", ["/body", "/routed/body"])
async def test_the_handler_gets_the_decoded_body_itself(path: str) -> None:
    """No bytearray and bytes copies of an upload in tornado: the body object is handed over."""
    inner = web.Application([("/routed/body", BodyHandler)])
    app = web.Application([("/body", BodyHandler), (r"/routed/.*", inner)])
    BodyHandler.bodies = []
    frames: list[str] = []

    async def send(text: str) -> None:
        frames.append(text)

    body = bytes(BODY)
    request = BridgeRequest("b", "POST", path, body)
    headers = {"Host": "127.0.0.1"}
    connection = TunnelConnection(RequestContext("127.0.0.1", "http"), request.message_id, send)
    await dispatch(app, request, headers, connection)
    await connection.finished
    assert len(BodyHandler.bodies) == 1
    assert BodyHandler.bodies[0] is body
