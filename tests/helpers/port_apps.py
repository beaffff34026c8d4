"""A small web app on a loopback port: what the port proxy's tests and benchmark reach.

Routes: ``/hello`` (echoes method, path, query and headers as JSON), ``/bytes?n=``
(streams ``n`` bytes in 64 KiB chunks), ``/upload`` (reads a streamed body and
answers its length and SHA-256), ``/redirect`` (a 302 to ``/hello``) and
``/drip`` (a first piece, the rest once ``Drip.released`` is set) and ``/ws``
(a WebSocket echo that keeps text and binary frames); ``/short`` (cuts its reply
short) and ``/silent`` (answers once ``Silent.released`` is set).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from typing import Any

from tornado import httputil, web
from tornado.httpserver import HTTPServer
from tornado.iostream import StreamClosedError
from tornado.netutil import bind_sockets
from tornado.websocket import WebSocketHandler

CHUNK = 64 * 1024


class Hello(web.RequestHandler):
    def _answer(self) -> None:
        self.set_header("Content-Type", "application/json")
        self.set_header("X-Target", "yes")
        self.finish(
            json.dumps(
                {
                    "method": self.request.method,
                    "uri": self.request.uri,
                    "headers": dict(self.request.headers.get_all()),
                }
            )
        )

    def get(self) -> None:
        self._answer()

    def post(self) -> None:
        self._answer()

    def delete(self) -> None:
        self._answer()


class Bytes(web.RequestHandler):
    def head(self) -> None:
        self.set_header("Content-Length", self.get_argument("n"))
        self.finish()

    async def get(self) -> None:
        remaining = int(self.get_argument("n"))
        self.set_header("Content-Type", "application/octet-stream")
        self.set_header("Content-Length", str(remaining))
        block = bytes(range(256)) * (CHUNK // 256)
        while remaining > 0:
            piece = block[: min(CHUNK, remaining)]
            self.write(piece)
            try:
                await self.flush()
            except StreamClosedError:  # the reader went away
                return
            remaining -= len(piece)


@web.stream_request_body
class Upload(web.RequestHandler):
    def prepare(self) -> None:
        self.size = 0
        self.digest = hashlib.sha256()

    def data_received(self, chunk: bytes) -> None:
        self.size += len(chunk)
        self.digest.update(chunk)

    def post(self) -> None:
        self.finish({"size": self.size, "sha256": self.digest.hexdigest()})

    put = post


class Drip(web.RequestHandler):
    """Sends a first piece, then the rest once ``released`` is set (a slow app)."""

    released: asyncio.Event

    async def get(self) -> None:
        self.write(b"first piece;")
        await self.flush()
        await self.released.wait()
        self.finish(b"the rest")


class Short(web.RequestHandler):
    """Promises 100 bytes, sends 10 and closes (an app that crashed mid-reply)."""

    async def get(self) -> None:
        self.set_header("Content-Length", "100")
        self.write(b"x" * 10)
        await self.flush()
        self.request.connection.close()  # type: ignore[attr-defined]


class Silent(web.RequestHandler):
    """Never answers until ``released`` is set."""

    released: asyncio.Event

    async def get(self) -> None:
        await self.released.wait()
        self.finish("late")


class Redirect(web.RequestHandler):
    def get(self) -> None:
        self.redirect("/hello?from=redirect")


class Echo(WebSocketHandler):
    def check_origin(self, origin: str) -> bool:
        return True

    async def on_message(self, message: str | bytes) -> None:
        await self.write_message(message, binary=isinstance(message, bytes))


class TargetApp:
    """The app, listening on ``port`` (a free one by default) of 127.0.0.1 until :meth:`close`."""

    def __init__(self, port: int = 0) -> None:
        app = web.Application(
            [
                (r"/hello", Hello),
                (r"/bytes", Bytes),
                (r"/upload", Upload),
                (r"/redirect", Redirect),
                (r"/drip", Drip),
                (r"/short", Short),
                (r"/silent", Silent),
                (r"/ws", Echo),
            ]
        )
        sockets = bind_sockets(port, "127.0.0.1")
        self.port: int = sockets[0].getsockname()[1]
        self.server = HTTPServer(app, max_body_size=1 << 40)
        self.server.add_sockets(sockets)

    def close(self) -> None:
        self.server.stop()


def json_body(response: Any) -> Any:
    """A reply's body as JSON (a tornado response or a tunnel's reply)."""
    return json.loads(response.body)


def header_map(headers: dict[str, str]) -> httputil.HTTPHeaders:
    """Echoed headers, looked up without regard to case."""
    return httputil.HTTPHeaders(headers)
