"""Requests that come from an allowed page, either way in, and what is done for them.

A tunnelled request comes from an allowed page when its socket had an
``Origin`` (every bridge socket passed the origin check; one without is a
script): the tunnel marks its connection. A direct request is marked by
direct mode's gate once it has judged its origin. :class:`PageRequestRouter`
(one rule, just after the gate) then finds the route the rest of the router
would, reports a route the server lacks (:mod:`.missing_routes`) and applies
the kernel map (:mod:`.kernel_map`). Requests from anyone else meet
jupyter_server exactly as without the bridge.
"""

from __future__ import annotations

from typing import Any

from tornado import httputil, web
from tornado.routing import Router

from ..protocol.kernel_map import request_kind
from .kernel_map import KernelMapDelegate, KernelMapper
from .missing_routes import MissingRouteReporter

_FROM_PAGE = "_colab_bridge_from_page"
_ROUTED = "_colab_bridge_routed"


def mark_from_page(obj: object) -> None:
    """Mark a request (direct mode) or a tunnel connection as an allowed page's."""
    setattr(obj, _FROM_PAGE, True)


def is_from_page(request: httputil.HTTPServerRequest) -> bool:
    """Whether ``request``, or the tunnel connection it came on, is an allowed page's."""
    return bool(
        getattr(request, _FROM_PAGE, False) or getattr(request.connection, _FROM_PAGE, False)
    )


class PageRequestRouter(Router):
    """Routes an allowed page's request as usual, reporting and rewriting on the way."""

    def __init__(
        self,
        application: web.Application,
        mapper: KernelMapper,
        reporter: MissingRouteReporter,
    ) -> None:
        self.application = application
        self.mapper = mapper
        self.reporter = reporter

    def find_handler(
        self, request: httputil.HTTPServerRequest, **kwargs: Any
    ) -> httputil.HTTPMessageDelegate | None:
        """None for others' requests; else the usual route's delegate, maybe wrapped."""
        if getattr(request, _ROUTED, False) or not is_from_page(request):
            return None
        setattr(request, _ROUTED, True)  # the lookup below passes this rule again
        downstream = self.application.find_handler(request)
        self.reporter.check(request, downstream)
        kind = request_kind(request.method or "", request.path, self.mapper.base_url)
        if kind is None or not self.mapper.kernel_map:
            return downstream
        return KernelMapDelegate(self.mapper, request, kind, downstream)
