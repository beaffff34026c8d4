"""One WARNING per distinct method and route that a page asks for and this server lacks.

Colab's page changes without notice; a route it starts to use that this
server does not have would otherwise fail silently. Only requests with no
route (jupyter_server's catch-all 404 page) or with a route that has no
such method (405) are reported: a missing file or notebook, answered 404 by
a real route, is not. The query (which may hold the token) is never logged,
and the server's token is masked wherever it would appear in the path, raw
or percent-encoded, before the line is cut.
"""

from __future__ import annotations

import logging
from typing import Any

from jupyter_server.base.handlers import Template404
from tornado import httputil, web

from ..protocol.missing_routes import MAX_REPORTED_ROUTES, missing_route_line, route_template


def why_missing(delegate: httputil.HTTPMessageDelegate, method: str) -> str | None:
    """Why the route found for a request cannot serve it, or None if it can."""
    handler_class = getattr(delegate, "handler_class", None)
    if handler_class is None:
        return None
    if issubclass(handler_class, Template404) or handler_class is web.ErrorHandler:
        return "404: no such route"
    name = method.lower()
    if method.upper() not in handler_class.SUPPORTED_METHODS or getattr(
        handler_class, name, None
    ) is getattr(web.RequestHandler, name, None):
        return "405: the route has no such method"
    return None


class MissingRouteReporter:
    """Logs each distinct missing method and route once, up to a cap per run."""

    def __init__(
        self, base_url: str, token: str, log: logging.Logger, cap: int = MAX_REPORTED_ROUTES
    ) -> None:
        self.base_url = base_url
        self.token = token
        self.log = log
        self.cap = cap
        self.seen: set[tuple[str, str]] = set()
        self.capped = False

    def check(self, request: httputil.HTTPServerRequest, delegate: Any) -> None:
        """Report ``request`` if its route cannot serve it and it was not reported yet."""
        method = request.method or ""
        why = why_missing(delegate, method)
        if why is None:
            return
        route = route_template(request.path, self.base_url, self.token)
        key = (method.upper(), route)
        if key in self.seen:
            return
        if len(self.seen) >= self.cap:
            if not self.capped:
                self.capped = True
                self.log.warning(
                    "Colab bridge: %d missing routes reported; further ones are not logged",
                    self.cap,
                )
            return
        self.seen.add(key)
        self.log.warning("%s", missing_route_line(method.upper(), route, why))
