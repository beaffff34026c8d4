"""``http_over_websocket/proxied_ws/<path>``: the page's WebSockets to this server.

Kernel channels (``api/kernels/<id>/channels``, nearly all of Colab's
traffic) are attached in-process: the handler *is* a kernel WebSocket handler
whose connection class (ZMQ, or a gateway's) talks to the kernel directly, so
there is no second WebSocket hop. Any other path is relayed to the server's
own WebSocket on the socket address this connection arrived on (never a host
named by the page), frames unchanged both ways.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any
from urllib.parse import parse_qsl, urlencode

from jupyter_server.auth.decorator import ws_authenticated
from jupyter_server.services.kernels.websocket import KernelWebsocketHandler
from tornado import httpclient
from tornado.iostream import SSLIOStream
from tornado.websocket import (
    WebSocketClientConnection,
    WebSocketClosedError,
    WebSocketHandler,
    websocket_connect,
)

from ..protocol.frames import TEXT_INTERNAL_ERROR
from ..protocol.paths import BRIDGE_PREFIX, PathError, check_proxied_path
from .base import BRIDGE_QUERY_PARAMS, BridgeHandlerMixin
from .handlers import BridgeSocket

_PROXIED_PREFIX = f"{BRIDGE_PREFIX}/proxied_ws/"


def offered_subprotocols(handler: WebSocketHandler) -> list[str]:
    """The subprotocols the page offered, in its order."""
    header = handler.request.headers.get("Sec-WebSocket-Protocol", "")
    return [p.strip() for p in header.split(",") if p.strip()]


def _buffered_bytes(conn: Any) -> int:
    """Bytes written to a WebSocket but not yet taken by the peer (tornado's buffer)."""
    try:
        return len(conn.stream._write_buffer)
    except (AttributeError, TypeError):  # pragma: no cover - another tornado
        return 0


class KernelChannelsHandler(BridgeHandlerMixin, KernelWebsocketHandler):
    """A kernel's channels through the bridge, attached in-process.

    jupyter_server's own kernel handler does the work (authorizer, connection
    class, subprotocol, rate limits); this adds the bridge's origin and auth
    URL checks, TCP_NODELAY, and closes with 404 for an unknown kernel after
    completing the handshake, as PROTOCOL.md asks.
    """

    missing_kernel: str | None = None

    def initialize(self, name: str | None = None, **kwargs: Any) -> None:
        """Accept (and ignore) the extension name ExtensionApp passes."""

    @ws_authenticated
    async def get(self, kernel_id: str) -> None:  # type: ignore[override]
        """Authorize, attach to the kernel, then upgrade."""
        await self.authorize_or_403()
        self.kernel_id = kernel_id
        if self.auth_url_error is not None:
            self.missing_kernel = TEXT_INTERNAL_ERROR
        elif kernel_id not in self.kernel_manager:
            self.missing_kernel = f"Kernel does not exist: {kernel_id}"
        else:
            await self.pre_get()
        self.reserve_connection()
        try:
            await WebSocketHandler.get(self, kernel_id=kernel_id)
        finally:
            if self.ws_connection is None:
                self.release_connection()

    def select_subprotocol(self, subprotocols: list[str]) -> str | None:
        """The kernel protocol when attached; else the page's first offer."""
        if self.missing_kernel is not None:
            return subprotocols[0] if subprotocols else None
        return super().select_subprotocol(subprotocols)

    async def open(self, kernel_id: str) -> None:  # type: ignore[override]
        """Connect to the kernel, or close with 404 (500 for a refused auth URL)."""
        self.set_nodelay_safely()
        if self.missing_kernel is not None:
            code = 500 if self.auth_url_error is not None else 404
            self.log.warning(
                "Colab bridge: proxied_ws closing with %d: %s", code, self.missing_kernel
            )
            WebSocketHandler.open(self)  # type: ignore[arg-type]
            self.close(code, self.missing_kernel)
            return
        await super().open(kernel_id)

    def write_message(self, message: Any, binary: bool = False) -> Any:
        """Kernel to page; close with 1008 rather than buffer output without bound.

        jupyter_server's kernel connection writes every kernel message at once
        without waiting for the page, so a page that stops reading would make
        the server hold all the kernel's output.
        """
        conn = self.ws_connection
        if conn is not None and not conn.is_closing():
            buffered = _buffered_bytes(conn)
            if buffered > self.bridge.max_buffered_bytes:
                self.log.warning(
                    "Colab bridge: closing kernel socket %s: the page is not reading its "
                    "output (%d bytes waiting; ColabBridge.max_buffered_bytes)",
                    self.kernel_id,
                    buffered,
                )
                self.close(
                    1008, "The page is not reading kernel output (ColabBridge.max_buffered_bytes)"
                )
        if conn is None or conn.is_closing():
            done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            done.set_result(None)
            return done  # the page is gone or going: drop the message quietly
        return super().write_message(message, binary=binary)

    def on_message(self, ws_message: Any) -> None:
        """Hand a frame to the kernel connection."""
        if self.missing_kernel is None and self.connection is not None:
            super().on_message(ws_message)

    def on_close(self) -> None:
        """Detach from the kernel and free this socket's place."""
        self.release_connection()
        if self.missing_kernel is None and getattr(self, "connection", None) is not None:
            super().on_close()


class ProxiedWebSocketHandler(BridgeSocket):
    """Relays any other WebSocket of this server, frames unchanged both ways."""

    upstream: WebSocketClientConnection | None = None
    upstream_error: tuple[int, str] | None = None
    _relay: asyncio.Future[None] | None = None

    @ws_authenticated
    async def get(self, path: str) -> None:  # type: ignore[override]
        """Authorize, open the upstream socket, then upgrade."""
        await self.authorize_or_403()
        raw = self._raw_relative_path()
        if self.auth_url_error is not None:
            self.upstream_error = (500, TEXT_INTERNAL_ERROR)
        else:
            await self._open_upstream(raw)
        self.reserve_connection()
        try:
            await super().get(path)
        finally:
            if self.ws_connection is None:
                self.release_connection()
                if self.upstream is not None:
                    self.upstream.close()

    def _raw_relative_path(self) -> str:
        base = self.settings.get("base_url", "/")
        raw = self.request.path[len(base) + len(_PROXIED_PREFIX) :]
        try:
            return check_proxied_path(raw)
        except PathError as e:
            self.log.warning("Colab bridge: refused a proxied_ws path: %s", e)
            from tornado import web

            raise web.HTTPError(400) from None

    def _upstream_url(self, raw: str) -> str:
        stream = self.request.connection.stream
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
        self.set_nodelay_safely()
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
        """Pass the page's close code and reason on."""
        self.release_connection()
        if self.upstream is not None:
            self.upstream.close(self.close_code, self.close_reason)
