"""In-process dispatch of tunnelled HTTP requests through the server's own app.

Each request frame becomes a real :class:`tornado.httputil.HTTPServerRequest`
handed to the server's tornado application, exactly as its HTTP server would
hand it over, so it meets the same handlers, authentication, authorization
and XSRF checks as a direct call, with no loopback TCP hop and no host taken
from the page. The connection it is served on (:class:`.tunnel.TunnelConnection`)
turns the response into reply frames as it is written, and carries the
socket's verdict to the front door (:mod:`.front_door`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from tornado import httputil

from ..protocol.frames import BridgeRequest


async def dispatch(
    application: Any,
    request: BridgeRequest,
    headers: Mapping[str, str],
    connection: httputil.HTTPConnection,
) -> None:
    """Hand ``request`` to ``application`` as its HTTP server would, on ``connection``.

    ``connection`` (a :class:`.tunnel.TunnelConnection`) receives the reply
    and carries the request's verdict to the front door; the caller awaits
    its end.
    """
    request_headers = httputil.HTTPHeaders(headers)
    body = request.body or b""
    if body or request.method in ("POST", "PUT", "PATCH"):
        request_headers["Content-Length"] = str(len(body))
    delegate = application.start_request(None, connection)
    start_line = httputil.RequestStartLine(request.method, request.path, "HTTP/1.1")
    pending = delegate.headers_received(start_line, request_headers)
    if pending is not None:
        await pending
    if body and not hand_over_body(delegate, body):
        pending = delegate.data_received(body)
        if pending is not None:
            await pending
    delegate.finish()


@runtime_checkable
class RoutingDelegate(Protocol):
    """tornado's routing delegate: once the headers are in, the delegate its router found."""

    delegate: httputil.HTTPMessageDelegate | None


@runtime_checkable
class WholeBodyDelegate(Protocol):
    """tornado's handler delegate: a handler's buffered body, unless it streams it."""

    stream_request_body: bool
    chunks: bytearray | bytes


def whole_body_delegate(delegate: object) -> WholeBodyDelegate | None:
    """The handler delegate behind ``delegate`` (routers may nest), if it buffers the body."""
    while not isinstance(delegate, WholeBodyDelegate):
        if not isinstance(delegate, RoutingDelegate):
            return None
        delegate = delegate.delegate
    if delegate.stream_request_body is not False:
        return None
    return delegate


def hand_over_body(delegate: object, body: bytes) -> bool:
    """Give a handler that reads its body whole ``body`` itself, not two copies of it.

    tornado's handler delegate appends each chunk to a ``bytearray`` and
    makes ``request.body`` a ``bytes`` copy of it: for a 48 MiB upload, two
    more copies while the bridge's own is still alive. Where the delegate
    behind the routers has that declared shape (:class:`WholeBodyDelegate`,
    an empty ``bytearray``, not streaming), its buffer is replaced by
    ``body``, which ``bytes()`` returns as it is. False where it has not (a
    handler that streams its body, another tornado): the caller feeds the
    body as a chunk.
    """
    target = whole_body_delegate(delegate)
    if target is None or not isinstance(target.chunks, bytearray) or target.chunks:
        return False
    target.chunks = body
    return True
