"""One ``http_over_websocket`` connection: REST calls as request frames, as Colab's page sends."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote, urlencode

from .codec import b64decode, dumps, loads
from .websocket import RawWebSocket, ws_connect

if TYPE_CHECKING:
    from .server import Server


@dataclass
class Pending:
    """One request's reply as it arrives: status, body bytes, frames, largest chunk."""

    future: asyncio.Future[Pending] | None = None
    status: int | None = None
    nbytes: int = 0
    frames: int = 0
    max_chunk: int = 0


class BridgeConn:
    """One ``http_over_websocket`` socket.

    ``concurrent``: a reader task hands each reply to its waiter, so many
    requests may be in flight. Otherwise :meth:`call` sends one request and
    reads its reply inline, as the direct client does (no extra task hop).
    """

    def __init__(self, ws: RawWebSocket, concurrent: bool) -> None:
        self.ws = ws
        self.pending: dict[str, Pending] = {}
        self._ids = itertools.count()
        self._reader = asyncio.ensure_future(self._read()) if concurrent else None

    @classmethod
    async def open(cls, server: Server, concurrent: bool = True) -> BridgeConn:
        auth = f"http://127.0.0.1:{server.port}/?token={quote(server.token)}"
        query = urlencode({"min_version": "0.0.7", "jupyter_http_over_ws_auth_url": auth})
        url = f"ws://127.0.0.1:{server.port}/http_over_websocket?{query}"
        ws = await ws_connect(url)
        return cls(ws, concurrent)

    def _absorb(self, message: str | bytes) -> Pending | None:
        """Account one reply frame; return its request's state once it is done."""
        frame = loads(message)
        p = self.pending[frame["message_id"]]
        p.frames += 1
        if "status" in frame:
            p.status = frame["status"]
        data = frame.get("data")
        if data is not None:
            raw = b64decode(data)
            p.nbytes += len(raw)
            p.max_chunk = max(p.max_chunk, len(raw))
        if frame["done"]:
            del self.pending[frame["message_id"]]
            return p
        return None

    async def _read(self) -> None:
        while True:
            message = await self.ws.read_message()
            if message is None:
                error = ConnectionError(f"bridge socket closed: {self.ws.close_code}")
                for p in self.pending.values():
                    if p.future is not None and not p.future.done():
                        p.future.set_exception(error)
                return
            done = self._absorb(message)
            if done is not None and done.future is not None:
                done.future.set_result(done)

    def request(self, method: str, path: str) -> asyncio.Future[Pending]:
        """Send a request; its future resolves with the whole reply (concurrent mode)."""
        assert self._reader is not None
        mid = str(next(self._ids))
        future: asyncio.Future[Pending] = asyncio.get_running_loop().create_future()
        self.pending[mid] = Pending(future)
        self.ws.write_message(dumps({"message_id": mid, "method": method, "path": path}))
        return future

    async def call(self, method: str, path: str) -> Pending:
        """Send one request and read its reply inline (sequential mode)."""
        assert self._reader is None
        mid = str(next(self._ids))
        self.pending[mid] = Pending()
        self.ws.write_message(dumps({"message_id": mid, "method": method, "path": path}))
        while True:
            message = await self.ws.read_message()
            if message is None:
                raise ConnectionError(f"bridge socket closed: {self.ws.close_code}")
            done = self._absorb(message)
            if done is not None:
                return done

    def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
        self.ws.close()
