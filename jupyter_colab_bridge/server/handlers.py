"""The ``http_over_websocket`` and ``http_over_websocket/diagnose`` endpoints."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from jupyter_server.auth.decorator import allow_unauthenticated, ws_authenticated
from tornado import web

from ..protocol.handshake import diagnose_frame
from .base import BridgeSocket, ConnectionLimit
from .context import RequestContext
from .large_text import LargeText, large_text_protocol
from .tunnel import PageSocket, Tunnel, TunnelCredentials, TunnelHandshake, TunnelLimits
from .verdict import tunnelled

#: The largest frame the unauthenticated ``diagnose`` socket accepts (Colab sends short ids).
DIAGNOSE_MAX_FRAME_BYTES = 4096

#: Answers a ``diagnose`` socket may hold unread (beyond the kernel's socket
#: buffers) before it is closed: its peer is not reading.
DIAGNOSE_MAX_BUFFERED_BYTES = 64 * 1024


class HttpOverWebSocketHandler(BridgeSocket):
    """Carries the page's HTTP requests to this server's REST API.

    Each text frame is one request (docs/protocol.md section 1.1), served by a
    :class:`.tunnel.Tunnel`; this handler only authorizes the handshake,
    builds the tunnel with its credentials and forwards frames to it.
    """

    tunnel: Tunnel | None = None

    @ws_authenticated
    async def get(self, *args: Any, **kwargs: Any) -> None:
        """Authorize, build the tunnel, then upgrade."""
        await self.authorize_or_403()
        async with self.place():
            self.tunnel = self.build_tunnel()
            await super().get(*args, **kwargs)

    def build_tunnel(self) -> Tunnel:
        """A tunnel that forwards the handshake's own credential with each request."""
        headers = self.upstream_credentials()
        headers["Host"] = self.local_host_header()
        bridge = self.bridge
        handshake = TunnelHandshake(
            TunnelCredentials(headers, self.get_cookie("_xsrf")),
            RequestContext(self.request.remote_ip, self.request.protocol),
            self.settings.get("base_url", "/"),
            tunnelled(self.verdict, headers),
            refusal=self.auth_url_error,
        )
        limits = TunnelLimits(
            bridge.max_requests_in_flight, bridge.request_timeout, bridge.abandoned_requests
        )
        return Tunnel(
            self.application,
            handshake,
            limits,
            PageSocket(self.write_message, self.close),
            self.log,
        )

    def get_websocket_protocol(self) -> Any:
        """tornado's protocol, but large text frames come as bytes (:mod:`.large_text`)."""
        return large_text_protocol(super().get_websocket_protocol(), self)

    def open(self, *args: Any, **kwargs: Any) -> None:
        """Start pings, apply ``min_version``, cork the socket's bursts."""
        super().open(*args, **kwargs)
        if not self.close_for_min_version(self.read_min_version()) and self.tunnel is not None:
            stream = getattr(self.ws_connection, "stream", None)
            self.tunnel.cork(getattr(stream, "socket", None))

    def on_message(self, message: str | bytes | LargeText) -> Awaitable[None] | None:
        """Hand one request frame to the tunnel (a large one: read on once it is parsed).

        A large text frame comes as its raw bytes (:mod:`.large_text`): parsed off the loop.
        """
        if self.tunnel is None:
            return None
        if isinstance(message, LargeText):
            return self.tunnel.submit_text_bytes(message.data)
        return self.tunnel.submit(message)

    def on_close(self) -> None:
        """The page went away: stop pings, free its place, close the tunnel."""
        super().on_close()
        self.release_connection()
        if self.tunnel is not None:
            self.tunnel.close()


class DiagnoseHandler(BridgeSocket):
    """Answers each frame with the bridge's version and the page's cookie state.

    It needs no credentials from an allowed origin (Colab calls it to explain
    a failed connection) and tells nothing beyond docs/protocol.md section 2. As
    anyone on an allowed origin (or any local process claiming one) may open
    it, it cannot cost much: its sockets have a small limit of their own
    (``ColabBridge.max_diagnose_connections``), apart from the user's; frames
    are small; the echo is capped; a socket whose peer does not read its
    answers is closed before they pile up; and ``min_version`` and the
    cookie are read once, when it opens (an unusable ``min_version``, too
    long or repeated, closes it with 400), so a frame costs the same
    whatever the handshake carried.
    """

    checks_credentials = False
    #: Read once when the socket opens: a frame costs the same whatever the handshake held.
    outdated = False
    has_xsrf_cookie = False

    @property
    def max_message_size(self) -> int:
        """The largest frame accepted; a larger one closes the socket with 1009."""
        return DIAGNOSE_MAX_FRAME_BYTES

    def connection_limit(self) -> ConnectionLimit:
        """Diagnose sockets count against their own limit only."""
        return self.bridge.diagnose_limit

    @allow_unauthenticated
    async def get(self, *args: Any, **kwargs: Any) -> None:
        """Upgrade for an allowed origin, or for a credentialed script."""
        if self.verdict.origin is None and self.current_user is None:
            self.log.warning(
                "Colab bridge: refused a diagnose WebSocket without Origin or credentials"
            )
            raise web.HTTPError(403)
        async with self.place():
            await super().get(*args, **kwargs)

    def open(self, *args: Any, **kwargs: Any) -> None:
        """Start pings; read ``min_version`` and the cookie once, or close with 400."""
        super().open(*args, **kwargs)
        version = self.read_min_version()
        if self.close_for_min_version(version, outdated_is_fine=True):
            return
        self.outdated = version.outdated
        self.has_xsrf_cookie = bool(self.get_cookie("_xsrf"))

    def on_message(self, message: str | bytes) -> None:
        """Reply with the diagnosis, echoing the frame as ``message_id``."""
        conn = self.ws_connection
        if conn is None or conn.is_closing():
            return
        if self.write_backlog.bytes > DIAGNOSE_MAX_BUFFERED_BYTES:
            self.log.warning(
                "Colab bridge: closing a diagnose socket: its peer is not reading the answers"
            )
            self.close(1008, "The page is not reading the answers")
            return
        if isinstance(message, bytes):
            message = message.decode("utf-8", "replace")
        answer = diagnose_frame(message, self.has_xsrf_cookie, self.outdated)
        self.write_backlog.track(self.write_message(answer), answer)

    def on_close(self) -> None:
        """Stop pings and free this socket's place."""
        super().on_close()
        self.release_connection()
