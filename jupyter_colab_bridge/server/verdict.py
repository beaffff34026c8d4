"""One verdict per request: does it come from an allowed page, from which origin, with what.

The front door (:mod:`.front_door`) judges every request once, as it
arrives, and records a :class:`PageVerdict` for it; everything after reads
that record and never looks at the ``Origin`` again: the bridge's WebSocket
handshakes (:mod:`.base`), direct mode's gate, CORS and origin check
(:mod:`.direct_mode`), :mod:`.no_cookies`, the kernel map and the
missing-route reporter. A tunnelled request gets its record from its tunnel
(:func:`tunnelled`), in the same type. :func:`judge` is the one place of
``server/`` that asks the origin policy.

The rule: a request comes from an allowed page when it carries exactly one
``Origin`` header, that origin is on the allowlist, and it is not the
server's own origin (the server's own pages, JupyterLab, are not "a page").
"""

from __future__ import annotations

import dataclasses
import weakref
from dataclasses import dataclass

from tornado import httputil

from ..protocol.origins import OriginPolicy, is_same_origin
from .credentials import query_token


@dataclass(frozen=True)
class Credentials:
    """What a request carries that could authenticate it, as it arrived."""

    authorization: bool = False
    query_token: bool = False
    cookie: bool = False

    @property
    def token(self) -> bool:
        """A token: ``Authorization``, or one ``?token=``."""
        return self.authorization or self.query_token


@dataclass(frozen=True)
class PageVerdict:
    """The front door's record of one request (see the module's docstring)."""

    #: The request's one ``Origin``; None when it has none or several.
    origin: str | None = None
    #: How many ``Origin`` headers it carried.
    origin_headers: int = 0
    #: ``origin`` is on the allowlist.
    allowed: bool = False
    #: ``origin`` is the server's own.
    same_origin: bool = False
    credentials: Credentials = Credentials()
    #: It came through a bridge socket (its record is the socket's).
    tunnelled: bool = False

    @property
    def from_allowed_page(self) -> bool:
        """Exactly one ``Origin``, allowed, and not the server's own."""
        return self.origin is not None and self.allowed and not self.same_origin

    @property
    def cross_origin(self) -> bool:
        """Some ``Origin`` other than the server's own (several count as cross-origin)."""
        return self.origin_headers > 0 and not self.same_origin

    @property
    def direct_from_page(self) -> bool:
        """From an allowed page, straight to the server (direct mode's requests)."""
        return self.from_allowed_page and not self.tunnelled


#: The record of a request the front door never saw: no origin, no page.
NOT_JUDGED = PageVerdict()


def judge(request: httputil.HTTPServerRequest, policy: OriginPolicy) -> PageVerdict:
    """The verdict of a request that arrived on the server's own socket."""
    origins = request.headers.get_list("Origin")
    origin = origins[0] if len(origins) == 1 else None
    credentials = Credentials(
        authorization="Authorization" in request.headers,
        query_token=query_token(request) is not None,
        cookie="Cookie" in request.headers,
    )
    if origin is None:
        return PageVerdict(None, len(origins), credentials=credentials)
    return PageVerdict(
        origin,
        1,
        allowed=policy.allows(origin),  # the one call of the policy in server/
        same_origin=is_same_origin(origin, request.protocol, request.host),
        credentials=credentials,
    )


def tunnelled(handshake: PageVerdict, forwarded: dict[str, str]) -> PageVerdict:
    """The record of a bridge socket's requests: its handshake's, with what it forwards."""
    return dataclasses.replace(
        handshake,
        credentials=Credentials(
            authorization="Authorization" in forwarded, cookie="Cookie" in forwarded
        ),
        tunnelled=True,
    )


_VERDICTS: weakref.WeakKeyDictionary[httputil.HTTPServerRequest, PageVerdict] = (
    weakref.WeakKeyDictionary()
)


def record(request: httputil.HTTPServerRequest, verdict: PageVerdict) -> None:
    """Keep ``verdict`` for as long as ``request`` lives (the front door's job)."""
    _VERDICTS[request] = verdict


def verdict_of(request: httputil.HTTPServerRequest) -> PageVerdict:
    """The front door's record of ``request``; :data:`NOT_JUDGED` if it never passed it."""
    return _VERDICTS.get(request, NOT_JUDGED)
