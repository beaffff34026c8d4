"""``http_over_websocket/proxied_ws/<path>``: the page's other WebSockets, relayed.

Kernel channels, nearly all of Colab's traffic, are attached in-process
instead (:mod:`.kernel_channels`). Any other path is relayed to the server's
own WebSocket on the socket address this connection arrived on (never a host
named by the page), frames unchanged both ways.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any
from urllib.parse import parse_qsl, urlencode

from jupyter_server.auth.decorator import ws_authenticated
from tornado import httpclient, web
from tornado.iostream import SSLIOStream
from tornado.websocket import (
    WebSocketClientConnection,
    WebSocketClosedError,
    WebSocketHandler,
    websocket_connect,
)

from ..protocol.frames import TEXT_INTERNAL_ERROR
from ..protocol.paths import BRIDGE_PREFIX, PathError, check_proxied_path
from .base import BRIDGE_QUERY_PARAMS, BridgeSocket

_PROXIED_PREFIX = f"{BRIDGE_PREFIX}/proxied_ws/"


def offered_subprotocols(handler: WebSocketHandler) -> list[str]:
    """The subprotocols the page offered, in its order."""
    header = handler.request.headers.get("Sec-WebSocket-Protocol", "")
    return [p.strip() for p in header.split(",") if p.strip()]


class ProxiedWebSocketHandler(BridgeSocket):
    """Relays any other WebSocket of this server, frames unchanged both ways."""

    upstream: WebSocketClientConnection | None = None
    upstream_error: tuple[int, str] | None = None
    _relay: asyncio.Future[None] | None = None

    @ws_authenticated
    async def get(self, path: str) -> None:
        """Authorize, take a place, open the upstream socket, then upgrade.

        The place comes first: a socket refused with 503 opens nothing upstream.
        """
        await self.authorize_or_403()
        raw = self._raw_relative_path()
        async with self.place():
            try:
                if self.auth_url_error is not None:
                    self.upstream_error = (500, TEXT_INTERNAL_ERROR)
                else:
                    await self._open_upstream(raw)
                await super().get(path)
            finally:
                if self.ws_connection is None and self.upstream is not None:
                    self.upstream.close()

    def _raw_relative_path(self) -> str:
        base = self.settings.get("base_url", "/")
        raw = self.request.path[len(base) + len(_PROXIED_PREFIX) :]
        try:
            return check_proxied_path(raw)
        except PathError as e:
            self.log.warning("Colab bridge: refused a proxied_ws path: %s", e)
            raise web.HTTPError(400) from None

    def _upstream_url(self, raw: str) -> str:
        stream = self.connection_stream()
        if stream is None or stream.closed():
            raise web.HTTPError(500, "the handshake's connection has closed")
        address = stream.socket.getsockname()
        host, port = address[0], address[1]
        if stream.socket.family == socket.AF_INET6:
            host = f"[{host}]"
        scheme = "wss" if isinstance(stream, SSLIOStream) else "ws"
        query = [
            (k, v)
            for k, v in parse_qsl(self.request.query, keep_blank_values=True)
            if k not in BRIDGE_QUERY_PARAMS
        ]
        url = f"{scheme}://{host}:{port}{self.settings.get('base_url', '/')}{raw}"
        return f"{url}?{urlencode(query)}" if query else url

    async def _open_upstream(self, raw: str) -> None:
        headers = self.upstream_credentials()
        headers["Host"] = self.local_host_header()
        timeout = self.bridge.upstream_connect_timeout or None
        request = httpclient.HTTPRequest(
            self._upstream_url(raw),
            headers=headers,
            connect_timeout=timeout,
            request_timeout=timeout,
            validate_cert=False,  # our own socket, reached by address
        )
        try:
            self.upstream = await websocket_connect(
                request,
                subprotocols=offered_subprotocols(self) or None,
                max_message_size=self.max_message_size,
            )
        except httpclient.HTTPClientError as e:
            self.log.warning("Colab bridge: upstream WebSocket %s refused: %s", raw, e.code)
            self.upstream_error = (e.code, e.message or "Upstream WebSocket refused")
        except Exception:
            self.log.exception("Colab bridge: could not open upstream WebSocket %s", raw)
            self.upstream_error = (500, TEXT_INTERNAL_ERROR)

    def select_subprotocol(self, subprotocols: list[str]) -> str | None:
        """The subprotocol the upstream chose; else the page's first offer."""
        if self.upstream is not None:
            chosen = self.upstream.selected_subprotocol
            return chosen if chosen in subprotocols else None
        return subprotocols[0] if subprotocols else None

    def open(self, *args: Any, **kwargs: Any) -> None:
        """Start relaying, or close with the upstream's status."""
        super().open(*args, **kwargs)
        if self.upstream is None:
            code, reason = self.upstream_error or (500, TEXT_INTERNAL_ERROR)
            self.close(code, reason)
            return
        self._relay = asyncio.ensure_future(self._relay_from_upstream(self.upstream))

    async def _relay_from_upstream(self, upstream: WebSocketClientConnection) -> None:
        while True:
            message = await upstream.read_message()
            if message is None:
                break
            try:
                await self.write_message(message, binary=isinstance(message, bytes))
            except WebSocketClosedError:
                upstream.close()
                return
        self.close(upstream.close_code, upstream.close_reason)

    async def on_message(self, message: str | bytes) -> None:
        """Page to upstream; waits for the upstream to take it (flow control)."""
        if self.upstream is None:
            return
        try:
            await self.upstream.write_message(message, binary=isinstance(message, bytes))
        except WebSocketClosedError:
            self.close()

    def on_close(self) -> None:
        """Stop pings, free the place, pass the page's close code and reason on."""
        super().on_close()
        self.release_connection()
        if self.upstream is not None:
            self.upstream.close(self.close_code, self.close_reason)
