"""``{base_url}_proxy/<port>/<path>``: HTTP and WebSockets to a web app on a loopback port.

Colab's runtime serves the same path: a notebook's web app (TensorBoard,
Gradio, Streamlit, a tile server) is reached through the one port the user
already forwarded, with the prefix stripped. The rules (which ports, which
paths, which headers travel) are pure and live in
:mod:`jupyter_colab_bridge.protocol.port_proxy`; this module does the I/O.

Order of checks, all before anything is sent to the target:

1. the bridge's own front checks (:class:`.base.BridgeSocket`): the
   ``Origin`` is the server's own, absent, or on the ``ColabBridge`` allowlist
   (anything else: 403); a page on the allowlist authenticates with the token,
   never with a cookie alone; then jupyter_server authenticates the request
   (token, or its login cookie for the user's own browser tab) and the
   authorizer is asked;
2. only then the path is parsed: the port (1 to 65535, in
   ``ColabBridge.port_proxy_ports``, never the server's own) and the target
   path (no dot segments, no encoded ``/``), on the raw path tornado routed;
3. a connection to ``127.0.0.1:<port>`` (then ``[::1]:<port>``); nothing
   listening is a 502 with a JSON message.

Bodies stream both ways with backpressure: a request body goes to the target
as the client sends it, and each chunk of the reply is flushed to the client
(or the tunnel's page) before the next is read from the target, so a client
that stops reading holds at most one chunk in memory. WebSockets are relayed
frame by frame, text and binary kept, paced by the slower side
(:class:`.proxied_ws.ProxiedWebSocketHandler`'s relay).

Why not jupyter-server-proxy's ``LocalProxyHandler`` (4.6, read for this):
it forwards every request header to the target, the ``Authorization`` header
and login cookie carrying this server's token included; it buffers whole
replies in memory (it streams only ``Accept: text/event-stream``) and whole
request bodies; its WebSocket relay writes without waiting, so a page that
stops reading grows the server's memory; it upgrades before it connects to the
target (no 502 for a WebSocket); its origin check is jupyter_server's, which
lets any origin through once a token is present; and any port can be named,
the server's own included. Fixing that in a subclass means overriding
``prepare``, ``check_origin``, ``proxy``, ``proxy_open`` and
``proxy_request_headers``: nothing of it would be left but its mixin's MRO
rewiring. This handler is tornado's own HTTP/1 connection and WebSocket
client under the bridge's checks instead, and needs no further dependency.
"""

from __future__ import annotations

import asyncio
import json
import socket
from http.client import responses
from typing import Any

from tornado import httpclient, httputil, web
from tornado.http1connection import HTTP1Connection, HTTP1ConnectionParameters
from tornado.iostream import IOStream, StreamClosedError
from tornado.websocket import WebSocketError, WebSocketHandler, websocket_connect

from ..protocol.handshake import is_upgrade
from ..protocol.paths import query_without
from ..protocol.port_proxy import (
    PROXY_PREFIX,
    ProxyRequestError,
    ProxyTarget,
    check_port,
    parse_target,
    relayed_reply_header,
    rewrite_location,
    upstream_headers,
)
from .proxied_ws import ProxiedWebSocketHandler, offered_subprotocols
from .verdict import verdict_of

#: Loopback addresses tried in turn; an app may listen on either.
LOOPBACK_HOSTS = ("127.0.0.1", "::1")

#: What a refused or unauthenticated request is told.
NOT_AUTHENTICATED = (
    "The port proxy needs this Jupyter server's token: ?token=<token> or "
    "'Authorization: token <token>' (or the server's login, in your own browser tab)."
)

# Streaming with backpressure bounds memory, not size: a download may be large.
_NO_BODY_LIMIT = 1 << 62
#: Most bytes of a reply read from the target before they are flushed to the client.
REPLY_CHUNK_BYTES = 512 * 1024


def nothing_listens(port: int) -> str:
    """The 502's message."""
    return (
        f"Nothing answers on port {port} of this machine (127.0.0.1 or ::1): "
        "start the app there, listening on localhost, or check its port."
    )


async def connect_loopback(host: str, port: int, timeout: float | None) -> IOStream | None:
    """A TCP stream to ``host`` (a loopback address) and ``port``; None if no one answers.

    The address is a literal, so no resolver (a thread hop) is involved.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        sock = socket.socket(family, socket.SOCK_STREAM)
    except OSError:  # no IPv6 on this machine
        return None
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    stream = IOStream(sock)
    try:
        await asyncio.wait_for(stream.connect((host, port)), timeout)
    except (OSError, StreamClosedError, asyncio.TimeoutError):
        stream.close()
        return None
    return stream


class _ReplyRelay(httputil.HTTPMessageDelegate):
    """Relays the target's reply into the handler, one flushed chunk at a time."""

    def __init__(self, handler: PortProxyHandler) -> None:
        self.handler = handler
        self.started = False
        self.finished = False

    def headers_received(
        self,
        start_line: httputil.RequestStartLine | httputil.ResponseStartLine,
        headers: httputil.HTTPHeaders,
    ) -> None:
        assert isinstance(start_line, httputil.ResponseStartLine)
        self.started = True
        self.handler.relay_head(start_line, headers)

    def data_received(self, chunk: bytes) -> Any:
        return self.handler.relay_chunk(chunk)  # read on only once the client has taken it

    def finish(self) -> None:
        self.finished = True

    def on_connection_close(self) -> None:
        """The target closed mid-reply; :meth:`PortProxyHandler.relay_reply` sees it."""


@web.stream_request_body
class PortProxyHandler(ProxiedWebSocketHandler):
    """``_proxy/<port>/<path>``: one handler for both HTTP methods and the WebSocket upgrade."""

    target: ProxyTarget | None = None
    target_connection: HTTP1Connection | None = None
    refusal: str | None = None
    client_gone = False

    # -- the front: origin and credentials, then authentication -----------------
    def _same_origin(self) -> bool:
        """The front door's verdict: exactly one ``Origin``, the server's own."""
        return verdict_of(self.request).same_origin

    def _refuse_origin(self) -> None:
        """The server's own origin (the proxied app's own page) passes too."""
        if not self._same_origin():
            super()._refuse_origin()

    def _apply_cookie_rule(self) -> None:
        """A page on the server's own origin may use its login cookie, as JupyterLab does."""
        if not self._same_origin():
            super()._apply_cookie_rule()

    def check_origin(self, origin: str | None = None) -> bool:
        """Tornado's hook; the real check already ran in :meth:`prepare`."""
        return super().check_origin(origin) or self._same_origin()

    def check_xsrf_cookie(self) -> None:
        """A page on the server's own origin (the app's own page) posts without ``_xsrf``.

        That page is the target's, which checks its own forms, and never sees
        the server's ``_xsrf``; its ``Origin`` proves it is no other site's. Any
        other request meets jupyter_server's check (skipped for a token).
        """
        if not self._same_origin():
            super().check_xsrf_cookie()

    def compute_etag(self) -> str | None:
        """No ETag of tornado's: the target's own headers are relayed."""
        return None

    async def prepare(self, *args: Any, **kwargs: Any) -> None:
        """Authenticate and authorize, then judge the target; for HTTP, connect to it."""
        await super().prepare(*args, **kwargs)
        if self.current_user is None:  # (a navigation may have been sent to the login page)
            self.refusal = NOT_AUTHENTICATED
            raise web.HTTPError(403)
        await self.authorize_or_403()
        self.target = self._judge_target()
        if not self._upgrading():
            await self._send_request_head(self.target)

    def _upgrading(self) -> bool:
        """A WebSocket handshake (a GET that asks to upgrade); anything else is relayed as HTTP."""
        return self.request.method == "GET" and is_upgrade(self.request.headers)

    def _judge_target(self) -> ProxyTarget:
        prefix = f"{self.settings.get('base_url', '/')}{PROXY_PREFIX}/"
        if not self.request.path.startswith(prefix):  # the route's pattern is a regex
            raise web.HTTPError(404)
        relative = self.request.path[len(prefix) :]
        try:
            target = parse_target(relative)
            check_port(target.port, self.bridge.port_proxy_allowed, self._own_ports())
        except ProxyRequestError as e:
            self.log.warning(
                "Colab bridge: port proxy refused %s %s: %s",
                self.request.method,
                self.request.path,
                e.message,
            )
            self.refusal = e.message
            raise web.HTTPError(e.status) from None
        return target

    def _own_ports(self) -> set[int]:
        ports = set()
        server_port = getattr(self.settings.get("serverapp"), "port", None)
        if isinstance(server_port, int):
            ports.add(server_port)
        stream = self.connection_stream()
        if stream is not None and not stream.closed():
            ports.add(stream.socket.getsockname()[1])
        return ports

    def _target_uri(self, target: ProxyTarget) -> str:
        query = query_without(self.request.query, "token")  # this server's token stays here
        return f"{target.path}?{query}" if query else target.path

    def _target_headers(self, target: ProxyTarget) -> httputil.HTTPHeaders:
        identity = self.identity_provider
        server_cookies = {identity.get_cookie_name(self), "_xsrf"}
        return upstream_headers(self.request.headers, target.port, server_cookies)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """JSON with a message, as the rest of the API answers."""
        self.set_header("Content-Type", "application/json")
        reason = responses.get(status_code, "Unknown")
        message = self.refusal or (NOT_AUTHENTICATED if status_code == 403 else reason)
        self.finish(json.dumps({"message": message, "reason": reason}))

    # -- HTTP ------------------------------------------------------------------------
    async def _send_request_head(self, target: ProxyTarget) -> None:
        """Connect to the target and send the request line and headers (502 if no one listens)."""
        timeout = self.bridge.upstream_connect_timeout or None
        stream = None
        for host in LOOPBACK_HOSTS:
            stream = await connect_loopback(host, target.port, timeout)
            if stream is not None:
                break
        if stream is None:
            self._refuse_unreachable(target.port)
        assert stream is not None
        params = HTTP1ConnectionParameters(
            no_keep_alive=True,
            header_timeout=self._answer_timeout() or None,
            chunk_size=REPLY_CHUNK_BYTES,
            max_body_size=_NO_BODY_LIMIT,
            decompress=False,
        )
        self.target_connection = HTTP1Connection(stream, True, params)
        start = httputil.RequestStartLine(
            self.request.method or "GET", self._target_uri(target), "HTTP/1.1"
        )
        try:
            await self.target_connection.write_headers(start, self._target_headers(target))
        except StreamClosedError:
            self._refuse_unreachable(target.port)

    def _refuse_socket(self, port: int, why: str) -> None:
        self.log.warning(
            "Colab bridge: port proxy: the app on port %d refused the WebSocket: %s", port, why
        )
        self.refusal = f"The app on port {port} refused the WebSocket ({why})."
        raise web.HTTPError(502)

    def _refuse_unreachable(self, port: int) -> None:
        self.log.warning("Colab bridge: port proxy: nothing answers on port %d", port)
        self.refusal = nothing_listens(port)
        raise web.HTTPError(502)

    def data_received(self, chunk: bytes) -> Any:
        """Pass a piece of the request body on; the client's next waits for the target."""
        if self.target_connection is None:
            return None
        return self.target_connection.write(chunk)

    def relay_head(
        self, start_line: httputil.ResponseStartLine, headers: httputil.HTTPHeaders
    ) -> None:
        """The target's status and headers become this reply's (redirects kept on the proxy)."""
        assert self.target is not None
        self.clear()
        self.clear_header("Content-Type")
        self.set_status(start_line.code, start_line.reason or None)
        base = self.settings.get("base_url", "/")
        prefix = f"{base}{PROXY_PREFIX}/{self.target.port}"
        seen: set[str] = set()
        for name, value in headers.get_all():
            if not relayed_reply_header(name):
                continue
            if name.lower() == "location":
                value = rewrite_location(value, self.target.port, prefix)
            try:
                if name.lower() in seen:
                    self.add_header(name, value)
                else:
                    self.set_header(name, value)
                    seen.add(name.lower())
            except ValueError:
                self.log.warning("Colab bridge: port proxy dropped an unsafe %s header", name)

    async def relay_chunk(self, chunk: bytes) -> None:
        """Pass one piece of the reply on; if the client has gone, stop reading from the app."""
        self.write(chunk)
        try:
            await self.flush()
        except StreamClosedError:
            self.client_gone = True
            if self.target_connection is not None:
                self.target_connection.close()

    async def relay_reply(self) -> None:
        """Finish the request to the target and stream its reply to the client."""
        connection = self.target_connection
        assert connection is not None and self.target is not None
        port = self.target.port
        relay = _ReplyRelay(self)
        closed = False
        try:
            connection.finish()
            await connection.read_response(relay)
        except (StreamClosedError, httputil.HTTPInputError, httputil.HTTPOutputError):
            closed = True
        finally:
            connection.close()
            self.target_connection = None
        if self.client_gone:
            self.log.info(
                "Colab bridge: port proxy: the client left before the reply from port %d ended",
                port,
            )
        elif relay.finished:
            self.finish()
        elif not relay.started:
            if closed:
                self._refuse(
                    502, f"The app on port {port} closed the connection without answering."
                )
            self._refuse(
                504,
                f"The app on port {port} did not answer within {self._answer_timeout():g} s "
                "(ColabBridge.request_timeout).",
            )
        else:
            self.log.warning(
                "Colab bridge: port proxy: the app on port %d cut its reply short", port
            )
            try:
                self.finish()
            except httputil.HTTPOutputError:
                pass  # a length was promised: tornado has closed the client's connection

    def _answer_timeout(self) -> float:
        return float(self.bridge.request_timeout)

    def _refuse(self, status: int, message: str) -> None:
        self.log.warning("Colab bridge: port proxy: %s", message)
        self.refusal = message
        raise web.HTTPError(status)

    async def post(self, *args: Any, **kwargs: Any) -> None:
        await self.relay_reply()

    async def put(self, *args: Any, **kwargs: Any) -> None:
        await self.relay_reply()

    async def patch(self, *args: Any, **kwargs: Any) -> None:
        await self.relay_reply()

    async def delete(self, *args: Any, **kwargs: Any) -> None:
        await self.relay_reply()

    async def head(self, *args: Any, **kwargs: Any) -> None:
        await self.relay_reply()

    async def options(self, *args: Any, **kwargs: Any) -> None:
        await self.relay_reply()

    def on_finish(self) -> None:
        """Close a target connection the reply never used (an error came first)."""
        if self.target_connection is not None:
            self.target_connection.close()
            self.target_connection = None
        self.forget_call_context()

    # -- WebSocket -----------------------------------------------------------------
    async def get(self, *args: Any, **kwargs: Any) -> None:
        """HTTP GET, or the upgrade: connect to the target's socket first, then upgrade."""
        if not self._upgrading():
            await self.relay_reply()
            return
        assert self.target is not None
        self.reserve_connection()
        try:
            await self._open_target_socket(self.target)
            if self.upstream is None:
                raise web.HTTPError(502)
            await WebSocketHandler.get(self)
        finally:
            if self.ws_connection is None:
                self.release_connection()
                if self.upstream is not None:
                    self.upstream.close()

    async def _open_target_socket(self, target: ProxyTarget) -> None:
        timeout = self.bridge.upstream_connect_timeout or None
        uri = self._target_uri(target)
        headers = self._target_headers(target)
        for host in LOOPBACK_HOSTS:
            address = f"[{host}]" if ":" in host else host
            request = httpclient.HTTPRequest(
                f"ws://{address}:{target.port}{uri}",
                headers=headers,
                connect_timeout=timeout,
                request_timeout=timeout,
            )
            try:
                self.upstream = await websocket_connect(
                    request,
                    subprotocols=offered_subprotocols(self) or None,
                    max_message_size=self.max_message_size,
                )
                return
            except httpclient.HTTPClientError as e:
                if e.code == 599:  # no answer
                    continue
                self._refuse_socket(target.port, f"HTTP {e.code}")
            except WebSocketError as e:  # an answer that is no WebSocket handshake
                self._refuse_socket(target.port, str(e))
            except (OSError, StreamClosedError, TimeoutError):
                continue
        self._refuse_unreachable(target.port)
