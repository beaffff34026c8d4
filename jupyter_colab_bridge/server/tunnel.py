"""One ``http_over_websocket`` socket's tunnel: its requests, limits and timeouts.

The handler (:class:`.handlers.HttpOverWebSocketHandler`) authorizes the
handshake, builds a :class:`Tunnel` with the socket's credentials, forwards
each frame to :meth:`Tunnel.submit` and calls :meth:`Tunnel.close` when the
page goes away. Everything else lives here:

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
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Callable

from ..protocol.frames import (
    LARGE_FRAME_CHARS,
    MUTATING_METHODS,
    TEXT_INTERNAL_ERROR,
    BridgeRequest,
    FrameError,
    NotUtf8Error,
    error_frame,
    parse_request_frame,
    parse_text_frame_bytes,
)
from ..protocol.paths import PathError, check_request_path
from .context import RequestContext
from .corking import BurstCork
from .dispatch import FrameSender, TunnelConnection, dispatch
from .verdict import NOT_JUDGED, PageVerdict


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


class Tunnel:
    """Serves one socket's request frames through the server's own application."""

    def __init__(
        self,
        application: Any,
        credentials: TunnelCredentials,
        context: RequestContext,
        base_url: str,
        limits: TunnelLimits,
        write: FrameSender,
        log: logging.Logger,
        refusal: str | None = None,
        verdict: PageVerdict = NOT_JUDGED,
        fail: Callable[[int, str], None] | None = None,
    ) -> None:
        self.application = application
        self.credentials = credentials
        self.context = context
        self.base_url = base_url
        self.limits = limits
        self.log = log
        #: Why every request is refused with 500 (the auth URL was refused), else None.
        self.refusal = refusal
        #: The record of every request of this socket (:mod:`.verdict`).
        self.verdict = verdict
        self._write = write
        #: Closes the socket with a code and reason (a text frame that is not UTF-8).
        self._fail = fail
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
                connection = await dispatch(
                    self.application,
                    request,
                    headers,
                    self.context,
                    self._send,
                    verdict=self.verdict,
                )
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
