"""Small WebSocket frames leave at once: TCP_NODELAY on every WebSocket of the server.

A kernel's replies are small frames written one at a time. With Nagle's
algorithm on, each waits for the peer's delayed ACK, about 40 ms a round trip
on Linux; jupyter_server's own kernel WebSocket, which Colab's page opens
directly in direct mode, leaves it on. Rather than replace jupyter_server's
kernel handler (a Kernel Gateway's connection class and the kernel
subprotocols must keep working unchanged), a router consulted before every
route marks each WebSocket handshake, whichever handler it goes to (kernel
channels, terminals, events, the bridge's own sockets), and declines.

The mark has to act *after* the handshake: tornado turns Nagle back on when
it finishes an HTTP response (``HTTP1Connection._finish_request``), the 101
answer included. The moment a WebSocket takes the TCP stream over is
``HTTP1Connection.detach()``, called once per handshake on a connection
object of that request alone; the router wraps that call so that the stream
it hands over has TCP_NODELAY set.
"""

from __future__ import annotations

from typing import Any

from tornado import httputil, web
from tornado.http1connection import HTTP1Connection
from tornado.iostream import IOStream
from tornado.routing import AnyMatches, Router, Rule

from ..protocol.handshake import is_upgrade


def nodelay_on_detach(connection: HTTP1Connection, log: Any) -> None:
    """Make ``connection.detach()`` set TCP_NODELAY on the stream it hands over."""
    detach = connection.detach

    def detach_with_nodelay() -> IOStream:
        stream = detach()
        try:
            stream.set_nodelay(True)  # a no-op on a Unix socket
        except OSError:  # the peer has already gone
            log.debug("Colab bridge: could not set TCP_NODELAY", exc_info=True)
        return stream

    # This connection object serves this one request (a WebSocket handshake,
    # after which it is never reused), so the wrapper reaches nothing else.
    connection.detach = detach_with_nodelay  # type: ignore[method-assign]  # on purpose, above


class NoDelayForWebSockets(Router):
    """Marks each WebSocket handshake for TCP_NODELAY; routes nothing."""

    def __init__(self, log: Any) -> None:
        self.log = log

    def find_handler(
        self, request: httputil.HTTPServerRequest, **kwargs: Any
    ) -> httputil.HTTPMessageDelegate | None:
        """Mark an upgrade; always decline."""
        if is_upgrade(request.headers) and isinstance(request.connection, HTTP1Connection):
            nodelay_on_detach(request.connection, self.log)
        return None


def send_websocket_frames_at_once(web_app: web.Application, log: Any) -> None:
    """Install :class:`NoDelayForWebSockets` ahead of every route of ``web_app``."""
    web_app.default_router.rules.insert(0, Rule(AnyMatches(), NoDelayForWebSockets(log)))
