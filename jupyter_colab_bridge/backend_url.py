"""The backend URL a user pastes into Colab: how it is printed, and how it is read.

The server's start-up banner (:mod:`..app`) and ``jupyter colab-bridge url``
print it with :func:`paste_url`, plus the SSH forward (:func:`ssh_forward_hint`)
and, on a JupyterHub, the Hub's URLs (:func:`hub_paste_urls`); the doctor reads
one back with :class:`Target`. Pure string work on URLs and the environment:
no request is made. Both the server side and the user's tools use this module,
and it uses neither (the tools depend on the server side, never the reverse).
"""

from __future__ import annotations

import getpass
import ipaddress
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urljoin, urlsplit, urlunsplit

from .protocol.handshake import AUTH_URL_PARAM, MIN_VERSION_PARAM, PROTOCOL_VERSION

#: A server ``ip`` that means "every address": the URL then names ``localhost``.
WILDCARD_IPS = ("", "0.0.0.0", "::")

#: A JupyterHub single-user server's path: ``<hub base>user/<name>/[<server name>/]``.
_HUB_USER_PATH = re.compile(r"^(/(?:.*/)?)user/([^/]+)/")


def paste_url(secure: bool, ip: str | None, port: Any, base_url: str | None, token: str) -> str:
    """The backend URL to paste into Colab: the one rule for the banner and ``url``.

    A wildcard or empty ``ip`` becomes ``localhost``; ``token`` is what to show
    (the banner passes ``...`` for a configured token).
    """
    ip = ip or "localhost"
    if ip in WILDCARD_IPS:
        ip = "localhost"
    host = f"[{ip}]" if ":" in ip else ip
    url = f"{'https' if secure else 'http'}://{host}:{port}{base_url or '/'}"
    if token:
        url += "?token=" + quote(token, safe="")
    return url


def no_token_lines(password: bool) -> tuple[str, str]:
    """Why Colab cannot use a server that has no token, and how to give it one (two lines).

    ``password``: the server is protected by a password (else it runs without
    authentication). The banner and ``jupyter colab-bridge url`` print these
    instead of a URL to paste.
    """
    if password:
        why = "Colab cannot use this server: it has a password but no token; Colab sends a token."
    else:
        why = "Colab cannot use this server: it has no token (no authentication at all)."
    how = (
        "Restart it with one: JUPYTER_TOKEN=<a long random string> jupyter server "
        "(or c.IdentityProvider.token), then paste its URL with ?token=<it>."
    )
    return why, how


def ssh_forward_hint(
    env: Mapping[str, str],
    port: Any,
    user: str | None = None,
    host: str | None = None,
    listen_ip: str | None = None,
) -> str | None:
    """In an SSH session: the command to run on the laptop to reach ``port`` here.

    ``listen_ip`` is the server's ``ip``: the forward ends at ``localhost``
    unless the server listens on one other address only.

    ``SSH_CONNECTION`` holds "client_ip client_port server_ip server_port";
    the host is its server address (a valid IP only), else this machine's
    name. Colab's page reaches a plain-HTTP server only on ``localhost``, so
    the laptop forwards its own port to this one. None outside SSH, or for a
    value that is not what sshd sets.
    """
    fields = env.get("SSH_CONNECTION", "").split()
    if len(fields) != 4 or not isinstance(port, int):
        return None
    try:
        server_ip = str(ipaddress.ip_address(fields[2]))
    except ValueError:
        return None
    host = host or server_ip or socket.gethostname()
    user = user or getpass.getuser()
    end = "localhost"
    if listen_ip and listen_ip not in (*WILDCARD_IPS, "localhost", "127.0.0.1", "::1"):
        end = f"[{listen_ip}]" if ":" in listen_ip else listen_ip
    return f"ssh -N -L {port}:{end}:{port} {user}@{host}"


def hub_paste_urls(env: Mapping[str, str]) -> tuple[str, str] | None:
    """On a JupyterHub user's server: the URL to paste (before ``?token=``) and the token page.

    Read from the environment JupyterHub's spawner gives the server
    (``JUPYTERHUB_SERVICE_PREFIX``, and the public URLs when the Hub knows
    them); the Hub's host stands as ``https://<your hub>`` otherwise. None
    when this server is not a Hub's.
    """
    prefix = env.get("JUPYTERHUB_SERVICE_PREFIX")
    if not prefix or not env.get("JUPYTERHUB_API_TOKEN"):
        return None
    server_url = env.get("JUPYTERHUB_PUBLIC_URL") or f"https://<your hub>{prefix}"
    hub_url = env.get("JUPYTERHUB_PUBLIC_HUB_URL") or (
        f"https://<your hub>{env.get('JUPYTERHUB_BASE_URL') or '/'}hub/"
    )
    return server_url, urljoin(hub_url if hub_url.endswith("/") else hub_url + "/", "token")


@dataclass(frozen=True)
class Target:
    """A backend URL as a user pastes it into Colab."""

    url: str
    scheme: str
    host: str
    port: int
    base_url: str
    token: str | None

    @classmethod
    def parse(cls, url: str) -> Target:
        """Split a backend URL; ValueError with a user-facing message if unusable."""
        example = "like http://localhost:8888/?token=..."
        try:
            parts = urlsplit(url.strip())
            port = parts.port
        except ValueError:
            raise ValueError(f"{url!r} is not a URL; give the backend URL {example}") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{url!r} is not an http(s) URL; give the backend URL {example}")
        tokens = parse_qs(parts.query).get("token")
        path = parts.path or "/"
        return cls(
            url=url.strip(),
            scheme=parts.scheme,
            host=parts.hostname,
            port=port or (443 if parts.scheme == "https" else 80),
            base_url=path if path.endswith("/") else path + "/",
            token=tokens[0] if tokens else None,
        )

    @property
    def netloc(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def masked_url(self) -> str:
        """The URL with its token shortened, safe to paste into a bug report."""
        if not self.token:
            return self.url
        parts = urlsplit(self.url)
        query = urlencode({"token": self.token[:4] + "..."}, safe=".")
        return urlunsplit(parts._replace(query=query))

    def http_url(self, path: str) -> str:
        return f"{self.scheme}://{self.netloc}{self.base_url}{path}"

    def ws_url(self, path: str, query: dict[str, str] | None = None) -> str:
        scheme = "wss" if self.scheme == "https" else "ws"
        url = f"{scheme}://{self.netloc}{self.base_url}{path}"
        return f"{url}?{urlencode(query)}" if query else url

    def colab_query(self) -> dict[str, str]:
        """The query string Colab's page puts on every bridge socket."""
        return {MIN_VERSION_PARAM: PROTOCOL_VERSION, AUTH_URL_PARAM: self.url}

    @property
    def hub_user(self) -> tuple[str, str] | None:
        """For a Hub user's server (``.../user/<name>/``): the Hub's base path and the name."""
        match = _HUB_USER_PATH.match(self.base_url)
        if match is None:
            return None
        return match.group(1), match.group(2)

    def hub_url(self, path: str) -> str:
        """A URL of the Hub this user's server belongs to (``hub/`` + path)."""
        prefix = self.hub_user[0] if self.hub_user else "/"
        return f"{self.scheme}://{self.netloc}{prefix}hub/{path}"
