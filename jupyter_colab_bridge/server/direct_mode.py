"""Direct mode: what a page on an allowlisted origin meets when it calls this server itself.

Since 2025 Colab's page also calls the REST API cross-origin with its token
(``?token=`` or ``Authorization: token ...``) and opens the kernel WebSocket
directly (docs/protocol.md section 5). Everything here concerns one kind of
request only: a **cross-origin** request (its ``Origin`` is not the server's
own) from an **allowlisted** origin, under ``base_url``, to anything but the
bridge's own endpoints (which check their sockets themselves). Every other
request, the server's own pages included, meets jupyter_server exactly as
without the bridge.

* :class:`DirectModeGate`, asked by the front door (:mod:`.front_door`) for
  every request once it has judged it (:mod:`.verdict`), looks at such a
  request first:

  - it answers CORS preflights for the API and files (:class:`PreflightHandler`);
  - one credential per request: a request that repeats ``?token=`` (which
    would then stay in the URI, below) or ``Authorization`` is refused with
    400 and a JSON message (:class:`.credentials.CredentialRefusedHandler`);
  - credentials from a page are tokens (docs/protocol.md section 4): a request
    that carries cookies but no token is refused with 403 and a message that
    names the fix (:class:`CookieRefusedHandler`), and a request with a token
    has its cookies removed, so that only the token can authenticate it. With
    ``ColabBridge.allow_cookie_auth`` both are left as they are;
  - the token in the query of a CORS fetch (``Sec-Fetch-Mode: cors``) or of a
    WebSocket handshake without an ``Authorization`` header becomes its
    ``Authorization: token``, and leaves the query, the URI and the parsed
    arguments, so that no log line quoting the request (tornado's and
    jupyter_server's error summaries, the access log) can show it. A
    JupyterHub single-user server ignores ``?token=`` unless
    ``HubAuth.allow_token_in_url`` is set, or the request says
    ``Sec-Fetch-Mode: websocket`` (which Chromium does not send on
    handshakes); that guards against a shared link logging a browser in as
    someone else. A CORS fetch or a WebSocket is no navigation, and its reply
    sets no cookie (below), so the guard holds; Colab's page, which sends
    ``?token=``, works.

  Then it declines, and routing goes on as usual.
* :class:`CorsTransform`, a tornado output transform, adds the exact origin and
  ``Access-Control-Allow-Credentials: true`` to responses of the API and files
  (``api/``, ``files/``), error responses included: never to HTML pages
  (``login``, ``tree``, ``lab``...). It adds ``Vary: Origin`` to every response
  under ``base_url``, since these answers depend on the origin. No reply to
  such a page sets a cookie (:mod:`.no_cookies`, installed with or without
  direct mode).
* :func:`trust_allowlisted_origins` makes jupyter_server's own origin check
  pass for an allowlisted origin, as ``ServerApp.allow_origin`` would:
  jupyter_server asks ``IdentityProvider.should_check_origin`` whether to
  check, and there is no other hook, so the server's identity provider gets a
  wrapper that answers "no" for an allowlisted origin and asks the original
  for anything else. Without it a page sending a wrong or expired token would
  get a misleading 404 (``APIHandler.prepare``) instead of 403.

Authentication and XSRF checks stay the server's own. WebSocket upgrades get
no CORS headers (CORS does not apply to them).
"""

from __future__ import annotations

import functools
import json
import logging
from typing import Any, ClassVar

from jupyter_server.auth.decorator import allow_unauthenticated
from jupyter_server.base.handlers import JupyterHandler
from tornado import httputil, web

from ..protocol.cors import CORS_RESPONSE_HEADERS, add_vary, allow_credentials, preflight_headers
from ..protocol.handshake import is_upgrade
from ..protocol.paths import BRIDGE_PREFIX, in_cors_scope
from .base import reason_phrase
from .credentials import (
    AUTH_TURNED_OFF,
    COOKIE_WITHOUT_TOKEN,
    CredentialRefusedHandler,
    auth_turned_off,
    repeated_credential,
    take_query_token,
)
from .page_refusals import explain_page_refusals, refusal_line
from .verdict import PageVerdict, verdict_of

#: What a page is told by a server with authentication turned off.
NO_AUTH_REFUSED = (
    "This Jupyter server runs without authentication, so a web page cannot use it: "
    "restart it with a token (JUPYTER_TOKEN or c.IdentityProvider.token) and connect "
    "with ?token=<it>."
)
#: What a page is told when it sends a cookie and no token.
COOKIE_REFUSED = (
    "This server accepts no login cookie from another site's page: send the token. "
    "Paste the server's URL with its token into Colab (`jupyter colab-bridge url` "
    "prints it), or set c.ColabBridge.allow_cookie_auth = True to accept cookies."
)


class DirectModeRules:
    """Which requests direct mode concerns, and what it allows them.

    ``base_url`` is the server's; the bridge's own endpoints under it are
    left to their handlers.
    """

    def __init__(self, base_url: str, allow_cookie_auth: bool) -> None:
        self.base_url = base_url
        self.bridge_prefix = f"{base_url}{BRIDGE_PREFIX}"
        self.allow_cookie_auth = allow_cookie_auth

    def origin_in_scope(self, request: httputil.HTTPServerRequest) -> str | None:
        """The origin of a direct request from an allowed page that direct mode concerns, else None.

        Read from the front door's verdict (:mod:`.verdict`); only under
        ``base_url``, outside the bridge's own endpoints.
        """
        verdict = verdict_of(request)
        if not verdict.direct_from_page:
            return None
        path = request.path  # raw, as tornado routes it
        if not path.startswith(self.base_url) or (
            path == self.bridge_prefix or path.startswith(f"{self.bridge_prefix}/")
        ):
            return None
        return verdict.origin

    def gets_cors(self, request: httputil.HTTPServerRequest) -> bool:
        """Whether a response to this page may be read by it: the API and files only."""
        return not is_upgrade(request.headers) and in_cors_scope(request.path, self.base_url)


def is_preflight(request: httputil.HTTPServerRequest) -> bool:
    """Whether ``request`` is a CORS preflight."""
    return request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers


def not_navigation(request: httputil.HTTPServerRequest) -> bool:
    """A page's CORS fetch (``Sec-Fetch-Mode: cors``) or a WebSocket handshake."""
    return (
        is_upgrade(request.headers) or request.headers.get("Sec-Fetch-Mode", "").lower() == "cors"
    )


class DirectModeGate:
    """Answers or adjusts the requests of allowlisted pages, once the front door judged them.

    See the module's docstring. It never answers anything else: for those
    :meth:`answer` returns None and routing goes on to the server's rules.
    """

    def __init__(self, application: web.Application, rules: DirectModeRules, log: Any) -> None:
        self.application = application
        self.rules = rules
        self.log = log

    def answer(
        self, request: httputil.HTTPServerRequest, verdict: PageVerdict
    ) -> httputil.HTTPMessageDelegate | None:
        """A preflight answer or a refusal, else None after adjusting the credentials."""
        origin = self.rules.origin_in_scope(request)
        if origin is None:
            return None
        if is_preflight(request):
            if not self.rules.gets_cors(request):
                return None  # jupyter_server's own answer, which the page cannot read
            return self.application.get_handler_delegate(
                request, PreflightHandler, {"origin": origin}
            )
        if auth_turned_off(self.application.settings.get("identity_provider")):
            return self._refuse_without_auth(request, origin)
        refusal = repeated_credential(request)  # a repeated ?token= would stay in the URI
        if refusal is not None:
            self._log_refusal(request, origin, refusal.message)
            return self.application.get_handler_delegate(
                request, CredentialRefusedHandler, {"refusal": refusal}
            )
        credentials = verdict.credentials
        if credentials.cookie and not self.rules.allow_cookie_auth:
            if not credentials.token:
                self._log_refusal(request, origin, COOKIE_WITHOUT_TOKEN)
                return self.application.get_handler_delegate(request, CookieRefusedHandler)
            del request.headers["Cookie"]  # only the token may authenticate this request
        if not credentials.authorization and not_navigation(request):
            token = take_query_token(request)  # out of the URI, so out of every log line
            if token is not None:
                request.headers["Authorization"] = f"token {token}"
        return None

    def _refuse_without_auth(
        self, request: httputil.HTTPServerRequest, origin: str
    ) -> httputil.HTTPMessageDelegate:
        """Tokens only: a server without authentication cannot accept one from a page."""
        self._log_refusal(request, origin, AUTH_TURNED_OFF)
        return self.application.get_handler_delegate(request, NoAuthRefusedHandler)

    def _log_refusal(self, request: httputil.HTTPServerRequest, origin: str, why: str) -> None:
        """One WARNING for a refused page request (:func:`.page_refusals.refusal_line`)."""
        self.log.warning("%s", refusal_line(request, origin, why))


class PreflightHandler(JupyterHandler):
    """Answers a preflight that :class:`DirectModeGate` let through: 204.

    A :class:`JupyterHandler` only for its ``Host`` check, the one the bridge's
    sockets pass (DNS rebinding: a non-local ``Host`` gets 403 and a log line,
    unless ``ServerApp.allow_remote_access``); nothing else of its ``prepare``
    runs, as a preflight carries no credentials.
    """

    def initialize(self, origin: str) -> None:
        self.origin = origin

    def set_default_headers(self) -> None:
        """No Content-Type (a preflight answer has no body), no CORS of jupyter_server's."""
        self.clear_header("Content-Type")

    @allow_unauthenticated
    def prepare(self) -> None:  # type: ignore[override]  # no auth: a preflight has no credentials
        """Refuse a non-local ``Host`` as jupyter_server does."""
        self.current_user = None
        if not self.check_host():
            raise web.HTTPError(403)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """A plain-text refusal; it allows no method or header, so the browser fails the fetch."""
        self.set_header("Content-Type", "text/plain; charset=UTF-8")
        self.finish(f"{status_code} {reason_phrase(status_code, kwargs)}\n")

    @allow_unauthenticated
    def options(self, *args: Any, **kwargs: Any) -> None:
        """Allow what the page asks for; the actual request is authenticated."""
        for name, value in preflight_headers(self.request.headers, self.origin).get_all():
            self.set_header(name, value)
        self.set_status(204)
        self.finish()


class CookieRefusedHandler(web.RequestHandler):
    """403 for a page's request that carried cookies and no token (any method)."""

    def check_xsrf_cookie(self) -> None:
        """No XSRF check: every method is refused in :meth:`prepare`, with the readable reason.

        tornado checks XSRF before ``prepare``; its refusal would hide this one.
        """

    @allow_unauthenticated
    def prepare(self) -> None:
        """Refuse before any method runs; WebSocket handshakes included."""
        self.set_status(403)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"message": COOKIE_REFUSED, "reason": "cookie without token"}))


class NoAuthRefusedHandler(web.RequestHandler):
    """403 for every request of a page to a server with authentication turned off."""

    @allow_unauthenticated
    def prepare(self) -> None:
        """Refuse before any method runs; WebSocket handshakes included."""
        self.set_status(403)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"message": NO_AUTH_REFUSED, "reason": "authentication off"}))


class CorsTransform(web.OutputTransform):
    """CORS headers for allowlisted pages and ``Vary: Origin``.

    Cookies on these replies are dropped by :mod:`.no_cookies`, for every path.

    tornado instantiates a transform with the request alone; :func:`cors_transform`
    makes a subclass bound to the server's rules.
    """

    rules: ClassVar[DirectModeRules]

    def __init__(self, request: httputil.HTTPServerRequest) -> None:
        super().__init__(request)
        self.origin = self.rules.origin_in_scope(request)
        self.cors = self.origin is not None and self.rules.gets_cors(request)
        self.under_base_url = request.path.startswith(self.rules.base_url)

    def transform_first_chunk(
        self,
        status_code: int,
        headers: httputil.HTTPHeaders,
        chunk: bytes,
        finishing: bool,
    ) -> tuple[int, httputil.HTTPHeaders, bytes]:
        if self.under_base_url:
            add_vary(headers, "Origin")
        if self.cors:
            assert self.origin is not None
            allow_credentials(headers, self.origin)
        elif self.origin is not None:
            # jupyter_server echoes the origin of any token-authenticated request;
            # a page on an allowed origin reads nothing but the API and files.
            for name in CORS_RESPONSE_HEADERS:
                headers.pop(name, None)
        return status_code, headers, chunk


def cors_transform(rules: DirectModeRules) -> type[CorsTransform]:
    """A :class:`CorsTransform` class bound to ``rules``, for ``Application.add_transform``."""
    return type("BoundCorsTransform", (CorsTransform,), {"rules": rules})


def trust_allowlisted_origins(identity_provider: Any, rules: DirectModeRules) -> None:
    """Let jupyter_server's origin check pass for an allowlisted page's request."""
    original = identity_provider.should_check_origin

    @functools.wraps(original)
    def should_check_origin(handler: web.RequestHandler) -> bool:
        if rules.origin_in_scope(handler.request) is not None:
            return False
        return bool(original(handler))

    identity_provider.should_check_origin = should_check_origin


def enable_direct_mode(
    web_app: web.Application, identity_provider: Any, rules: DirectModeRules, log: logging.Logger
) -> DirectModeGate:
    """Install the transform and the origin check; the gate, for the front door to ask."""
    web_app.add_transform(cors_transform(rules))
    trust_allowlisted_origins(identity_provider, rules)
    explain_page_refusals(web_app, identity_provider, log)
    return DirectModeGate(web_app, rules, log)
