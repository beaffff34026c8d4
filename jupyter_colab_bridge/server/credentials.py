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

from typing import Any

from jupyter_core.utils import ensure_async
from jupyter_server.base.handlers import JupyterHandler
from tornado import httputil, web

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

#: Why a handshake with two different credentials is refused (for the log).
CONFLICTING_CREDENTIALS = (
    "it carried conflicting credentials (an Authorization header and a different ?token=); send one"
)


def auth_turned_off(identity_provider: Any) -> bool:
    """Whether the server lets every request in without a credential.

    Then no token can be accepted from a page (docs/protocol.md section 4), so
    every allowed page is refused; scripts are served as jupyter_server serves them.
    """
    return not getattr(identity_provider, "auth_enabled", True)


def conflicting_credentials(request: httputil.HTTPServerRequest) -> bool:
    """Whether ``Authorization`` and ``?token=`` are both present and differ.

    jupyter_server authenticates with ``?token=`` first; the bridge forwards one
    credential with each request, so a socket must carry only one.
    """
    authorization = request.headers.get("Authorization")
    token = query_token(request)
    if not authorization or token is None:
        return False
    scheme, _, value = authorization.partition(" ")
    return scheme.lower() not in ("token", "bearer") or value.strip() != token


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
