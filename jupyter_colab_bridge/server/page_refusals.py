"""Direct mode's 403 to an allowed page says why: a wrong token, or none.

jupyter_server authenticates the request (its identity provider); this module
only reads the verdict. :func:`note_unauthenticated_pages` wraps the
identity provider's ``get_user`` so that, for an allowed page's request
(the front door's verdict, :attr:`.verdict.PageVerdict.direct_from_page`) that
it finds no user for, the request keeps why
(:func:`..protocol.refusals.why_refused`). :class:`RefusalTransform` then, if
the reply is 403, logs one line and puts the reason into the JSON reply. A
request the provider accepts, or whose handler lets it in unauthenticated, is
untouched. The token is never logged.
"""

from __future__ import annotations

import functools
import inspect
import logging
from typing import Any, ClassVar

from tornado import httputil, web

from ..protocol.missing_routes import printable
from ..protocol.refusals import Refusal, refusal_reply, why_refused
from .verdict import verdict_of

_REFUSAL = "_colab_bridge_refusal"


def _note(handler: web.RequestHandler, user: Any) -> None:
    request = handler.request
    verdict = verdict_of(request)
    if user is None and verdict.direct_from_page:
        # credentials as the request arrived, before the gate moved ?token= into a header
        setattr(request, _REFUSAL, why_refused(verdict.credentials.token))


def refusal_line(request: httputil.HTTPServerRequest, origin: str | None, why: str) -> str:
    """The WARNING for a refused page request: method and raw path cut short, never the query."""
    method = printable(request.method or "", 20)
    path = printable(request.path)  # the path only: the query may hold the token
    return f"Colab bridge: refused {method} {path} from {origin}: {why}"


def note_unauthenticated_pages(identity_provider: Any) -> None:
    """Make the identity provider note why an allowed page's request has no user.

    The wrapper answers as the original does: at once if it does, else awaitable.
    """
    original = identity_provider.get_user

    @functools.wraps(original)
    def get_user(handler: web.RequestHandler) -> Any:
        found = original(handler)
        if not inspect.isawaitable(found):
            _note(handler, found)
            return found

        async def noted() -> Any:
            user = await found
            _note(handler, user)
            return user

        return noted()

    identity_provider.get_user = get_user


class RefusalTransform(web.OutputTransform):
    """A 403 to a request noted above: one log line, and the reason in its JSON reply."""

    log: ClassVar[logging.Logger]

    def __init__(self, request: httputil.HTTPServerRequest) -> None:
        super().__init__(request)
        self.request = request

    def transform_first_chunk(
        self,
        status_code: int,
        headers: httputil.HTTPHeaders,
        chunk: bytes,
        finishing: bool,
    ) -> tuple[int, httputil.HTTPHeaders, bytes]:
        refusal: Refusal | None = getattr(self.request, _REFUSAL, None)
        if refusal is None or status_code != 403:
            return status_code, headers, chunk
        if refusal.log is not None:  # a token was sent: none for a request without one
            self.log.warning(
                "%s", refusal_line(self.request, self.request.headers.get("Origin"), refusal.log)
            )
        replaced = refusal_reply(chunk, refusal) if finishing else None
        if replaced is not None:
            chunk = replaced
            if "Content-Length" in headers:
                headers["Content-Length"] = str(len(chunk))
        return status_code, headers, chunk


def refusal_transform(log: logging.Logger) -> type[RefusalTransform]:
    """A :class:`RefusalTransform` logging to ``log``, for ``Application.add_transform``."""
    return type("BoundRefusalTransform", (RefusalTransform,), {"log": log})


def explain_page_refusals(web_app: web.Application, identity_provider: Any, log: Any) -> None:
    """Install both: the note on the identity provider and the transform."""
    note_unauthenticated_pages(identity_provider)
    web_app.add_transform(refusal_transform(log))
