"""What is agreed at the handshake: query parameters, versions, the diagnose reply.

docs/protocol.md sections 1 (``min_version``) and 2 (``diagnose``). Pure functions.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from packaging.version import InvalidVersion, Version

#: The protocol version this bridge speaks. Colab's page asks for
#: ``min_version=0.0.7``, the version of the original ``jupyter_http_over_ws``.
PROTOCOL_VERSION = "0.0.7"

AUTH_URL_PARAM = "jupyter_http_over_ws_auth_url"
MIN_VERSION_PARAM = "min_version"

#: The close code for an unusable ``min_version`` (an HTTP number, as the original).
CLOSE_BAD_REQUEST = 400


def parse_version(text: str) -> Version:
    """Parse a dotted version (PEP 440); raise ``ValueError`` if it is not one."""
    try:
        return Version(text)
    except InvalidVersion as e:
        raise ValueError(text) from e


#: The longest ``min_version`` accepted. Versions Colab sends are about 7
#: characters; this bound keeps parsing (done once per socket) cheap and the
#: close reason, which quotes the value, within a close frame.
MAX_MIN_VERSION_CHARS = 64

#: The longest close reason, in bytes of UTF-8: a close frame's payload is at
#: most 125 bytes, 2 of them the code (RFC 6455 section 5.5). A longer one
#: makes the browser fail the connection, and the page sees only 1006.
MAX_CLOSE_REASON_BYTES = 123


@dataclass(frozen=True)
class MinVersion:
    """What a socket's ``min_version`` says, read once when the socket opens.

    ``problem`` is the close reason when the value is unusable (the tunnel and
    diagnose close with it); ``outdated`` whether the page asks for a newer
    protocol than ours (the tunnel closes; diagnose answers with it).
    """

    problem: str | None = None
    outdated: bool = False


def close_reason(text: str) -> str:
    """``text`` as a close reason: printable ASCII, cut to :data:`MAX_CLOSE_REASON_BYTES`."""
    safe = "".join(c if " " <= c < "\x7f" else ascii(c)[1:-1] for c in text)
    if len(safe) <= MAX_CLOSE_REASON_BYTES:
        return safe
    return safe[: MAX_CLOSE_REASON_BYTES - 3] + "..."


def read_min_version(values: Sequence[bytes | str]) -> MinVersion:
    """Judge the ``min_version`` values of a handshake's query (none, one, or more).

    More than one value, a value longer than :data:`MAX_MIN_VERSION_CHARS`
    characters, or one that is not a version is a ``problem``; the length is
    checked before anything is parsed.
    """
    if not values:
        return MinVersion()
    if len(values) > 1:
        return MinVersion(problem='Invalid "min_version" provided: given more than once')
    raw = values[0]
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    if len(text) > MAX_MIN_VERSION_CHARS:
        return MinVersion(
            problem=f'Invalid "min_version" provided: too long ({len(text)} characters; '
            f"at most {MAX_MIN_VERSION_CHARS})"
        )
    try:
        requested = parse_version(text)
    except ValueError:
        return MinVersion(problem=close_reason(f'Invalid "min_version" provided: {text}'))
    if requested > parse_version(PROTOCOL_VERSION):
        return MinVersion(
            problem=close_reason(
                f"Requested version ({text}) > Current version ({PROTOCOL_VERSION}). "
                "Please upgrade this package."
            ),
            outdated=True,
        )
    return MinVersion()


def min_version_problem(min_version: str | None) -> str | None:
    """The close reason for one ``min_version`` query value, or None if it is fine."""
    return None if min_version is None else read_min_version([min_version]).problem


def is_outdated(min_version: str | None) -> bool:
    """Whether the page asks for a newer protocol than ours (diagnose reply)."""
    return min_version is not None and read_min_version([min_version]).outdated


#: The longest frame text echoed back by ``diagnose`` (Colab's ids are short).
MAX_DIAGNOSE_ECHO = 256


def diagnose_frame(message: str, has_xsrf_cookie: bool, outdated: bool) -> str:
    """The diagnose endpoint's answer to one frame (docs/protocol.md section 2).

    The frame is echoed as ``message_id``, cut to :data:`MAX_DIAGNOSE_ECHO`
    characters so that an unauthenticated page cannot make the answer large.
    ``has_xsrf_cookie`` and ``outdated`` were read once, when the socket
    opened: a frame costs the same whatever the handshake carried.
    """
    return json.dumps(
        {
            "message_id": message[:MAX_DIAGNOSE_ECHO],
            "extension_version": PROTOCOL_VERSION,
            "has_authentication_cookie": has_xsrf_cookie,
            "is_outdated_extension": outdated,
        }
    )


def is_upgrade(headers: Mapping[str, str]) -> bool:
    """Whether a request's headers ask for a WebSocket upgrade."""
    return headers.get("Upgrade", "").lower() == "websocket"
