"""Direct mode's CORS header arithmetic: pure functions over header maps, no I/O.

What a preflight from an allowlisted page is answered, and the headers that
let that page read a credentialed reply (docs/protocol.md section 5). The
tornado side, :mod:`jupyter_colab_bridge.server.direct_mode`, decides which
requests get them.
"""

from __future__ import annotations

import re

from tornado import httputil

#: Seconds a browser may cache a preflight answer (Chromium caps it at 7200).
PREFLIGHT_MAX_AGE = 7200

#: Methods and request headers every preflight answer allows.
ALLOWED_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
ALLOWED_HEADERS = ("Authorization", "Content-Type", "X-XSRFToken")

#: The response headers that make a reply readable by another origin.
CORS_RESPONSE_HEADERS = (
    "Access-Control-Allow-Origin",
    "Access-Control-Allow-Credentials",
    "Access-Control-Expose-Headers",
)

# RFC 9110 token: a method or a header field name.
_HTTP_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


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


def merged_tokens(defaults: tuple[str, ...], requested: str) -> str:
    """``defaults`` plus each requested name that is a valid token, no repeats."""
    out = list(defaults)
    seen = {d.lower() for d in defaults}
    for name in (n.strip() for n in requested.split(",")):
        if name and _HTTP_TOKEN.fullmatch(name) and name.lower() not in seen:
            seen.add(name.lower())
            out.append(name)
    return ", ".join(out)


def preflight_headers(request_headers: httputil.HTTPHeaders, origin: str) -> httputil.HTTPHeaders:
    """The answer to a preflight from an allowlisted ``origin``."""
    headers = httputil.HTTPHeaders()
    allow_credentials(headers, origin)
    headers["Access-Control-Allow-Methods"] = merged_tokens(
        ALLOWED_METHODS, request_headers.get("Access-Control-Request-Method", "")
    )
    headers["Access-Control-Allow-Headers"] = merged_tokens(
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
