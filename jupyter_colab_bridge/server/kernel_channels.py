"""``http_over_websocket/proxied_ws/api/kernels/<id>/channels``: kernels in-process.

Kernel channels are nearly all of Colab's traffic. The handler *is*
jupyter_server's kernel WebSocket handler, whose connection class (ZMQ, or a
gateway's) talks to the kernel directly, so there is no second WebSocket hop.
"""

from __future__ import annotations

import asyncio
from typing import Any

from jupyter_server.auth.decorator import ws_authenticated
from jupyter_server.services.kernels.websocket import KernelWebsocketHandler
from tornado.websocket import WebSocketHandler

from .._compat import forget_trait
from ..protocol.frames import TEXT_INTERNAL_ERROR
from .base import BridgeSocket


class KernelChannelsHandler(BridgeSocket, KernelWebsocketHandler):
    """A kernel's channels through the bridge, attached in-process.

    jupyter_server's own kernel handler does the work (authorizer, connection
    class, subprotocol, rate limits); this adds the bridge's origin and
    credential checks and connection limit, and closes with 404 for an
    unknown kernel after completing the handshake, as docs/protocol.md section 3 asks.
    """

    missing_kernel: str | None = None

    @ws_authenticated
    async def get(self, kernel_id: str) -> None:
        """Authorize, take a place, attach to the kernel, then upgrade.

        The place comes first: a socket refused with 503 must not have
        registered its session with the kernel (closing a "stale" one).
        """
        await self.authorize_or_403()
        self.kernel_id = kernel_id
        async with self.place():
            if self.auth_url_error is not None:
                self.missing_kernel = TEXT_INTERNAL_ERROR
            elif kernel_id not in self.kernel_manager:
                self.missing_kernel = f"Kernel does not exist: {kernel_id}"
            else:
                await self.pre_get()
            await WebSocketHandler.get(self, kernel_id=kernel_id)

    def select_subprotocol(self, subprotocols: list[str]) -> str | None:
        """The kernel protocol when attached; else the page's first offer."""
        if self.missing_kernel is not None:
            return subprotocols[0] if subprotocols else None
        chosen: str | None = super().select_subprotocol(subprotocols)
        return chosen

    async def open(self, kernel_id: str) -> None:
        """Connect to the kernel, or close with 404 (500 for a refused auth URL)."""
        if self.missing_kernel is not None:
            code = 500 if self.auth_url_error is not None else 404
            self.log.warning(
                "Colab bridge: proxied_ws closing with %d: %s", code, self.missing_kernel
            )
            WebSocketHandler.open(self)
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
            buffered = self.write_backlog.bytes
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
        return self.write_backlog.track(super().write_message(message, binary=binary), message)

    def on_message(self, ws_message: Any) -> None:
        """Hand a frame to the kernel connection."""
        if self.missing_kernel is None and self.connection is not None:
            super().on_message(ws_message)

    def on_close(self) -> None:
        """Detach from the kernel and free this socket's place."""
        self.release_connection()
        connection = getattr(self, "connection", None)
        if self.missing_kernel is None and connection is not None:
            super().on_close()  # the mixin's and jupyter_server's (the kernel)
            release_handler(connection)
        else:
            self.stop_pings()
            self.forget_call_context()


def release_handler(connection: Any) -> None:
    """Let a disconnected kernel connection forget its WebSocket handler.

    jupyter_server's ``ZMQChannelsWebsocketConnection.prepare`` schedules a
    ``give_up`` timer (``kernel_info_timeout``, 60 s by default) that is never
    cancelled and holds the connection, which holds the handler through its
    ``websocket_handler`` trait. The trait does not allow None, so its value is
    removed (:func:`.._compat.forget_trait`); the connection is disconnected and
    nothing reads it afterwards.
    """
    forget_trait(connection, "websocket_handler")
