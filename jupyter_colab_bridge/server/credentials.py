"""Credentials: does a request carry a token, and does the server accept one?

Credentials from a web page are tokens (docs/protocol.md section 4):
:func:`carries_token` tells whether a request has one. Whether the server
accepts a token is asked of its own identity provider, in-process
(:func:`token_user`). The token in Colab's auth URL is valid exactly when the server's identity
provider accepts it as ``Authorization: token <it>`` (docs/protocol.md section 4):
the server's own token on a plain ``jupyter server``, the user's Hub API
token on a JupyterHub single-user server (whose ``IdentityProvider.token`` is
the server's own Hub credential, not any user's), whatever a custom provider
accepts. So the bridge does not compare the token with anything itself: it
builds a request that carries only that header, with no cookie, no query and
no body, and hands it to the identity provider as a handler of the server's
own application would. Nothing is fetched; the provider may of course ask its
own authority (a Hub checks the token with the Hub's API, as for any request).
"""

from __future__ import annotations

import json
from typing import Any

from jupyter_core.utils import ensure_async
from jupyter_server.auth.decorator import allow_unauthenticated
from jupyter_server.base.handlers import JupyterHandler
from tornado import httputil, web

from ..protocol.handshake import AUTH_URL_PARAM
from ..protocol.paths import query_without
from .context import RequestContext

#: Why a page's request with a cookie and no token is refused, and the fix (for the log).
COOKIE_WITHOUT_TOKEN = (
    "it carried a login cookie and no token; paste the URL with its token into the page "
    "(or set c.ColabBridge.allow_cookie_auth = True to accept cookies)"
)


#: How to give a server a token (the log's refusals, the banner, the doctor).
HOW_TO_SET_A_TOKEN = (
    "start it with a token: JUPYTER_TOKEN=<a long random string> jupyter server, or "
    "c.IdentityProvider.token = '<a long random string>' in jupyter_server_config.py; "
    "then paste the URL with ?token=<it> into Colab"
)

#: Why a page is refused by a server without authentication (for the log).
AUTH_TURNED_OFF = (
    "this server runs with authentication turned off (no token, no password), so no "
    "token can show that the page is yours; " + HOW_TO_SET_A_TOKEN
)

#: Why a handshake with two different credentials is refused (for the log and the reply).
CONFLICTING_CREDENTIALS = (
    "it carried conflicting credentials (an Authorization header, ?token= or the auth URL's "
    "token, differing); send one"
)

#: The ``reason`` of the JSON refusals (machine-readable, as direct mode's).
REASON_REPEATED = "repeated credential"
REASON_CONFLICTING = "conflicting credentials"


class CredentialRefused(web.HTTPError):
    """A handshake or request refused for its credentials (docs/protocol.md section 4).

    ``message`` and ``refusal`` make its JSON body ``{"message", "reason"}``;
    neither ever holds a token. No ``log_message``: tornado would log it with
    the request's URI, which may hold the token; the caller logs its own line.
    """

    def __init__(self, status_code: int, refusal: str, message: str) -> None:
        super().__init__(status_code)
        self.refusal = refusal
        self.message = message

    def body(self) -> str:
        """The JSON reply."""
        return json.dumps({"message": self.message, "reason": self.refusal})


def repeated_credential(request: httputil.HTTPServerRequest) -> CredentialRefused | None:
    """A 400 refusal if a credential is given more than once, else None.

    ``?token=`` twice (jupyter_server takes the last one, a check may take the
    first), the auth URL twice, or two ``Authorization`` headers: each
    request of a socket carries one credential, so the handshake must name
    exactly one. Counted before anything is parsed or asked of the server.
    """
    repeated = [
        what
        for what, count in (
            ("?token=", len(request.query_arguments.get("token", []))),
            (AUTH_URL_PARAM, len(request.query_arguments.get(AUTH_URL_PARAM, []))),
            ("the Authorization header", len(request.headers.get_list("Authorization"))),
        )
        if count > 1
    ]
    if not repeated:
        return None
    return CredentialRefused(
        400,
        REASON_REPEATED,
        f"The request gives {' and '.join(repeated)} more than once; send one credential, once "
        "(the server's token, as ?token= or in the URL you paste into Colab).",
    )


def auth_turned_off(identity_provider: Any) -> bool:
    """Whether the server lets every request in without a credential.

    Then no token can be accepted from a page (docs/protocol.md section 4), so
    every allowed page is refused; scripts are served as jupyter_server serves them.
    """
    return not getattr(identity_provider, "auth_enabled", True)


def conflicting_credentials(
    request: httputil.HTTPServerRequest, auth_url_token: str | None = None
) -> bool:
    """Whether the handshake's credentials differ: ``Authorization``, ``?token=``, the auth URL's.

    jupyter_server authenticates with ``?token=`` first; the bridge forwards one
    credential with each request, so a socket must carry only one. The same
    token sent two or three ways is one credential; an ``Authorization``
    scheme other than ``token`` or ``Bearer`` beside a token is another.
    Repeats are :func:`repeated_credential`'s.
    """
    tokens: set[str] = set()
    authorization = request.headers.get("Authorization")
    others = 0
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() in ("token", "bearer"):
            tokens.add(value.strip())
        else:
            others = 1
    token = query_token(request)
    if token is not None:
        tokens.add(token)
    if auth_url_token:
        tokens.add(auth_url_token)
    return len(tokens) + others > 1


def query_token(request: httputil.HTTPServerRequest) -> str | None:
    """The one non-empty ``token`` in the query string, else None."""
    values = [v for v in request.query_arguments.get("token", []) if v]
    if len(values) != 1:
        return None
    try:
        return values[0].decode("utf-8")
    except UnicodeDecodeError:
        return None


def take_query_token(request: httputil.HTTPServerRequest) -> str | None:
    """Remove the page's ``?token=`` from ``request`` and return it (see :func:`query_token`).

    The token leaves the URI, the query and the parsed arguments, so that no
    log line that quotes the request (tornado's and jupyter_server's error
    summaries, the access log) can show it. The caller makes it the request's
    ``Authorization`` instead. None, and ``request`` untouched, when the query
    holds no single token.
    """
    token = query_token(request)
    if token is None:
        return None
    request.query = query_without(request.query, "token")
    request.uri = f"{request.path}?{request.query}" if request.query else request.path
    request.query_arguments = {k: v for k, v in request.query_arguments.items() if k != "token"}
    request.arguments = {k: list(v) for k, v in request.query_arguments.items()}
    return token


def carries_token(request: httputil.HTTPServerRequest) -> bool:
    """Whether a request carries a token credential: ``Authorization``, or ``?token=``."""
    return "Authorization" in request.headers or query_token(request) is not None


def conflict_refusal() -> CredentialRefused:
    """The 403 for a handshake whose credentials differ."""
    return CredentialRefused(
        403,
        REASON_CONFLICTING,
        "The request carries two different credentials (an Authorization header, ?token= or "
        "the token of the auth URL); send one.",
    )


class CredentialRefusedHandler(web.RequestHandler):
    """Answers a page's request refused by :func:`repeated_credential` (any method).

    Installed for one request by direct mode's gate, with the refusal.
    """

    def initialize(self, refusal: CredentialRefused) -> None:
        self.refusal = refusal

    def check_xsrf_cookie(self) -> None:
        """No XSRF check: every method is refused in :meth:`prepare`, with the readable reason."""

    @allow_unauthenticated
    def prepare(self) -> None:
        """Refuse before any method runs; WebSocket handshakes included."""
        self.set_status(self.refusal.status_code)
        self.set_header("Content-Type", "application/json")
        self.finish(self.refusal.body())


class _ProbeConnection(httputil.HTTPConnection):
    """The connection of a request that is never answered."""

    def __init__(self, context: RequestContext) -> None:
        self.context = context

    def set_close_callback(self, callback: Any) -> None:
        """Nothing to close."""


class TokenProbe(JupyterHandler):
    """A handler of the server's application that only asks who a request is.

    Never routed and never finished: whatever the identity provider writes on
    it (a login cookie, say) goes nowhere.
    """


async def token_user(handler: web.RequestHandler, token: str) -> Any | None:
    """The user the server's identity provider finds for ``Authorization: token <token>``.

    ``handler`` is the request this is asked for (a WebSocket handshake): its
    host, path, scheme and peer address are kept, nothing else.
    """
    original = handler.request
    headers = httputil.HTTPHeaders({"Authorization": f"token {token}"})
    if original.host:
        headers["Host"] = original.host
    request = httputil.HTTPServerRequest(
        start_line=httputil.RequestStartLine("GET", original.path, "HTTP/1.1"),
        headers=headers,
        connection=_ProbeConnection(RequestContext(original.remote_ip, original.protocol)),
    )
    probe = TokenProbe(handler.application, request)
    return await ensure_async(probe.identity_provider.get_user(probe))
