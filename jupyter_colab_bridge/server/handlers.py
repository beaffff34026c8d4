"""The ``http_over_websocket`` and ``http_over_websocket/diagnose`` endpoints."""

from __future__ import annotations

import asyncio
from typing import Any

from jupyter_server.auth.decorator import allow_unauthenticated, ws_authenticated
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from jupyter_server.extension.handler import ExtensionHandlerMixin
from tornado import web
from tornado.websocket import WebSocketClosedError, WebSocketHandler

from ..protocol.frames import (
    MUTATING_METHODS,
    TEXT_INTERNAL_ERROR,
    BridgeRequest,
    FrameError,
    error_frame,
    parse_request_frame,
)
from ..protocol.handshake import (
    CLOSE_BAD_REQUEST,
    MIN_VERSION_PARAM,
    diagnose_frame,
    min_version_problem,
)
from ..protocol.paths import PathError, check_request_path
from .base import BridgeHandlerMixin, buffered_bytes
from .corking import BurstCork
from .dispatch import TunnelConnection, TunnelContext, dispatch

#: The largest frame the unauthenticated ``diagnose`` socket accepts (Colab sends short ids).
DIAGNOSE_MAX_FRAME_BYTES = 4096

#: Answers a ``diagnose`` socket may hold unread (beyond the kernel's socket
#: buffers) before it is closed: its peer is not reading.
DIAGNOSE_MAX_BUFFERED_BYTES = 64 * 1024


class BridgeSocket(
    BridgeHandlerMixin, ExtensionHandlerMixin, WebSocketMixin, WebSocketHandler, JupyterHandler
):
    """Common base of the bridge's own sockets."""

    def close_for_min_version(self) -> bool:
        """Close with 400 if ``min_version`` is unusable; True if closed."""
        reason = min_version_problem(self.get_query_argument(MIN_VERSION_PARAM, None))
        if reason is None:
            return False
        self.log.error("Colab bridge: rejecting connection: %s", reason)
        self.close(code=CLOSE_BAD_REQUEST, reason=reason)
        return True


class HttpOverWebSocketHandler(BridgeSocket):
    """Carries the page's HTTP requests to this server's REST API.

    Each text frame is one request (docs/protocol.md section 1.1); it is served
    in-process by the server's own handlers and its response streamed back as
    reply frames. Requests run concurrently; one reply's frames stay in order.
    """

    _tasks: set[asyncio.Task[None]]
    _connections: set[TunnelConnection]

    @ws_authenticated
    async def get(self, *args: Any, **kwargs: Any) -> None:
        """Authorize, then upgrade."""
        await self.authorize_or_403()
        self.reserve_connection()
        self._tasks = set()
        self._connections = set()
        self._context = TunnelContext(self.request.remote_ip, self.request.protocol)
        self._base_url = self.settings.get("base_url", "/")
        self._credentials = self.upstream_credentials()
        self._credentials["Host"] = self.local_host_header()
        self._xsrf_cookie = self.get_cookie("_xsrf")
        self._cookie_auth = "Cookie" in self._credentials
        try:
            await super().get(*args, **kwargs)
        finally:
            if self.ws_connection is None:
                self.release_connection()

    def open(self, *args: Any, **kwargs: Any) -> None:
        """Start pings, then apply ``min_version``."""
        super().open(*args, **kwargs)
        self.close_for_min_version()

    def on_message(self, message: str | bytes) -> None:
        """Start serving one request frame; never blocks the socket."""
        try:
            request = parse_request_frame(message)
            check_request_path(request.path, self._base_url)
        except FrameError as e:
            self._send_quietly(e.reply())
            return
        except PathError as e:
            self.log.warning("Colab bridge: refused a request path: %s", e)
            self._send_quietly(error_frame(400, f"Invalid request. {e}.", request.message_id))
            return
        if self.auth_url_error is not None:
            self.log.error(
                "Colab bridge: not serving %s %s: the auth URL was refused (%s)",
                request.method,
                request.path.partition("?")[0],
                self.auth_url_error,
            )
            self._send_quietly(error_frame(500, TEXT_INTERNAL_ERROR, request.message_id))
            return
        if len(self._tasks) >= self.bridge.max_requests_in_flight:
            self._send_quietly(
                error_frame(
                    503,
                    "Too many requests in flight on this socket "
                    f"(ColabBridge.max_requests_in_flight={self.bridge.max_requests_in_flight}).",
                    request.message_id,
                )
            )
            return
        task = asyncio.ensure_future(self._serve(request))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, request: BridgeRequest) -> None:
        headers = dict(self._credentials)
        if self._cookie_auth and self._xsrf_cookie and request.method in MUTATING_METHODS:
            headers["X-XSRFToken"] = self._xsrf_cookie
        connection: TunnelConnection | None = None
        try:
            connection = await dispatch(
                self.application,
                request,
                headers,
                self._context,
                self._send_frame,
                from_page=self.page_origin is not None,
            )
            self._connections.add(connection)
            timeout = self.bridge.request_timeout or None
            try:
                await asyncio.wait_for(asyncio.shield(connection.finished), timeout)
            except asyncio.TimeoutError:
                if not connection.started:
                    raise
                # The reply is streaming: the page's reading paces it, not the clock
                # (cutting it off would leave the page without a final frame).
                await connection.finished
        except asyncio.TimeoutError:
            self.log.error(
                "Colab bridge: %s %s did not finish within %.0f s (ColabBridge.request_timeout)",
                request.method,
                request.path.partition("?")[0],
                self.bridge.request_timeout,
            )
            if connection is not None and not connection.started:
                self._send_quietly(error_frame(504, "The request timed out.", request.message_id))
            if connection is not None:
                connection.abort()
        except asyncio.CancelledError:
            if connection is not None:
                connection.abort()
            raise
        except Exception:
            if self.ws_connection is None or self.ws_connection.is_closing():
                return
            self.log.exception(
                "Colab bridge: uncaught error serving %s %s",
                request.method,
                request.path.partition("?")[0],
            )
            if connection is None or not connection.started:
                self._send_quietly(error_frame(500, TEXT_INTERNAL_ERROR, request.message_id))
            if connection is not None:
                connection.abort()
        finally:
            if connection is not None:
                self._connections.discard(connection)

    def _send_frame(self, frame: str) -> Any:
        cork = getattr(self, "_cork", None)
        if cork is None:
            stream = getattr(self.ws_connection, "stream", None)
            cork = self._cork = BurstCork(getattr(stream, "socket", None))
        cork.before_write()
        return self.write_message(frame)

    def _send_quietly(self, frame: str) -> None:
        try:
            self.write_message(frame)
        except WebSocketClosedError:
            pass

    def on_close(self) -> None:
        """The page went away: abandon its requests and free its place."""
        self.release_connection()
        for connection in list(getattr(self, "_connections", ())):
            connection.abort()
        for task in list(getattr(self, "_tasks", ())):
            task.cancel()


class DiagnoseHandler(BridgeSocket):
    """Answers each frame with the bridge's version and the page's cookie state.

    It needs no credentials from an allowed origin (Colab calls it to explain
    a failed connection) and tells nothing beyond docs/protocol.md section 2. As
    anyone on an allowed origin (or any local process claiming one) may open
    it, it cannot cost much: its sockets have a small limit of their own
    (``ColabBridge.max_diagnose_connections``), apart from the user's; frames
    are small; the echo is capped; and a socket whose peer does not read its
    answers is closed before they pile up.
    """

    checks_credentials = False

    @property
    def max_message_size(self) -> int:
        """The largest frame accepted; a larger one closes the socket with 1009."""
        return DIAGNOSE_MAX_FRAME_BYTES

    def connection_pool(self) -> tuple[set[Any], int, str]:
        """Diagnose sockets count against their own limit only."""
        return (
            self.bridge.diagnose_connections,
            self.bridge.max_diagnose_connections,
            "max_diagnose_connections",
        )

    @allow_unauthenticated
    async def get(self, *args: Any, **kwargs: Any) -> None:
        """Upgrade for an allowed origin, or for a credentialed script."""
        if self.page_origin is None and self.current_user is None:
            self.log.warning(
                "Colab bridge: refused a diagnose WebSocket without Origin or credentials"
            )
            raise web.HTTPError(403)
        self.reserve_connection()
        try:
            await super().get(*args, **kwargs)
        finally:
            if self.ws_connection is None:
                self.release_connection()

    def on_message(self, message: str | bytes) -> None:
        """Reply with the diagnosis, echoing the frame as ``message_id``."""
        conn = self.ws_connection
        if conn is None or conn.is_closing():
            return
        if buffered_bytes(conn) > DIAGNOSE_MAX_BUFFERED_BYTES:
            self.log.warning(
                "Colab bridge: closing a diagnose socket: its peer is not reading the answers"
            )
            self.close(1008, "The page is not reading the answers")
            return
        if isinstance(message, bytes):
            message = message.decode("utf-8", "replace")
        self.write_message(
            diagnose_frame(
                message,
                bool(self.get_cookie("_xsrf")),
                self.get_query_argument(MIN_VERSION_PARAM, None),
            )
        )

    def on_close(self) -> None:
        """Free this socket's place."""
        self.release_connection()
