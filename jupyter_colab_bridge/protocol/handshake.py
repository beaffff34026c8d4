"""What is agreed at the handshake: query parameters, versions, the diagnose reply.

docs/protocol.md sections 1 (``min_version``) and 2 (``diagnose``). Pure functions.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

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


def min_version_problem(min_version: str | None) -> str | None:
    """The close reason for a ``min_version`` query value, or None if it is fine."""
    if min_version is None:
        return None
    try:
        requested = parse_version(min_version)
    except ValueError:
        return f'Invalid "min_version" provided: {min_version}'
    if requested > parse_version(PROTOCOL_VERSION):
        return (
            f"Requested version ({min_version}) > Current version ({PROTOCOL_VERSION}). "
            "Please upgrade this package."
        )
    return None


def is_outdated(min_version: str | None) -> bool:
    """Whether the page asks for a newer protocol than ours (diagnose reply)."""
    if min_version is None:
        return False
    try:
        return parse_version(min_version) > parse_version(PROTOCOL_VERSION)
    except ValueError:
        return False


#: The longest frame text echoed back by ``diagnose`` (Colab's ids are short).
MAX_DIAGNOSE_ECHO = 256


def diagnose_frame(message: str, has_xsrf_cookie: bool, min_version: str | None) -> str:
    """The diagnose endpoint's answer to one frame (docs/protocol.md section 2).

    The frame is echoed as ``message_id``, cut to :data:`MAX_DIAGNOSE_ECHO`
    characters so that an unauthenticated page cannot make the answer large.
    """
    return json.dumps(
        {
            "message_id": message[:MAX_DIAGNOSE_ECHO],
            "extension_version": PROTOCOL_VERSION,
            "has_authentication_cookie": has_xsrf_cookie,
            "is_outdated_extension": is_outdated(min_version),
        }
    )


def is_upgrade(headers: Mapping[str, str]) -> bool:
    """Whether a request's headers ask for a WebSocket upgrade."""
    return headers.get("Upgrade", "").lower() == "websocket"
