"""Small WebSocket frames leave at once: TCP_NODELAY on every WebSocket of the server.

A kernel's replies are small frames written one at a time. With Nagle's
algorithm on, each waits for the peer's delayed ACK, about 40 ms a round trip
on Linux. The bridge's own sockets call tornado's public
``WebSocketHandler.set_nodelay`` when they open (``BridgeSocket.open``).
jupyter_server's own WebSockets, the kernel channels that Colab's page opens
directly in direct mode among them, leave Nagle on, and the bridge does not
replace those handlers (a Kernel Gateway's connection class and the kernel
subprotocols must keep working unchanged). So an output transform, which
tornado makes for every request before its handler runs and which adds no
rule to the router, marks each WebSocket handshake of the server, and
changes nothing in the reply.

The mark has to act *after* the handshake: tornado turns Nagle back on when
it finishes an HTTP response, the 101 answer included. The moment a
WebSocket takes the TCP stream over is ``HTTP1Connection.detach()``, called
once per handshake on a connection object of that request alone; the mark
wraps that call so that the stream it hands over has TCP_NODELAY set.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from tornado import httputil, web
from tornado.http1connection import HTTP1Connection
from tornado.iostream import IOStream

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


class NoDelayTransform(web.OutputTransform):
    """Marks each WebSocket handshake for TCP_NODELAY; the reply passes unchanged."""

    log: ClassVar[logging.Logger | logging.LoggerAdapter[Any]]

    def __init__(self, request: httputil.HTTPServerRequest) -> None:
        super().__init__(request)
        if is_upgrade(request.headers) and isinstance(request.connection, HTTP1Connection):
            nodelay_on_detach(request.connection, self.log)


def send_websocket_frames_at_once(web_app: web.Application, log: Any) -> None:
    """Add :class:`NoDelayTransform` (bound to ``log``) to ``web_app``'s transforms."""
    web_app.add_transform(type("BoundNoDelayTransform", (NoDelayTransform,), {"log": log}))
