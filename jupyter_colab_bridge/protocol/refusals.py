"""Why a page's request was refused: the reason direct mode's 403 says (docs/protocol.md 5.1).

Through the tunnel a refused token gets a log line that says why; a direct-mode
request (``GET api/...?token=``) got jupyter_server's bare ``{"message":
"Forbidden", "reason": null}``. When the server's identity provider finds no
user for an allowed page's request and the reply is 403, the reply and the
log say which of these it was. The token sent is never part of either.
Pure: the hook that calls this is :mod:`..server.page_refusals`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

#: How the page gets a URL with the right token.
_PASTE = (
    "paste the URL that `jupyter colab-bridge url` or the server's start-up banner prints, "
    "token included, into Colab"
)


@dataclass(frozen=True)
class Refusal:
    """One kind of refused page request: the JSON ``reason``, the reply's message, the log's.

    ``log`` is None for a refusal the bridge does not log: a request with no
    credential at all is anyone's, and nothing an anonymous client sends may
    write the bridge's lines (jupyter_server logs its own 403 line); the page
    still reads why in the reply.
    """

    reason: str
    message: str
    log: str | None


WRONG_TOKEN = Refusal(
    "invalid token",
    "This server does not accept the token sent (wrong, or from an earlier run: a generated "
    f"token changes each time the server starts): {_PASTE}.",
    f"the token it sent is not accepted (wrong, or from an earlier run of the server); {_PASTE}",
)
NO_TOKEN = Refusal(
    "no token",
    f"The request carried no token, and this server needs one: {_PASTE}.",
    None,
)


def why_refused(sent_token: bool) -> Refusal:
    """Why the identity provider found no user: ``sent_token`` it did not accept, or none."""
    return WRONG_TOKEN if sent_token else NO_TOKEN


def refusal_reply(body: bytes, refusal: Refusal) -> bytes | None:
    """jupyter_server's JSON error ``body`` with the refusal's message and reason; None if not one.

    Other fields of the reply are kept; a body that is not a JSON object is
    left alone (None).
    """
    try:
        reply = json.loads(body)
    except ValueError:
        return None
    if not isinstance(reply, dict):
        return None
    reply["message"] = refusal.message
    reply["reason"] = refusal.reason
    return json.dumps(reply).encode("utf-8")
