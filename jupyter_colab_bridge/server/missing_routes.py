"""One WARNING per distinct method and route that a page asks for and this server lacks.

Colab's page changes without notice; a route it starts to use that this
server does not have would otherwise fail silently. Only requests with no
route (jupyter_server's catch-all 404 page) or with a route that has no
such method (405) are reported: a missing file or notebook, answered 404 by
a real route, is not. The query (which may hold the token) is never logged,
and the server's token is masked wherever it would appear in the path, raw
or percent-encoded, before the line is cut.

The reporter runs when tornado logs a finished request (the application's
``log_function``, :func:`report_after_logging`), with the handler that
served it: it reports and counts only requests of an allowed page
(:mod:`.verdict`) that jupyter_server authenticated, so that no anonymous
client can write these lines or fill their cap.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

from jupyter_server.base.handlers import Template404
from tornado import httputil, web
from tornado.log import access_log

from ..protocol.missing_routes import MAX_REPORTED_ROUTES, missing_route_line, route_template
from .verdict import verdict_of


def why_missing(handler_class: type[web.RequestHandler], method: str) -> str | None:
    """Why the route found for a request cannot serve it, or None if it can."""
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

    def after_request(self, handler: web.RequestHandler) -> None:
        """Report an allowed page's authenticated request whose route could not serve it."""
        if verdict_of(handler.request).from_allowed_page and authenticated(handler):
            self.check(handler.request, type(handler))

    def check(
        self, request: httputil.HTTPServerRequest, handler_class: type[web.RequestHandler]
    ) -> None:
        """Report ``request`` if its route cannot serve it and it was not reported yet."""
        method = request.method or ""
        why = why_missing(handler_class, method)
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


def authenticated(handler: web.RequestHandler) -> bool:
    """Whether jupyter_server found a user for the request ``handler`` served."""
    try:
        return bool(handler.current_user)
    except RuntimeError:  # jupyter_server: its prepare never asked (a refusal before it)
        return False


def report_after_logging(settings: dict[str, Any], reporter: MissingRouteReporter) -> None:
    """Give ``reporter`` each finished request, after the application's own access log line.

    ``settings`` are the application's (or an extension's, which jupyter_server
    copies into the application's once its ``initialize_settings`` returns).
    """
    log_request: Callable[[web.RequestHandler], None] | None = settings.get("log_function")

    def log_function(handler: web.RequestHandler) -> None:
        if log_request is not None:
            log_request(handler)
        else:  # tornado's own line, as Application.log_request writes it without a log_function
            access_log.info(
                "%d %s %s %.2fms",
                handler.get_status(),
                handler.request.method,
                handler.request.uri,
                1000.0 * handler.request.request_time(),
            )
        reporter.after_request(handler)

    settings["log_function"] = log_function
