"""Checks of the auth URL that Colab's page passes at the handshake.

Colab sends ``jupyter_http_over_ws_auth_url``: the backend URL the user
pasted, token included. The original extension fetched it over the network;
the bridge never does. It checks that the URL names this very server (the
scheme, host and port the page used for the handshake, under ``base_url``)
and hands back the token, which the server's identity provider then judges
as if the page had sent ``Authorization: token <it>`` (docs/protocol.md section 4).
"""

from __future__ import annotations

from urllib.parse import parse_qs, unquote, urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}


class AuthUrlError(ValueError):
    """An auth URL the bridge refuses; the message never contains the token."""


def _netloc(scheme: str, host: str, port: int | None) -> tuple[str, str, int]:
    return scheme, host.lower().strip("[]"), port or _DEFAULT_PORTS.get(scheme, 0)


def split_host(host_header: str) -> tuple[str, int | None]:
    """Split a ``Host`` header value into host and port (None if absent)."""
    parts = urlsplit("//" + host_header)
    try:
        port = parts.port
    except ValueError:
        raise AuthUrlError("the handshake's Host header is malformed") from None
    return parts.hostname or "", port


def token_from_auth_url(
    auth_url: str, request_scheme: str, request_host: str, base_url: str
) -> str | None:
    """Return the token in ``auth_url`` if it names this server, else raise.

    A URL of this server without a token (or with an empty one) gives None:
    it carries no credential, which is no error (other credentials may still
    authenticate the socket).

    ``request_scheme`` is ``http`` or ``https`` (the handshake's), and
    ``request_host`` the handshake's ``Host`` header: what the browser sees,
    which behind ``ssh -L 9000:localhost:8888`` is ``localhost:9000``. It is
    only compared, never contacted.
    """
    try:
        parts = urlsplit(auth_url)
        url_port = parts.port
    except ValueError:
        raise AuthUrlError("the auth URL is not a valid URL") from None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise AuthUrlError("the auth URL must be an http or https URL of this server")
    if parts.username is not None or parts.password is not None:
        raise AuthUrlError("the auth URL must not contain a user name or password")
    req_host, req_port = split_host(request_host)
    theirs = _netloc(parts.scheme, parts.hostname, url_port)
    ours = _netloc(request_scheme, req_host, req_port)
    if theirs != ours:
        raise AuthUrlError(
            "the auth URL names another server "
            f"({theirs[0]}://{theirs[1]}:{theirs[2]}, but this connection came to "
            f"{ours[0]}://{ours[1]}:{ours[2]}); it is not contacted"
        )
    path = unquote(parts.path or "/")
    base = unquote(base_url)
    if not (path + "/").startswith(base) and path != base.rstrip("/"):
        raise AuthUrlError(f"the auth URL is not under this server's base_url {base_url}")
    tokens = [t for t in parse_qs(parts.query, keep_blank_values=True).get("token", []) if t]
    if len(tokens) > 1:
        raise AuthUrlError("the auth URL carries more than one token")
    return tokens[0] if tokens else None
