"""Direct mode: CORS for allowlisted pages that call this server's own API.

Since 2025 Colab's page also calls the REST API cross-origin with the token
(``?token=`` or ``Authorization: token ...``) and opens the kernel WebSocket
directly. Three small pieces make that work for an allowlisted ``Origin`` only,
leaving every other request exactly as jupyter_server answers it:

* :class:`PreflightHandler`, routed *before* every other handler by
  :class:`PreflightMatcher`, answers CORS preflights (``OPTIONS`` with
  ``Access-Control-Request-Method``) for any path under ``base_url``.
  jupyter_server answers ``OPTIONS`` only on its API handlers, and without
  the origin unless ``ServerApp.allow_origin`` is set; other paths give 403
  or 405. A preflight carries no credentials and the actual request still
  meets the server's authentication, so answering it reveals nothing.
* :class:`CorsTransform`, a tornado output transform, adds the exact origin
  and ``Access-Control-Allow-Credentials: true`` to the first chunk of every
  response, error responses included. ``send_error`` clears the headers a
  handler set, which is why jupyter_server's own 403/404/500 replies carry no
  CORS headers; a transform runs after that, on every response.
* :func:`trust_allowlisted_origins` makes jupyter_server's own origin check
  (``check_origin`` of its HTTP and WebSocket handlers) pass for an
  allowlisted origin, as ``ServerApp.allow_origin`` would. Token-authenticated
  requests skip that check anyway; without it a page sending a wrong or
  expired token would get a misleading 404 (``APIHandler.prepare``) instead
  of 403. jupyter_server asks ``IdentityProvider.should_check_origin`` whether
  to check; there is no other hook, so the server's identity provider gets a
  wrapper that answers "no" for an allowlisted origin and asks the original
  for anything else.

Authentication and XSRF checks stay the server's own. WebSocket upgrades
get no CORS headers (CORS does not apply to them).
"""

from __future__ import annotations

import functools
import re
from typing import Any

from jupyter_server.auth.decorator import allow_unauthenticated
from tornado import httputil, web
from tornado.routing import Matcher, Rule

from ..protocol.origins import OriginPolicy

#: Seconds a browser may cache a preflight answer (Chromium caps it at 7200).
PREFLIGHT_MAX_AGE = 7200

#: Methods and request headers every preflight answer allows.
ALLOWED_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
ALLOWED_HEADERS = ("Authorization", "Content-Type", "X-XSRFToken")

# RFC 9110 token: a method or a header field name.
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def allowlisted_origin(
    request: httputil.HTTPServerRequest, policy: OriginPolicy, base_url: str
) -> str | None:
    """The request's ``Origin`` if it is on the allowlist, else None.

    Only for a path under ``base_url`` and exactly one ``Origin`` header.
    """
    if not request.path.startswith(base_url):
        return None
    origins = request.headers.get_list("Origin")
    if len(origins) != 1 or not policy.allows(origins[0]):
        return None
    return origins[0]


def direct_origin(
    request: httputil.HTTPServerRequest, policy: OriginPolicy, base_url: str
) -> str | None:
    """The origin to answer with CORS headers: allowlisted, not a WebSocket upgrade."""
    if request.headers.get("Upgrade", "").lower() == "websocket":
        return None
    return allowlisted_origin(request, policy, base_url)


def is_preflight(request: httputil.HTTPServerRequest) -> bool:
    """Whether ``request`` is a CORS preflight."""
    return request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers


def add_vary(headers: httputil.HTTPHeaders, *names: str) -> None:
    """Add ``names`` to the ``Vary`` header, keeping what is there."""
    present = [v.strip() for v in headers.get("Vary", "").split(",") if v.strip()]
    lowered = {v.lower() for v in present}
    present += [n for n in names if n.lower() not in lowered]
    if present:
        headers["Vary"] = ", ".join(present)


def allow_credentials(headers: httputil.HTTPHeaders, origin: str) -> None:
    """The headers that let the page at ``origin`` read a credentialed response."""
    headers["Access-Control-Allow-Origin"] = origin
    headers["Access-Control-Allow-Credentials"] = "true"
    add_vary(headers, "Origin")


def _merged(defaults: tuple[str, ...], requested: str) -> str:
    """``defaults`` plus each requested name that is a valid token, no repeats."""
    out = list(defaults)
    seen = {d.lower() for d in defaults}
    for name in (n.strip() for n in requested.split(",")):
        if name and _TOKEN.fullmatch(name) and name.lower() not in seen:
            seen.add(name.lower())
            out.append(name)
    return ", ".join(out)


def preflight_headers(request_headers: httputil.HTTPHeaders, origin: str) -> httputil.HTTPHeaders:
    """The answer to a preflight from an allowlisted ``origin``."""
    headers = httputil.HTTPHeaders()
    allow_credentials(headers, origin)
    headers["Access-Control-Allow-Methods"] = _merged(
        ALLOWED_METHODS, request_headers.get("Access-Control-Request-Method", "")
    )
    headers["Access-Control-Allow-Headers"] = _merged(
        ALLOWED_HEADERS, request_headers.get("Access-Control-Request-Headers", "")
    )
    headers["Access-Control-Max-Age"] = str(PREFLIGHT_MAX_AGE)
    if request_headers.get("Access-Control-Request-Private-Network", "").lower() == "true":
        # Chrome's Private Network Access (before Local Network Access).
        headers["Access-Control-Allow-Private-Network"] = "true"
    add_vary(
        headers,
        "Access-Control-Request-Method",
        "Access-Control-Request-Headers",
        "Access-Control-Request-Private-Network",
    )
    return headers


class PreflightMatcher(Matcher):
    """Matches a preflight from an allowlisted origin under ``base_url``."""

    def __init__(self, policy: OriginPolicy, base_url: str) -> None:
        self.policy = policy
        self.base_url = base_url

    def match(self, request: httputil.HTTPServerRequest) -> dict[str, Any] | None:
        if is_preflight(request) and direct_origin(request, self.policy, self.base_url):
            return {}
        return None


class PreflightHandler(web.RequestHandler):
    """Answers a preflight that :class:`PreflightMatcher` let through: 204."""

    def initialize(self, policy: OriginPolicy, base_url: str) -> None:
        self.policy = policy
        self.base_url = base_url

    def set_default_headers(self) -> None:
        """No Content-Type: a preflight answer has no body."""
        self.clear_header("Content-Type")

    @allow_unauthenticated
    def options(self, *args: Any, **kwargs: Any) -> None:
        """Allow what the page asks for; the actual request is authenticated."""
        origin = direct_origin(self.request, self.policy, self.base_url)
        if origin is None:  # pragma: no cover - the matcher checked it
            raise web.HTTPError(403)
        for name, value in preflight_headers(self.request.headers, origin).get_all():
            self.set_header(name, value)
        self.set_status(204)
        self.finish()


class CorsTransform(web.OutputTransform):
    """Adds the exact origin and Allow-Credentials to every response for it."""

    def __init__(
        self, request: httputil.HTTPServerRequest, policy: OriginPolicy, base_url: str
    ) -> None:
        super().__init__(request)
        self.origin = direct_origin(request, policy, base_url)

    def transform_first_chunk(
        self,
        status_code: int,
        headers: httputil.HTTPHeaders,
        chunk: bytes,
        finishing: bool,
    ) -> tuple[int, httputil.HTTPHeaders, bytes]:
        if self.origin is not None:
            allow_credentials(headers, self.origin)
        return status_code, headers, chunk


def trust_allowlisted_origins(identity_provider: Any, policy: OriginPolicy, base_url: str) -> None:
    """Let jupyter_server's origin check pass for an allowlisted origin."""
    original = identity_provider.should_check_origin

    @functools.wraps(original)
    def should_check_origin(handler: web.RequestHandler) -> bool:
        if allowlisted_origin(handler.request, policy, base_url) is not None:
            return False
        return bool(original(handler))

    identity_provider.should_check_origin = should_check_origin


def enable_direct_mode(
    web_app: web.Application, identity_provider: Any, policy: OriginPolicy, base_url: str
) -> None:
    """Install the preflight route (first of all routes), the transform and the origin check."""
    rule = Rule(
        PreflightMatcher(policy, base_url),
        PreflightHandler,
        {"policy": policy, "base_url": base_url},
    )
    # Ahead of every extension's and the server's own routes, so a preflight
    # for any path (an extension's API, a 404) is answered the same way.
    web_app.default_router.rules.insert(0, rule)
    # tornado instantiates each transform with the request only.
    web_app.add_transform(
        functools.partial(CorsTransform, policy=policy, base_url=base_url)  # type: ignore[arg-type]
    )
    trust_allowlisted_origins(identity_provider, policy, base_url)
