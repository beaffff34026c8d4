"""The port proxy's rules, ``{base_url}_proxy/<port>/<path>``: pure functions, no I/O.

What a request may name (a port, a path), which ports a server allows
(``ColabBridge.port_proxy_ports``), and which headers travel each way. The
handler, :mod:`jupyter_colab_bridge.server.port_proxy`, does the I/O.
Everything here is judged on the raw path, the one tornado routes, and only
after jupyter_server has authenticated the request.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from tornado import httputil

#: The proxy's path segment under ``base_url`` (Colab's runtime serves ``/_proxy/<port>/``).
PROXY_PREFIX = "_proxy"

#: The default of ``ColabBridge.port_proxy_ports``: every unprivileged port.
DEFAULT_PORTS = "1024-65535"

_HIGHEST_PORT = 65535
_MAX_PATH_LENGTH = 8192
_FORBIDDEN_RAW = re.compile(r"[\x00-\x20\x7f\\]")
# Percent-encoded '/' or '\': a target that decodes its path would see other segments.
_ENCODED_SEPARATOR = re.compile(r"%(2f|5c)", re.IGNORECASE)
_PORT_RANGE = re.compile(r"([0-9]{1,5})(?:-([0-9]{1,5}))?")

#: Request headers that belong to one hop, or to this server, never sent to the target.
#: ``Authorization`` and ``?token=`` carry the Jupyter server's token.
_DROPPED_REQUEST_HEADERS = frozenset(
    {
        "authorization",
        "connection",
        "expect",  # this server answers 100-continue itself
        "keep-alive",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        # the WebSocket handshake's own headers: the client library writes its own
        "sec-websocket-key",
        "sec-websocket-version",
        "sec-websocket-extensions",
        "sec-websocket-protocol",
    }
)
#: Reply headers that belong to one hop, never relayed to the client.
_DROPPED_REPLY_HEADERS = frozenset(
    {"connection", "keep-alive", "proxy-authenticate", "trailer", "transfer-encoding", "upgrade"}
)


class ProxyRequestError(ValueError):
    """A proxy request refused with ``status``; its message is safe to show the client."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class PortRangeError(ValueError):
    """An invalid ``ColabBridge.port_proxy_ports`` setting."""


@dataclass(frozen=True)
class PortRanges:
    """The ports the proxy may reach, as inclusive ranges."""

    ranges: tuple[tuple[int, int], ...]

    def __contains__(self, port: object) -> bool:
        return isinstance(port, int) and any(lo <= port <= hi for lo, hi in self.ranges)

    def describe(self) -> str:
        """The setting's canonical text, e.g. ``6006,7860-7870``."""
        return ",".join(str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in self.ranges)


def parse_port_ranges(spec: str) -> PortRanges:
    """``"6006,7860-7870"`` as :class:`PortRanges`; :class:`PortRangeError` if invalid."""
    ranges: list[tuple[int, int]] = []
    for part in (p.strip() for p in spec.split(",")):
        match = _PORT_RANGE.fullmatch(part)
        if match is None:
            raise PortRangeError(
                f"{part!r} is not a port or a range of ports like 6006 or 7860-7870"
            )
        lo = int(match.group(1))
        hi = int(match.group(2) or lo)
        if not 1 <= lo <= hi <= _HIGHEST_PORT:
            raise PortRangeError(f"{part!r}: ports run from 1 to {_HIGHEST_PORT}, low to high")
        ranges.append((lo, hi))
    return PortRanges(tuple(sorted(ranges)))


@dataclass(frozen=True)
class ProxyTarget:
    """Where one request goes: a loopback ``port`` and the raw ``path`` there (no query)."""

    port: int
    path: str


def parse_target(relative: str) -> ProxyTarget:
    """The target of ``<port>/<path>``, the raw path after ``{base_url}_proxy/``.

    ``<port>`` is 1 to 5 digits naming 1 to 65535. ``<path>`` stays raw
    (percent-encoded as the client sent it) and keeps its leading ``/``; ``6006``
    alone names ``/``. Refused with 400: control characters, whitespace or a
    backslash, percent-encoded ``/`` or ``\\``, and dot segments, raw or
    encoded (``..``, ``%2e%2E``).
    """
    port_text, slash, rest = relative.partition("/")
    if not port_text.isascii() or not port_text.isdigit() or len(port_text) > 5:
        raise ProxyRequestError(400, "The port must be a number from 1 to 65535: _proxy/<port>/.")
    port = int(port_text)
    if not 1 <= port <= _HIGHEST_PORT:
        raise ProxyRequestError(400, "The port must be a number from 1 to 65535: _proxy/<port>/.")
    path = slash + rest or "/"
    if len(path) > _MAX_PATH_LENGTH:
        raise ProxyRequestError(400, "The proxied path is too long.")
    if _FORBIDDEN_RAW.search(path) or _ENCODED_SEPARATOR.search(path):
        raise ProxyRequestError(
            400, "The proxied path must not contain whitespace, a backslash or an encoded '/'."
        )
    try:
        segments = [unquote(s, errors="strict") for s in path.split("/")]
    except UnicodeDecodeError:
        raise ProxyRequestError(
            400, "The proxied path is not valid percent-encoded UTF-8."
        ) from None
    if any(s in (".", "..") for s in segments):
        raise ProxyRequestError(400, "The proxied path must not contain '.' or '..' segments.")
    return ProxyTarget(port, path)


def check_port(port: int, allowed: PortRanges, own_ports: set[int]) -> None:
    """Refuse (403) the server's own ports and ports outside ``allowed``."""
    if port in own_ports:
        raise ProxyRequestError(
            403, f"Port {port} is this Jupyter server's own port, which the proxy never reaches."
        )
    if port not in allowed:
        raise ProxyRequestError(
            403,
            f"Port {port} is not allowed (ColabBridge.port_proxy_ports = {allowed.describe()!r}).",
        )


def upstream_headers(
    headers: httputil.HTTPHeaders, port: int, server_cookies: set[str]
) -> httputil.HTTPHeaders:
    """The request's headers as the target gets them.

    Without hop-by-hop headers and the server's credentials (``Authorization``,
    and the cookies named in ``server_cookies``: its login cookie and
    ``_xsrf``); ``Host`` names the target.
    """
    out = httputil.HTTPHeaders()
    for name, value in headers.get_all():
        lowered = name.lower()
        if lowered in _DROPPED_REQUEST_HEADERS:
            continue
        if lowered == "cookie":
            value = cookies_without(value, server_cookies)
            if not value:
                continue
        out.add(name, value)
    out["Host"] = f"127.0.0.1:{port}"
    return out


def cookies_without(header: str, names: set[str]) -> str:
    """A ``Cookie`` header without the cookies called ``names``."""
    kept = [
        part.strip()
        for part in header.split(";")
        if part.strip() and part.split("=", 1)[0].strip() not in names
    ]
    return "; ".join(kept)


def relayed_reply_header(name: str) -> bool:
    """Whether a target's reply header goes on to the client."""
    return name.lower() not in _DROPPED_REPLY_HEADERS


def rewrite_location(location: str, port: int, prefix: str) -> str:
    """A redirect's ``Location`` as the client must follow it, through the proxy.

    ``prefix`` is ``{base_url}_proxy/<port>``. A path on the target
    (``/login``) or an absolute URL naming the target (``http://127.0.0.1:<port>/x``
    or ``localhost``) gets the prefix; anything else stays as it is.
    """
    if location.startswith("/") and not location.startswith("//"):
        return prefix + location
    try:
        parts = urlsplit(location)
        target_port = parts.port
    except ValueError:
        return location
    if (
        parts.scheme in ("http", "https")
        and parts.hostname in ("127.0.0.1", "localhost", "::1")
        and target_port == port
    ):
        query = f"?{parts.query}" if parts.query else ""
        fragment = f"#{parts.fragment}" if parts.fragment else ""
        return f"{prefix}{parts.path or '/'}{query}{fragment}"
    return location
