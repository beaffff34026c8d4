"""Pure checks of the paths a page may reach through the bridge.

A request frame's ``path`` is an absolute path (plus query) on this server,
``base_url`` included. Anything that could name another host, leave
``base_url``, smuggle a second request line or loop back into the bridge
itself is refused before any handler sees it.
"""

from __future__ import annotations

import posixpath
import re
from urllib.parse import unquote

#: The bridge's own endpoint, relative to ``base_url``.
BRIDGE_PREFIX = "http_over_websocket"

#: Colab's terminal and language server sockets, relative to ``base_url`` (as its runtime).
TERMINAL_PATH = "colab/tty"
LANGUAGE_SERVER_PATH = "colab/lsp"

# Control characters, whitespace, and characters that must never appear raw in
# a request target that the bridge builds.
_FORBIDDEN_RAW = re.compile(r"[\x00-\x20\x7f\\]")
# Once percent-decoded, a space is a legitimate file name character.
_FORBIDDEN_DECODED = re.compile(r"[\x00-\x1f\x7f\\]")
_MAX_PATH_LENGTH = 8192


class PathError(ValueError):
    """A path the bridge refuses to request; its message is safe to show."""


def _normalized(path: str) -> str:
    """The percent-decoded, dot-segment-resolved form of a path (no query)."""
    decoded = unquote(path, errors="strict")
    if _FORBIDDEN_DECODED.search(decoded):
        raise PathError("path contains an encoded control character or backslash")
    normalized = posixpath.normpath(decoded)
    if normalized.startswith("//"):
        normalized = "/" + normalized.lstrip("/")
    if decoded.endswith("/") and not normalized.endswith("/"):
        normalized += "/"
    return normalized


def check_request_path(path: str, base_url: str) -> str:
    """Return ``path`` if a request frame may ask for it, else raise :class:`PathError`.

    ``base_url`` is the server's ``base_url`` as configured (starting and
    ending with ``/``, possibly percent-encoded like ``/a%40b/``).
    """
    if len(path) > _MAX_PATH_LENGTH:
        raise PathError("path is too long")
    if _FORBIDDEN_RAW.search(path):
        raise PathError("path contains a control character, whitespace or backslash")
    if not path.startswith("/") or path.startswith("//"):
        raise PathError("path must be an absolute path on this server, like /api/status")
    route, _, _query = path.partition("?")
    if "@" in route or "#" in path:
        raise PathError("path must not contain '@' or '#' (percent-encode them)")
    if not route.startswith(base_url):
        raise PathError(f"path must start with the server's base_url {base_url}")
    try:
        normalized = _normalized(route)
        base = _normalized(base_url)
    except UnicodeDecodeError:
        raise PathError("path is not valid percent-encoded UTF-8") from None
    if not normalized.startswith(base):
        raise PathError(f"path leaves the server's base_url {base_url}")
    relative = normalized[len(base) :]
    if relative == BRIDGE_PREFIX or relative.startswith(BRIDGE_PREFIX + "/"):
        raise PathError("the bridge's own endpoints cannot be requested through it")
    return path


#: What Colab's page fetches directly, relative to ``base_url``: the REST API,
#: files and the port proxy (``_proxy/<port>/``, a notebook's web app). Only these
#: get CORS headers; HTML pages (``login``, ``tree``, ``lab``...) never do.
CORS_PREFIXES = ("api/", "files/", "_proxy/")


def in_cors_scope(path: str, base_url: str) -> bool:
    """Whether a request path (no query) is under ``base_url``'s API or files.

    Judged on the raw path, the one tornado routes: it must itself start with
    ``base_url`` and ``api/`` or ``files/``. A browser sends ``..%2F`` as it is
    (it is no dot segment), so ``lab/tree/..%2F..%2Fapi/x`` is JupyterLab's page
    and stays out of scope, however it decodes. The percent-decoded,
    dot-segment-resolved path must be in scope too, so that ``api/../login``
    counts as ``login``.
    """
    if not path.startswith(base_url) or not path[len(base_url) :].startswith(CORS_PREFIXES):
        return False
    try:
        normalized = _normalized(path)
        base = _normalized(base_url)
    except (PathError, UnicodeDecodeError):
        return False
    if not normalized.startswith(base):
        return False
    return normalized[len(base) :].startswith(CORS_PREFIXES)


def check_proxied_path(relative: str) -> str:
    """Check the raw ``<path>`` of ``proxied_ws/<path>`` (relative to ``base_url``)."""
    if (
        not relative
        or len(relative) > _MAX_PATH_LENGTH
        or _FORBIDDEN_RAW.search(relative)
        or any(c in relative for c in "@#?")
    ):
        raise PathError("invalid proxied path")
    try:
        decoded = unquote(relative, errors="strict")
    except UnicodeDecodeError:
        raise PathError("invalid proxied path") from None
    if _FORBIDDEN_DECODED.search(decoded):
        raise PathError("invalid proxied path")
    segments = decoded.split("/")
    if any(s in ("", ".", "..") for s in segments[:-1]) or segments[-1] in (".", ".."):
        raise PathError("invalid proxied path")
    if segments[0] == BRIDGE_PREFIX:
        raise PathError("the bridge's own endpoints cannot be proxied")
    return relative


def query_without(query: str, name: str) -> str:
    """``query`` (no ``?``) without its ``name`` parameters; the rest byte for byte.

    A parameter's name is compared percent-decoded (``%74oken`` is ``token``).
    """
    kept = []
    for part in query.split("&"):
        key = part.partition("=")[0].replace("+", " ")
        if unquote(key, errors="replace") != name:
            kept.append(part)
    return "&".join(kept)
