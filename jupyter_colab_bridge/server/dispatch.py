"""In-process dispatch of tunnelled HTTP requests through the server's own app.

Each request frame becomes a real :class:`tornado.httputil.HTTPServerRequest`
handed to the server's tornado application, exactly as its HTTP server would
hand it over, so it meets the same handlers, authentication, authorization
and XSRF checks as a direct call, with no loopback TCP hop and no host taken
from the page. The response the handler writes is turned into reply frames
as it is written; a handler that streams (a file download) waits for the
page's WebSocket to drain before it writes more.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping
from http.client import responses
from typing import Any, Callable

from tornado import httputil
from tornado.iostream import StreamClosedError

from ..protocol.frames import BridgeRequest, MessageId, ReplyFramer
from .context import RequestContext
from .verdict import NOT_JUDGED, PageVerdict

#: Sends one text frame to the page; returns a future that resolves once it
#: is flushed, or raises if the page has gone away.
FrameSender = Callable[[str], "Awaitable[None] | None"]

#: Response headers never relayed to the page.
_DROPPED_REPLY_HEADERS = frozenset({"set-cookie", "connection", "keep-alive", "transfer-encoding"})


def reply_headers(headers: httputil.HTTPHeaders) -> dict[str, str]:
    """Response headers as a JSON object, repeated names joined with ``, ``."""
    out: dict[str, str] = {}
    for name, value in headers.get_all():
        if name.lower() in _DROPPED_REPLY_HEADERS:
            continue
        out[name] = f"{out[name]}, {value}" if name in out else value
    return out


def _done_future(exc: BaseException | None = None) -> asyncio.Future[None]:
    fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    if exc is None:
        fut.set_result(None)
    else:
        fut.set_exception(exc)
        fut.add_done_callback(lambda f: f.exception())  # a handler may not wait for it
    return fut


def _page_gone(frame: str) -> None:
    """The sender of a connection whose reply is over."""
    raise StreamClosedError()


class TunnelConnection(httputil.HTTPConnection):
    """The ``HTTPConnection`` a tunnelled request is served on.

    It receives the handler's status line, headers and body chunks and sends
    them to the page as reply frames through ``send``. ``finished`` resolves
    when the reply's last frame is sent; ``handler_done`` when the handler
    has finished, even after the page went away (the in-flight limits count
    it until then). Every frame's flush is watched: the first that fails
    aborts the connection, so the handler's next write fails at once.
    """

    def __init__(
        self,
        context: RequestContext,
        message_id: MessageId,
        send: FrameSender,
        verdict: PageVerdict = NOT_JUDGED,
    ) -> None:
        self.context = context
        #: The record of this request, the socket's (read by the front door).
        self.verdict = verdict
        self.message_id = message_id
        self._send_frame = send
        self._framer = ReplyFramer(message_id)
        self._close_callback: Callable[[], None] | None = None
        self.closed = False
        self.status: int | None = None
        loop = asyncio.get_running_loop()
        self.finished: asyncio.Future[None] = loop.create_future()
        self.handler_done: asyncio.Future[None] = loop.create_future()

    # -- tornado's HTTPConnection interface ---------------------------------
    def set_close_callback(self, callback: Callable[[], None] | None) -> None:
        self._close_callback = callback

    def write_headers(
        self,
        start_line: httputil.RequestStartLine | httputil.ResponseStartLine,
        headers: httputil.HTTPHeaders,
        chunk: bytes | None = None,
    ) -> asyncio.Future[None]:
        assert isinstance(start_line, httputil.ResponseStartLine)
        self.status = start_line.code
        reason = start_line.reason or responses.get(start_line.code, "Unknown")
        self._framer.start(start_line.code, reason, reply_headers(headers))
        return self.write(chunk or b"")

    def write(self, chunk: bytes) -> asyncio.Future[None]:
        if self.closed:
            return _done_future(StreamClosedError())
        last: Awaitable[None] | None = None
        for frame in self._framer.feed(chunk):
            last = self._send(frame)
            if self.closed:
                return _done_future(StreamClosedError())
        if last is None:
            return _done_future()
        return self._chain(last)

    def finish(self) -> None:
        if not self.handler_done.done():
            self.handler_done.set_result(None)
        if self.closed or self._framer.finished:
            return
        self._send(self._framer.finish())
        self._let_go()
        if not self.finished.done():
            self.finished.set_result(None)

    # -- used by the bridge ---------------------------------------------------
    def abort(self) -> None:
        """The page went away or the request timed out: stop relaying it."""
        if self.closed:
            return
        self.closed = True
        self._let_go()
        if not self.finished.done():
            self.finished.set_exception(StreamClosedError())
            self.finished.exception()
        callback, self._close_callback = self._close_callback, None
        if callback is not None:
            callback()

    def _let_go(self) -> None:
        """Forget the socket's sender once the reply is over: nothing more is sent.

        The request (and through it this connection) can outlive the reply:
        jupyter_server's ``CallContext`` keeps the handler, and so its request,
        in every timer scheduled while it ran, until the timer's deadline. The
        sender leads to the tunnel and its socket handler, which must not be
        kept that long once the page has closed.
        """
        self._send_frame = _page_gone

    @property
    def started(self) -> bool:
        """Whether any frame of the reply has been sent."""
        return self.status is not None

    def _send(self, frame: str) -> Awaitable[None] | None:
        try:
            sent = self._send_frame(frame)
        except Exception:
            self.abort()
            return None
        if sent is None:
            return None
        flushed = asyncio.ensure_future(sent)
        flushed.add_done_callback(self._on_flushed)
        return flushed

    def _on_flushed(self, flushed: asyncio.Future[None]) -> None:
        """Retrieve every frame's outcome; the first failure aborts the reply."""
        if flushed.cancelled() or flushed.exception() is not None:
            self.abort()

    def _chain(self, flushed: Awaitable[None]) -> asyncio.Future[None]:
        """A future that resolves when ``flushed`` does, StreamClosedError if it fails."""
        ours: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def _copy(fut: asyncio.Future[None]) -> None:
            if ours.done():
                return
            if fut.cancelled() or fut.exception() is not None:
                self.abort()
                ours.set_exception(StreamClosedError())
                ours.exception()
            else:
                ours.set_result(None)

        asyncio.ensure_future(flushed).add_done_callback(_copy)
        return ours


async def dispatch(
    application: Any,
    request: BridgeRequest,
    headers: Mapping[str, str],
    context: RequestContext,
    send: FrameSender,
    verdict: PageVerdict = NOT_JUDGED,
) -> TunnelConnection:
    """Start serving ``request`` through ``application``; return its connection.

    ``verdict`` is the socket's record (:mod:`.verdict`), which the front
    door gives the request. The caller awaits ``connection.finished`` for
    the end of the reply.
    """
    connection = TunnelConnection(context, request.message_id, send, verdict)
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
    return connection


def hand_over_body(delegate: Any, body: bytes) -> bool:
    """Give a handler that reads its body whole ``body`` itself, not two copies of it.

    tornado's ``_HandlerDelegate`` appends each chunk to a ``bytearray`` and
    makes ``request.body`` a ``bytes`` copy of it: for a 48 MiB upload, two
    more copies while the bridge's own is still alive. Where the delegate
    (behind the routers) is that kind, its buffer is replaced by ``body``,
    which ``bytes()`` returns as it is. False where it is not (a handler that
    streams its body, another tornado): the caller feeds the body as a chunk.
    """
    while not hasattr(delegate, "chunks"):
        delegate = getattr(delegate, "delegate", None)
        if delegate is None:
            return False
    if (
        getattr(delegate, "stream_request_body", True)
        or not isinstance(delegate.chunks, bytearray)
        or delegate.chunks
    ):
        return False
    delegate.chunks = body
    return True
