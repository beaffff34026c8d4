"""One ``http_over_websocket`` socket's tunnel: its requests, limits and timeouts.

The handler (:class:`.handlers.HttpOverWebSocketHandler`) authorizes the
handshake, builds a :class:`Tunnel` with what the handshake established
(:class:`TunnelHandshake`: credentials, peer, verdict) and how to reach the
page (:class:`PageSocket`), forwards each frame to :meth:`Tunnel.submit` and
calls :meth:`Tunnel.close` when the page goes away. Everything else lives here:

* each request is served on a :class:`TunnelConnection`, which turns the
  handler's response into reply frames as it is written (a handler that
  streams waits for the page's socket to drain) and gives the front door
  the socket's verdict;
* a request keeps its place under ``max_requests_in_flight`` until its
  *handler* finishes, even after a 504 or after the page closed: tornado
  never cancels a handler, so the limit counts the work, not the waiting;
* handlers still running when their socket closed move to a server-wide
  budget (:class:`AbandonedRequests`, ``ColabBridge.max_abandoned_requests``);
  while it is spent, every socket's new requests get 503, so opening new
  sockets cannot multiply the work;
* a frame longer than :data:`~..protocol.frames.LARGE_FRAME_CHARS` is parsed
  and decoded in a worker thread, and tornado reads the socket's next frame
  only when it is done: the event loop is never held by a queue of them. A
  large text frame arrives as its raw bytes (:mod:`.large_text`,
  :meth:`Tunnel.submit_text_bytes`), so no ``str`` of it is ever made.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from http.client import responses
from typing import Any, Callable

from tornado import httputil
from tornado.iostream import StreamClosedError

from ..protocol.frames import (
    LARGE_FRAME_CHARS,
    MUTATING_METHODS,
    TEXT_INTERNAL_ERROR,
    BridgeRequest,
    FrameError,
    MessageId,
    NotUtf8Error,
    ReplyFramer,
    error_frame,
    parse_request_frame,
    parse_text_frame_bytes,
)
from ..protocol.paths import PathError, check_request_path
from .context import RequestContext
from .corking import BurstCork
from .dispatch import dispatch
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


class AbandonedRequests:
    """Handlers still running whose socket has closed, server-wide, and their budget."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.running: set[TunnelConnection] = set()

    @property
    def spent(self) -> bool:
        """Whether new requests must wait for some of these to finish."""
        return len(self.running) >= self.limit

    def adopt(self, connection: TunnelConnection) -> None:
        """Count ``connection`` until its handler finishes."""
        if connection.handler_done.done():
            return
        self.running.add(connection)
        connection.handler_done.add_done_callback(lambda _: self.running.discard(connection))


@dataclass(frozen=True)
class TunnelLimits:
    """The settings one tunnel runs under (``ColabBridge``'s traits)."""

    max_in_flight: int
    request_timeout: float  # seconds before the reply starts; 0: none
    abandoned: AbandonedRequests


@dataclass(frozen=True)
class TunnelCredentials:
    """What authenticated the handshake, forwarded with every request."""

    headers: Mapping[str, str]
    xsrf_cookie: str | None

    def for_method(self, method: str) -> dict[str, str]:
        """The headers of one request: XSRF's echo for a cookie socket's mutations."""
        headers = dict(self.headers)
        if "Cookie" in headers and self.xsrf_cookie and method in MUTATING_METHODS:
            headers["X-XSRFToken"] = self.xsrf_cookie
        return headers


@dataclass(frozen=True)
class TunnelHandshake:
    """What the socket's handshake established, for each of its requests."""

    credentials: TunnelCredentials
    #: The peer's address, for tornado's ``request.remote_ip``.
    context: RequestContext
    base_url: str
    #: The record of every request of this socket (:mod:`.verdict`).
    verdict: PageVerdict = NOT_JUDGED
    #: Why every request is refused with 500 (the auth URL was refused), else None.
    refusal: str | None = None


@dataclass(frozen=True)
class PageSocket:
    """How the tunnel reaches the page."""

    write: FrameSender
    #: Closes the socket with a code and reason (a text frame that is not UTF-8).
    fail: Callable[[int, str], None] | None = None


class Tunnel:
    """Serves one socket's request frames through the server's own application."""

    def __init__(
        self,
        application: Any,
        handshake: TunnelHandshake,
        limits: TunnelLimits,
        page: PageSocket,
        log: logging.Logger,
    ) -> None:
        self.application = application
        self.handshake = handshake
        self.credentials = handshake.credentials
        self.base_url = handshake.base_url
        self.refusal = handshake.refusal
        self.limits = limits
        self.log = log
        self._write = page.write
        self._fail = page.fail
        self._cork = BurstCork(None)
        self.tasks: set[asyncio.Future[None]] = set()
        #: Requests not yet handed to a handler, and those whose handler has not
        #: finished: together, the in-flight count.
        self.starting = 0
        self.running: set[TunnelConnection] = set()
        self.closed = False

    # -- the handler's interface -------------------------------------------------------
    def submit(self, message: str | bytes) -> asyncio.Future[None] | None:
        """Start serving one request frame.

        For a large frame, returns a future that resolves once it is parsed
        (off the event loop); the caller lets the socket read on after it.
        """
        if self.closed:
            return None
        if len(message) > LARGE_FRAME_CHARS:
            return asyncio.ensure_future(self._submit_large(message))
        try:
            request = parse_request_frame(message)
        except FrameError as e:
            self._reply(e.reply())
            return None
        self._start(request)
        return None

    def submit_text_bytes(self, data: bytes) -> asyncio.Future[None] | None:
        """Start serving a large text frame given as its raw bytes (:mod:`.large_text`).

        As :meth:`submit` for a large frame; the UTF-8 is checked off the loop,
        and a frame that is not UTF-8 closes the socket with 1007 (RFC 6455).
        """
        if self.closed:
            return None
        return asyncio.ensure_future(self._submit_large(data, parse_text_frame_bytes))

    def cork(self, sock: Any) -> None:
        """Coalesce bursts of reply frames on ``sock`` (:mod:`.corking`)."""
        self._cork = BurstCork(sock)

    def close(self) -> None:
        """The page went away: stop relaying; running handlers move to the server's budget."""
        if self.closed:
            return
        self.closed = True
        for connection in list(self.running):
            connection.abort()
            self.limits.abandoned.adopt(connection)
        for task in list(self.tasks):
            task.cancel()
        if self.running:
            self.log.info(
                "Colab bridge: the page closed with %d request(s) running; they finish "
                "unanswered (ColabBridge.max_abandoned_requests)",
                len(self.running),
            )

    # -- one request -------------------------------------------------------------------
    async def _submit_large(
        self,
        message: str | bytes,
        parse: Callable[[Any], BridgeRequest] = parse_request_frame,
    ) -> None:
        loop = asyncio.get_running_loop()
        try:
            request = await loop.run_in_executor(None, parse, message)
        except NotUtf8Error as e:
            self.log.warning("Colab bridge: closing a tunnel socket: %s", e.text)
            if self._fail is not None:
                self._fail(1007, e.text)
            else:
                self._reply(e.reply())
            return
        except FrameError as e:
            self._reply(e.reply())
            return
        finally:
            del message  # tornado's copy goes once this frame's future resolves
        if not self.closed:
            self._start(request)

    def _start(self, request: BridgeRequest) -> None:
        problem = self._refusal_of(request)
        if problem is not None:
            self._reply(error_frame(*problem, request.message_id))
            return
        self.starting += 1
        task = asyncio.ensure_future(self._serve(request))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def _refusal_of(self, request: BridgeRequest) -> tuple[int, str] | None:
        try:
            check_request_path(request.path, self.base_url)
        except PathError as e:
            self.log.warning("Colab bridge: refused a request path: %s", e)
            return 400, f"Invalid request. {e}."
        if self.refusal is not None:
            self.log.error(
                "Colab bridge: not serving %s %s: the auth URL was refused (%s)",
                request.method,
                request.path.partition("?")[0],
                self.refusal,
            )
            return 500, TEXT_INTERNAL_ERROR
        limit = self.limits.max_in_flight
        if self.starting + len(self.running) >= limit:
            return 503, (
                "Too many requests in flight on this socket "
                f"(ColabBridge.max_requests_in_flight={limit})."
            )
        if self.limits.abandoned.spent:
            self.log.warning(
                "Colab bridge: refused %s %s: %d requests of closed sockets still run "
                "(ColabBridge.max_abandoned_requests)",
                request.method,
                request.path.partition("?")[0],
                len(self.limits.abandoned.running),
            )
            return 503, (
                "Too many requests of closed sockets still running "
                f"(ColabBridge.max_abandoned_requests={self.limits.abandoned.limit})."
            )
        return None

    async def _serve(self, request: BridgeRequest) -> None:
        headers = self.credentials.for_method(request.method)
        connection: TunnelConnection | None = None
        try:
            try:
                connection = TunnelConnection(
                    self.handshake.context, request.message_id, self._send, self.handshake.verdict
                )
                await dispatch(self.application, request, headers, connection)
            finally:
                self.starting -= 1
            self._track(connection)
            await self._await_reply(connection)
        except asyncio.TimeoutError:
            self.log.error(
                "Colab bridge: %s %s did not finish within %g s (ColabBridge.request_timeout)",
                request.method,
                request.path.partition("?")[0],
                self.limits.request_timeout,
            )
            assert connection is not None
            if not connection.started:
                self._reply(error_frame(504, "The request timed out.", request.message_id))
            connection.abort()
        except asyncio.CancelledError:
            if connection is not None:
                connection.abort()
            raise
        except Exception:
            if self.closed:
                return
            self.log.exception(
                "Colab bridge: uncaught error serving %s %s",
                request.method,
                request.path.partition("?")[0],
            )
            if connection is None or not connection.started:
                self._reply(error_frame(500, TEXT_INTERNAL_ERROR, request.message_id))
            if connection is not None:
                connection.abort()

    def _track(self, connection: TunnelConnection) -> None:
        """Count ``connection`` in flight until its handler finishes."""
        if connection.handler_done.done():
            return
        self.running.add(connection)
        connection.handler_done.add_done_callback(lambda _: self.running.discard(connection))

    async def _await_reply(self, connection: TunnelConnection) -> None:
        timeout = self.limits.request_timeout or None
        try:
            await asyncio.wait_for(asyncio.shield(connection.finished), timeout)
        except asyncio.TimeoutError:
            if not connection.started:
                raise
            # The reply is streaming: the page's reading paces it, not the clock
            # (cutting it off would leave the page without a final frame).
            await connection.finished

    def _send(self, frame: str) -> Any:
        self._cork.before_write()
        return self._write(frame)

    def _reply(self, frame: str) -> None:
        """Send a one-frame reply; nothing if the page has gone."""
        try:
            sent = self._send(frame)
        except Exception:  # the socket has closed
            return
        if sent is not None:
            asyncio.ensure_future(sent).add_done_callback(_retrieve)


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()
