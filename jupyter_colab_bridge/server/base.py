"""What every bridge WebSocket does before and around the upgrade.

Order of checks at the handshake, all before the upgrade:

1. ``Origin``: exactly one, on the ``ColabBridge`` allowlist (our own check;
   jupyter_server's lets any origin through once a token is present).
2. ``jupyter_http_over_ws_auth_url``: if it names this server (scheme, host,
   port, base_url) and carries a token that the server's identity provider
   accepts as ``Authorization: token ...`` (asked in-process,
   :mod:`.credentials`), the socket is authenticated with that header.
   Nothing is ever fetched. A URL without a token adds no credential.
3. Credentials from a page are tokens (docs/protocol.md section 4): on a server
   with authentication turned off (no token can be accepted) every page is
   refused; a handshake with an ``Authorization`` header and a different
   ``?token=`` or auth-URL token is refused with 403, and one that repeats a
   credential (``?token=`` or the auth URL twice, two ``Authorization``
   headers) with 400 (one credential per socket, the one forwarded); a
   handshake from a browser origin with cookies and no token is refused, and
   with a token its cookies are set aside, unless ``ColabBridge.allow_cookie_auth``.
4. jupyter_server's own ``prepare`` (Host check, identity provider), then
   ``@ws_authenticated`` and the authorizer in each handler's ``get``, then
   the socket's place under its connection limit.

``diagnose`` needs no credentials and skips 2 and 3.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from functools import cached_property
from http.client import responses
from typing import TYPE_CHECKING, Any, cast

from jupyter_core.utils import ensure_async
from jupyter_server import CallContext
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from jupyter_server.extension.handler import ExtensionHandlerMixin
from tornado import web
from tornado.http1connection import HTTP1Connection
from tornado.iostream import IOStream
from tornado.websocket import WebSocketHandler, WebSocketProtocol

from .._compat import call_context_map
from ..protocol.auth_url import AuthUrlError, token_from_auth_url
from ..protocol.handshake import (
    AUTH_URL_PARAM,
    CLOSE_BAD_REQUEST,
    MIN_VERSION_PARAM,
    MinVersion,
    read_min_version,
)
from ..protocol.missing_routes import printable
from ..protocol.origins import MAX_ORIGIN_CHARS, origin_too_long
from .backlog import WriteBacklog
from .credentials import (
    AUTH_TURNED_OFF,
    CONFLICTING_CREDENTIALS,
    COOKIE_WITHOUT_TOKEN,
    CredentialRefused,
    auth_turned_off,
    carries_token,
    conflict_refusal,
    conflicting_credentials,
    repeated_credential,
    token_user,
)
from .pings import without_tornado_pings
from .verdict import PageVerdict, verdict_of

if TYPE_CHECKING:
    from ..app import ColabBridge

#: The extension's name; jupyter_server keeps its ExtensionApp in the settings under it.
EXTENSION_NAME = "jupyter_colab_bridge"

#: The resource the authorizer is asked about for the bridge's sockets.
AUTH_RESOURCE = "colab_bridge"

#: Query parameters that belong to the bridge, never passed upstream.
BRIDGE_QUERY_PARAMS = frozenset({AUTH_URL_PARAM, MIN_VERSION_PARAM, "token"})


def reason_phrase(status_code: int, error: Mapping[str, Any]) -> str:
    """The reason of an error reply, from ``write_error``'s keyword arguments.

    As tornado's ``send_error`` chooses it: the ``HTTPError``'s own reason,
    else a ``reason=`` given to ``send_error``, else the standard phrase
    (``http.client.responses``, as jupyter_server's ``write_error`` reads it).
    """
    exc_info = error.get("exc_info")
    reason = error.get("reason")
    if exc_info and getattr(exc_info[1], "reason", None):
        reason = exc_info[1].reason
    return str(reason or responses.get(status_code, "Unknown"))


class ConnectionLimit:
    """Open sockets counted against one ``ColabBridge`` limit.

    Built once per limit when the extension starts; ``limit`` follows the
    setting when it changes (``ColabBridge`` observes it).
    """

    def __init__(self, limit: int, setting: str) -> None:
        self.open: set[Any] = set()
        self.limit = limit
        #: The ``ColabBridge`` setting's name, for the log.
        self.setting = setting

    def reserve(self, socket: Any) -> bool:
        """Count ``socket``; False if no place is left."""
        if len(self.open) >= self.limit:
            return False
        self.open.add(socket)
        return True

    def release(self, socket: Any) -> None:
        """Give ``socket``'s place back (idempotent)."""
        self.open.discard(socket)


def extension_app(settings: Mapping[str, Any]) -> ColabBridge:
    """The loaded ``ColabBridge`` from a tornado application's settings."""
    return cast("ColabBridge", settings[EXTENSION_NAME])


class BridgeSocket(ExtensionHandlerMixin, WebSocketMixin, WebSocketHandler, JupyterHandler):
    """The one base of the bridge's sockets: origin, auth URL, credentials, connection limits.

    jupyter_server's anchors' order (``ExtensionHandlerMixin, WebSocketMixin,
    WebSocketHandler, JupyterHandler``). ``KernelChannelsHandler`` lists it
    before jupyter_server's kernel handler, which then comes before
    ``WebSocketMixin`` in the method resolution order.
    """

    #: Whether the handshake's credentials are checked (the auth URL, the cookie rule).
    checks_credentials = True
    auth_url_error: str | None = None
    _counted = False
    _call_context: dict[str, Any] | None = None

    @property
    def bridge(self) -> ColabBridge:
        """The extension app: the policy and limits."""
        return extension_app(self.settings)

    def set_default_headers(self) -> None:
        """No CORS or CSP headers on a WebSocket handshake."""

    def open(self, *args: Any, **kwargs: Any) -> Any:
        """Send small frames at once (TCP_NODELAY: :mod:`.nodelay`), then open as the base does."""
        self.set_nodelay(True)
        return super().open(*args, **kwargs)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """A plain-text refusal: a WebSocket handshake has no page to render.

        A refusal for the credentials is JSON (``{"message", "reason"}``), as direct mode's.
        """
        error = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(error, CredentialRefused):
            self.set_header("Content-Type", "application/json")
            self.finish(error.body())
            return
        self.set_header("Content-Type", "text/plain; charset=UTF-8")
        self.finish(f"{status_code} {reason_phrase(status_code, kwargs)}\n")

    @cached_property
    def write_backlog(self) -> WriteBacklog:
        """What this socket's writes hold that its peer has not taken yet (:mod:`.backlog`).

        A socket that writes without waiting (diagnose's answers, kernel output,
        a language server's messages) tracks each write here and compares the
        bytes with its limit.
        """
        return WriteBacklog()

    @property
    def max_message_size(self) -> int:
        """The largest incoming frame tornado accepts on this socket."""
        return self.bridge.max_message_bytes

    # -- 1. origin ----------------------------------------------------------
    @property
    def verdict(self) -> PageVerdict:
        """The front door's record of this handshake (:mod:`.verdict`)."""
        return verdict_of(self.request)

    def check_origin(self, origin: str | None = None) -> bool:
        """Tornado's hook; the real check already ran in :meth:`prepare`."""
        return origin is None or self.verdict.allowed

    def _refuse_origin(self) -> None:
        verdict = self.verdict
        origins = self.request.headers.get_list("Origin")
        if self.request.headers.get_list("Sec-Websocket-Origin"):
            problem = "a legacy Sec-WebSocket-Origin header"
        elif verdict.origin_headers > 1:
            problem = "more than one Origin header"
        elif verdict.origin is not None and origin_too_long(verdict.origin):
            problem = f"an origin longer than {MAX_ORIGIN_CHARS} characters"
        elif verdict.origin is not None and not verdict.allowed:
            problem = "an origin that is not allowed"
        else:
            return
        self.log.warning(
            "Colab bridge: refused a WebSocket from origin %r (%s); allowed: %s. "
            "Add it to c.ColabBridge.allowed_origins if you trust that page.",
            printable(", ".join(origins), 100) if origins else None,
            problem,
            ", ".join(self.bridge.origin_policy.describe()),
        )
        raise web.HTTPError(403)

    # -- 2. auth URL --------------------------------------------------------
    def _auth_url_token(self) -> str | None:
        """The token of the auth URL, if it names this server and carries one."""
        auth_url = self.get_query_argument(AUTH_URL_PARAM, None)
        if auth_url is None:
            return None
        try:
            token = token_from_auth_url(
                auth_url,
                self.request.protocol,
                self.request.host,
                self.settings.get("base_url", "/"),
            )
        except AuthUrlError as e:
            self.auth_url_error = str(e)
            self.log.warning("Colab bridge: refusing the auth URL: %s", e)
            return None
        if token is None:
            self.log.warning(
                "Colab bridge: the auth URL carries no token (?token=...), so it adds no "
                "credential; paste the URL with its token"
            )
        return token

    async def _apply_auth_url(self, token: str | None) -> None:
        """Authenticate with the auth URL's token, if the server accepts it."""
        if token is None or "Authorization" in self.request.headers:
            return  # the client's own header (the same token) stays its credential
        if await token_user(self, token) is None:
            self.log.warning("Colab bridge: the server does not accept the token in the auth URL")
            return
        # Authenticate exactly as a direct ``Authorization: token`` request.
        self.request.headers["Authorization"] = f"token {token}"

    # -- 3. credentials from a page are tokens --------------------------------
    def _apply_cookie_rule(self) -> None:
        origin = self.verdict.origin
        if origin is None or self.bridge.allow_cookie_auth or "Cookie" not in self.request.headers:
            return  # a script (no Origin) may use what it holds
        if not carries_token(self.request):
            self.log.warning(
                "Colab bridge: refused a WebSocket from %s: %s", origin, COOKIE_WITHOUT_TOKEN
            )
            raise web.HTTPError(403)
        del self.request.headers["Cookie"]  # only the token may authenticate this socket

    def _refuse_without_a_token(self) -> None:
        """Tokens only: refuse a page when the server can accept none."""
        verdict = self.verdict
        origin = verdict.origin
        if (
            origin is not None
            and auth_turned_off(self.identity_provider)
            and not verdict.same_origin
        ):
            self.log.warning(
                "Colab bridge: refused a WebSocket from %s: %s", origin, AUTH_TURNED_OFF
            )
            raise web.HTTPError(403)

    def _refuse_repeated_credentials(self) -> None:
        """One credential per socket: none given twice (400)."""
        refusal = repeated_credential(self.request)
        if refusal is not None:
            self.log.warning("Colab bridge: refused a WebSocket: %s", refusal.message)
            raise refusal

    def _refuse_two_credentials(self, auth_url_token: str | None) -> None:
        """One credential per socket: the one that authenticates it is the one forwarded (403)."""
        if conflicting_credentials(self.request, auth_url_token):
            self.log.warning("Colab bridge: refused a WebSocket: %s", CONFLICTING_CREDENTIALS)
            raise conflict_refusal()

    async def prepare(self, *args: Any, **kwargs: Any) -> None:
        """Check origin and credentials, then let jupyter_server authenticate."""
        self._refuse_origin()
        if self.checks_credentials:
            self._refuse_without_a_token()
            self._refuse_repeated_credentials()  # before anything is parsed or asked
            auth_url_token = self._auth_url_token()
            self._refuse_two_credentials(auth_url_token)  # before the server is asked
            await self._apply_auth_url(auth_url_token)
            self._apply_cookie_rule()
        prepared = super().prepare(*args, **kwargs)
        if prepared is not None:  # a coroutine in jupyter_server 2, but may be plain
            await prepared
        self._call_context = current_call_context()

    # -- 4. after authentication --------------------------------------------
    async def authorize_or_403(self, action: str = "execute") -> None:
        """Ask the server's authorizer; 403 before the upgrade if it says no."""
        user = self.current_user
        if user is None:
            raise web.HTTPError(403)
        authorized = await ensure_async(
            self.authorizer.is_authorized(self, user, action, AUTH_RESOURCE)
        )
        if not authorized:
            self.log.warning("Colab bridge: user %s is not authorized to use the bridge", user)
            raise web.HTTPError(403)

    def connection_limit(self) -> ConnectionLimit:
        """The limit this socket counts against (``ColabBridge.max_connections``)."""
        return self.bridge.connections

    @contextlib.asynccontextmanager
    async def place(self) -> AsyncIterator[None]:
        """This socket's place under its limit for the handshake: 503 if none is left.

        The place is kept once the socket is open (``on_close`` gives it back),
        and given back at once if the handshake ends without an upgrade.
        """
        self.reserve_connection()
        try:
            yield
        finally:
            if self.ws_connection is None:
                self.release_connection()

    def reserve_connection(self) -> None:
        """Count this socket against its limit; 503 if no place is left."""
        limit = self.connection_limit()
        if not limit.reserve(self):
            self.log.warning(
                "Colab bridge: refused a WebSocket: %d are open (ColabBridge.%s)",
                len(limit.open),
                limit.setting,
            )
            raise web.HTTPError(503, reason="Too many bridge connections")
        self._counted = True

    def release_connection(self) -> None:
        """Give this socket's place back (idempotent)."""
        if self._counted:
            self.connection_limit().release(self)
            self._counted = False

    def get_websocket_protocol(self) -> WebSocketProtocol | None:
        """tornado's protocol for the handshake, without tornado's own pings (:mod:`.pings`)."""
        return without_tornado_pings(super().get_websocket_protocol())

    def stop_pings(self) -> None:
        """Stop jupyter_server's ping timer now (``WebSocketMixin`` waits for its next tick)."""
        ping = getattr(self, "ping_callback", None)
        if ping is not None:
            ping.stop()
            self.ping_callback = None

    def forget_call_context(self) -> None:
        """Take this handler out of jupyter_server's ``CallContext`` once it has closed.

        ``JupyterHandler.prepare`` stores the handler in a context variable, and
        every timer or callback scheduled while it ran carries a copy of that
        context. asyncio keeps a *cancelled* timer (a stopped ping, a finished
        connect timeout) with its context until its deadline, so without this
        the closed handler would stay referenced for up to that long. The map
        is this handler's own (``CallContext.set`` copies it), so emptying it
        touches no other request.
        """
        names = self._call_context
        if names is not None and names.get(CallContext.JUPYTER_HANDLER) is self:
            del names[CallContext.JUPYTER_HANDLER]
        self._call_context = None

    def on_close(self) -> None:
        """Stop pings at once and drop the call context: nothing keeps a closed handler alive."""
        self.stop_pings()
        super().on_close()
        self.forget_call_context()

    def read_min_version(self) -> MinVersion:
        """The handshake's ``min_version``, judged once (bounded before it is parsed)."""
        return read_min_version(self.request.query_arguments.get(MIN_VERSION_PARAM, []))

    def close_for_min_version(self, version: MinVersion, outdated_is_fine: bool = False) -> bool:
        """Close with 400 if ``min_version`` is unusable; True if closed.

        ``outdated_is_fine``: a page asking for a newer protocol is answered,
        not closed (diagnose tells it so).
        """
        reason = version.problem
        if reason is None or (outdated_is_fine and version.outdated):
            return False
        self.log.error("Colab bridge: rejecting connection: %s", reason)
        self.close(code=CLOSE_BAD_REQUEST, reason=reason)
        return True

    def upstream_credentials(self) -> dict[str, str]:
        """The headers that carry this socket's authentication to the server.

        Only what authenticated the handshake travels: its ``Authorization``
        (the auth URL's token ends up there too), else a ``?token=`` turned into
        one, else its cookies. Never Host, Origin or hop-by-hop headers.
        """
        headers: dict[str, str] = {}
        authorization = self.request.headers.get("Authorization")
        token_arg = self.get_query_argument("token", None)
        if authorization:
            headers["Authorization"] = authorization
        elif token_arg:
            headers["Authorization"] = f"token {token_arg}"
        cookie = self.request.headers.get("Cookie")
        if cookie and "Authorization" not in headers:
            headers["Cookie"] = cookie
        return headers

    def connection_stream(self) -> IOStream | None:
        """The TCP (or TLS) stream this handshake arrived on, while it is open."""
        connection = self.request.connection
        return connection.stream if isinstance(connection, HTTP1Connection) else None

    def local_host_header(self) -> str:
        """A ``Host`` for requests to this server: loopback and its own port."""
        stream = self.connection_stream()
        port = None
        if stream is not None and not stream.closed():
            port = stream.socket.getsockname()[1]
        else:
            port = getattr(self.settings.get("serverapp"), "port", None)
        return f"127.0.0.1:{port}" if isinstance(port, int) else "127.0.0.1"


def current_call_context() -> dict[str, Any] | None:
    """jupyter_server's ``CallContext`` map of the running context, if one is set."""
    return call_context_map()  # None, never an error, if jupyter_server renames it
