"""How a page's request for a route this server lacks is named in the log.

Pure code: the route template of a path (ids folded), made safe to log.
"""

from __future__ import annotations

import re

#: Distinct routes logged per run; one last line says that further ones are not.
MAX_REPORTED_ROUTES = 50

#: Longest route text written to the log.
MAX_ROUTE_CHARS = 200

# A path segment that is an id rather than a route's name: a number, a UUID
# or a long hex/base64-like string.
_ID_SEGMENT = re.compile(r"\d+|[0-9a-fA-F-]{8,}|[A-Za-z0-9_-]{24,}")


#: What a masked secret is logged as.
MASK = "<token>"


def secret_pattern(secret: str) -> re.Pattern[str]:
    """Matches ``secret`` in a raw path however each character is written.

    As itself, or percent-encoded (``%73``, in either case of hex digit, each
    byte of a multi-byte character), or percent-encoded twice (``%2573``),
    mixed freely: a path is decoded once by the server, and a client may
    encode any character. A fixed sequence of alternatives: no repetition,
    so matching is linear in the path.
    """
    parts = []
    for char in secret:
        encoded = "".join(
            "(?:%|%25)" + "".join(f"[{d.upper()}{d.lower()}]" for d in f"{byte:02x}")
            for byte in char.encode("utf-8")
        )
        parts.append(f"(?:{re.escape(char)}|{encoded})")
    return re.compile("".join(parts))


def mask_secret(text: str, secret: str) -> str:
    """``text`` with every occurrence of ``secret``, in any encoding, replaced by :data:`MASK`."""
    return secret_pattern(secret).sub(MASK, text) if secret else text


def route_template(path: str, base_url: str, secret: str = "") -> str:
    """``path`` relative to ``base_url``, ``secret`` masked, id-like segments shown as ``<id>``.

    The secret is masked first, on the whole raw path: before the folding of
    ids (which could split it) and before the cut to :data:`MAX_ROUTE_CHARS`
    (which could leave a part of it).
    """
    rel = path[len(base_url) :] if path.startswith(base_url) else path
    rel = mask_secret(rel, secret)
    segments = ["<id>" if _ID_SEGMENT.fullmatch(s) else s for s in rel.split("/")]
    return printable("/".join(segments))


def printable(text: str, limit: int = MAX_ROUTE_CHARS) -> str:
    """``text`` with anything but printable ASCII escaped, cut at ``limit`` characters."""
    safe = "".join(c if " " < c < "\x7f" else ascii(c)[1:-1] for c in text)
    return safe if len(safe) <= limit else safe[:limit] + "..."


def missing_route_line(method: str, route: str, why: str) -> str:
    """The WARNING line for one distinct method and route."""
    return (
        f"Colab bridge: Colab's page asked for {printable(method, 20)} {route}, which this "
        f"server does not serve ({why}). If a Colab feature fails on this runtime, "
        "this line is what to report (jupyter_colab_bridge's issue tracker)."
    )
