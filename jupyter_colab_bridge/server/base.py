"""What every bridge WebSocket does before and around the upgrade.

Order of checks at the handshake, all before the upgrade:

1. ``Origin``: exactly one, on the ``ColabBridge`` allowlist (our own check;
   jupyter_server's lets any origin through once a token is present).
2. ``jupyter_http_over_ws_auth_url``: if it names this server (scheme, host,
   port, base_url) and carries the server's token (constant-time compare), the
   socket is token-authenticated as if the page had sent
   ``Authorization: token ...``. Nothing is ever fetched.
3. jupyter_server's own ``prepare`` (Host check, identity provider), then
   ``@ws_authenticated`` and the authorizer in each handler's ``get``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from jupyter_core.utils import ensure_async
from tornado import web

from ..protocol.auth_url import AuthUrlError, token_from_auth_url, tokens_equal
from ..protocol.handshake import AUTH_URL_PARAM, MIN_VERSION_PARAM

if TYPE_CHECKING:
    from ..app import ColabBridge

#: The resource the authorizer is asked about for the bridge's sockets.
AUTH_RESOURCE = "colab_bridge"

#: Query parameters that belong to the bridge, never passed upstream.
BRIDGE_QUERY_PARAMS = frozenset({AUTH_URL_PARAM, MIN_VERSION_PARAM, "token"})


class BridgeHandlerMixin:
    """Origin allowlist, auth-URL flow and connection limits for bridge sockets.

    Mixed in before ``WebSocketMixin``/``WebSocketHandler``/``JupyterHandler``.
    """

    request: Any
    log: Any
    settings: dict[str, Any]
    auth_url_error: str | None = None
    _counted = False

    @property
    def bridge(self) -> ColabBridge:
        """The extension app: the policy and limits."""
        return self.settings["colab_bridge"]  # type: ignore[no-any-return]

    def set_default_headers(self) -> None:
        """No CORS or CSP headers on a WebSocket handshake."""

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """A plain-text refusal: a WebSocket handshake has no page to render."""
        self.set_header("Content-Type", "text/plain; charset=UTF-8")  # type: ignore[attr-defined]
        self.finish(f"{status_code} {self._reason}\n")  # type: ignore[attr-defined]

    @property
    def max_message_size(self) -> int:  # tornado reads this for incoming frames
        return self.bridge.max_message_bytes

    # -- 1. origin ----------------------------------------------------------
    def check_origin(self, origin: str | None = None) -> bool:
        """Tornado's hook; the real check already ran in :meth:`prepare`."""
        return origin is None or self.bridge.origin_policy.allows(origin)

    @property
    def page_origin(self) -> str | None:
        """The handshake's single ``Origin``, or None for a non-browser client."""
        values = self.request.headers.get_list("Origin")
        return values[0] if values else None

    def _refuse_origin(self) -> None:
        headers = self.request.headers
        origins = headers.get_list("Origin")
        if headers.get_list("Sec-Websocket-Origin"):
            problem = "a legacy Sec-WebSocket-Origin header"
        elif len(origins) > 1:
            problem = "more than one Origin header"
        elif origins and not self.bridge.origin_policy.allows(origins[0]):
            problem = "an origin that is not allowed"
        else:
            return
        self.log.warning(
            "Colab bridge: refused a WebSocket from origin %r (%s); allowed: %s. "
            "Add it to c.ColabBridge.allowed_origins if you trust that page.",
            ", ".join(origins) or None,
            problem,
            ", ".join(self.bridge.origin_policy.describe()),
        )
        raise web.HTTPError(403)

    # -- 2. auth URL --------------------------------------------------------
    def _apply_auth_url(self) -> None:
        auth_url = self.get_query_argument(AUTH_URL_PARAM, None)  # type: ignore[attr-defined]
        if auth_url is None:
            return
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
            return
        expected = self.identity_provider.token  # type: ignore[attr-defined]
        if expected and not tokens_equal(token, expected):
            self.log.warning("Colab bridge: the token in the auth URL is not this server's token")
            return
        if "Authorization" not in self.request.headers:
            # Authenticate exactly as a direct ``Authorization: token`` request.
            self.request.headers["Authorization"] = f"token {token}"

    async def prepare(self, *args: Any, **kwargs: Any) -> None:
        """Check origin and auth URL, then let jupyter_server authenticate."""
        self._refuse_origin()
        self._apply_auth_url()
        await ensure_async(super().prepare(*args, **kwargs))  # type: ignore[misc]

    # -- 3. after authentication --------------------------------------------
    async def authorize_or_403(self, action: str = "execute") -> None:
        """Ask the server's authorizer; 403 before the upgrade if it says no."""
        user = self.current_user  # type: ignore[attr-defined]
        if user is None:
            raise web.HTTPError(403)
        authorized = await ensure_async(
            self.authorizer.is_authorized(self, user, action, AUTH_RESOURCE)  # type: ignore[attr-defined]
        )
        if not authorized:
            self.log.warning("Colab bridge: user %s is not authorized to use the bridge", user)
            raise web.HTTPError(403)

    def reserve_connection(self) -> None:
        """Count this socket against ``max_connections``; 503 if none is left."""
        open_connections = self.bridge.open_connections
        if len(open_connections) >= self.bridge.max_connections:
            self.log.warning(
                "Colab bridge: refused a WebSocket: %d are open (ColabBridge.max_connections)",
                len(open_connections),
            )
            raise web.HTTPError(503, reason="Too many bridge connections")
        open_connections.add(self)
        self._counted = True

    def release_connection(self) -> None:
        """Give this socket's place back (idempotent)."""
        if self._counted:
            self.bridge.open_connections.discard(self)
            self._counted = False

    def set_nodelay_safely(self) -> None:
        """Send small frames at once (no Nagle delay with delayed ACKs)."""
        try:
            self.set_nodelay(True)  # type: ignore[attr-defined]
        except Exception:  # pragma: no cover - e.g. a Unix socket
            self.log.debug("Colab bridge: could not set TCP_NODELAY", exc_info=True)

    def upstream_credentials(self) -> dict[str, str]:
        """The headers that carry this socket's authentication to the server.

        Only what authenticated the handshake travels: its ``Authorization``
        (the auth URL's token ends up there too), else a ``?token=`` turned into
        one, else its cookies. Never Host, Origin or hop-by-hop headers.
        """
        headers: dict[str, str] = {}
        authorization = self.request.headers.get("Authorization")
        token_arg = self.get_query_argument("token", None)  # type: ignore[attr-defined]
        if authorization:
            headers["Authorization"] = authorization
        elif token_arg:
            headers["Authorization"] = f"token {token_arg}"
        cookie = self.request.headers.get("Cookie")
        if cookie and "Authorization" not in headers:
            headers["Cookie"] = cookie
        return headers

    def local_host_header(self) -> str:
        """A ``Host`` for requests to this server: loopback and its own port."""
        port = None
        try:
            port = self.request.connection.stream.socket.getsockname()[1]
        except Exception:
            port = getattr(self.settings.get("serverapp"), "port", None)
        return f"127.0.0.1:{port}" if isinstance(port, int) else "127.0.0.1"
