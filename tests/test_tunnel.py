"""The tunnel object without a socket: a fake sender against a minimal tornado app.

:class:`jupyter_colab_bridge.server.tunnel.Tunnel` is driven directly, so its
limits, timeouts and close are seen without a WebSocket in between.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
from typing import Any

import pytest
from tornado import web

from jupyter_colab_bridge.protocol.frames import LARGE_FRAME_CHARS
from jupyter_colab_bridge.server.context import RequestContext
from jupyter_colab_bridge.server.tunnel import (
    AbandonedRequests,
    PageSocket,
    Tunnel,
    TunnelCredentials,
    TunnelHandshake,
    TunnelLimits,
)
from tests.helpers.probes import until

LOG = logging.getLogger("test_tunnel")


class Gate:
    """Holds the slow handlers until released; counts them."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.running = 0


class SlowHandler(web.RequestHandler):
    def initialize(self, gate: Gate) -> None:
        self.gate = gate

    async def get(self) -> None:
        self.gate.running += 1
        try:
            await self.gate.release.wait()
            self.finish("done")
        finally:
            self.gate.running -= 1


class EchoHandler(web.RequestHandler):
    def post(self) -> None:
        self.finish(self.request.body)


class BigHandler(web.RequestHandler):
    chunks = 0

    async def get(self) -> None:
        BigHandler.chunks = 0
        for _ in range(64):
            self.write(b"x" * 65536)
            BigHandler.chunks += 1
            await self.flush()  # fails at once once the page is gone
        self.finish()


class Page:
    """A fake sender: records frames; can 'close', after which sends fail."""

    def __init__(self, close_after: int | None = None) -> None:
        self.frames: list[dict[str, Any]] = []
        self.closed = False
        self.close_after = close_after

    def send(self, frame: str) -> asyncio.Future[None]:
        if self.close_after is not None and len(self.frames) >= self.close_after:
            self.closed = True
        if self.closed:
            raise ConnectionError("closed")
        self.frames.append(json.loads(frame))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    def statuses(self, message_id: Any) -> list[int]:
        return [
            f["status"] for f in self.frames if f.get("message_id") == message_id and "status" in f
        ]

    def done(self, message_id: Any) -> bool:
        return any(f.get("message_id") == message_id and f["done"] for f in self.frames)


@pytest.fixture
def gate() -> Any:
    gate = Gate()
    yield gate
    gate.release.set()


@pytest.fixture
def app(gate: Gate) -> web.Application:
    return web.Application(
        [
            ("/slow", SlowHandler, {"gate": gate}),
            ("/echo", EchoHandler),
            ("/big", BigHandler),
        ]
    )


def make_tunnel(
    app: web.Application,
    page: Page,
    in_flight: int = 4,
    timeout: float = 0,
    abandoned: AbandonedRequests | None = None,
) -> Tunnel:
    limits = TunnelLimits(in_flight, timeout, abandoned or AbandonedRequests(8))
    handshake = TunnelHandshake(
        TunnelCredentials({"Host": "127.0.0.1"}, None), RequestContext("127.0.0.1", "http"), "/"
    )
    return Tunnel(app, handshake, limits, PageSocket(page.send), LOG)


def frame(message_id: str, method: str, path: str, **extra: Any) -> str:
    return json.dumps({"message_id": message_id, "method": method, "path": path, **extra})


async def test_a_request_is_served_and_framed(app: web.Application) -> None:
    page = Page()
    tunnel = make_tunnel(app, page)
    assert tunnel.submit(frame("a", "POST", "/echo", body="hello")) is None
    assert await until(lambda: page.done("a"))
    assert page.statuses("a") == [200]
    data = b"".join(base64.b64decode(f.get("data", "")) for f in page.frames)
    assert data == b"hello"


async def test_bad_frame_gets_400_and_the_tunnel_serves_on(app: web.Application) -> None:
    page = Page()
    tunnel = make_tunnel(app, page)
    tunnel.submit("not json")
    tunnel.submit(frame("p", "GET", "http://elsewhere/api/status"))
    assert [f["status"] for f in page.frames] == [400, 400]
    tunnel.submit(frame("b", "POST", "/echo", body="x"))
    assert await until(lambda: page.done("b"))


async def test_timed_out_request_keeps_its_place(app: web.Application, gate: Gate) -> None:
    page = Page()
    tunnel = make_tunnel(app, page, in_flight=1, timeout=0.05)
    tunnel.submit(frame("s", "GET", "/slow"))
    assert await until(lambda: page.done("s"))
    assert page.statuses("s") == [504]
    assert gate.running == 1
    tunnel.submit(frame("t", "GET", "/slow"))
    assert page.statuses("t") == [503]
    gate.release.set()
    assert await until(lambda: not tunnel.running)
    tunnel.submit(frame("u", "POST", "/echo", body="y"))
    assert await until(lambda: page.done("u"))
    assert page.statuses("u") == [200]


async def test_close_hands_running_handlers_to_the_server_budget(
    app: web.Application, gate: Gate
) -> None:
    abandoned = AbandonedRequests(2)
    page = Page()
    tunnel = make_tunnel(app, page, abandoned=abandoned)
    tunnel.submit(frame("1", "GET", "/slow"))
    tunnel.submit(frame("2", "GET", "/slow"))
    assert await until(lambda: gate.running == 2)
    page.closed = True
    tunnel.close()
    assert len(abandoned.running) == 2
    assert abandoned.spent
    other = Page()
    fresh = make_tunnel(app, other, abandoned=abandoned)
    fresh.submit(frame("3", "POST", "/echo", body="z"))
    assert other.statuses("3") == [503]
    assert "max_abandoned_requests" in other.frames[0]["statusText"]
    gate.release.set()
    assert await until(lambda: not abandoned.running)
    fresh.submit(frame("4", "POST", "/echo", body="z"))
    assert await until(lambda: other.done("4"))
    assert other.statuses("4") == [200]


async def test_a_gone_page_stops_the_producer(app: web.Application) -> None:
    """The handler's next flush fails once a send fails: it does not write on."""
    page = Page(close_after=2)
    tunnel = make_tunnel(app, page)
    errors: list[Any] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    try:
        tunnel.submit(frame("big", "GET", "/big"))
        assert await until(lambda: page.closed and not tunnel.running)
        tunnel.close()
        assert len(page.frames) == 2
        # A frame leaves when the next chunk arrives: the third frame failed, on the
        # fourth write, whose flush was the handler's last.
        assert BigHandler.chunks == 4
    finally:
        loop.set_exception_handler(None)
    assert errors == []


async def test_large_frame_is_parsed_off_the_loop(app: web.Application) -> None:
    page = Page()
    tunnel = make_tunnel(app, page)
    body = os.urandom(LARGE_FRAME_CHARS)
    message = frame("L", "POST", "/echo", body_base64=base64.b64encode(body).decode())
    pending = tunnel.submit(message)
    assert pending is not None  # the socket reads its next frame after this
    await pending
    assert await until(lambda: page.done("L"))
    data = b"".join(base64.b64decode(f.get("data", "")) for f in page.frames)
    assert data == body


async def test_large_bad_frame_gets_400(app: web.Application) -> None:
    page = Page()
    tunnel = make_tunnel(app, page)
    message = frame("L", "POST", "/echo", body_base64="!" * (LARGE_FRAME_CHARS + 1))
    pending = tunnel.submit(message)
    assert pending is not None
    await pending
    assert page.frames == [
        {
            "message_id": "L",
            "status": 400,
            "statusText": 'Invalid request. "body_base64" is not valid base64.',
            "done": True,
        }
    ]


async def test_closed_tunnel_takes_nothing(app: web.Application) -> None:
    page = Page()
    tunnel = make_tunnel(app, page)
    tunnel.close()
    assert tunnel.submit(frame("x", "POST", "/echo", body="x")) is None
    assert page.frames == []
