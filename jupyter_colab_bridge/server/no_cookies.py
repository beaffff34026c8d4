"""No reply to a page on an allowed origin sets a cookie, on any path of the server.

jupyter_server's identity provider sets its login cookie (30 days, HttpOnly)
on every request it authenticates by a token. A page on an allowed origin
authenticates with the token on each request and socket (docs/protocol.md section
4), so it never needs that cookie; a page that kept it (a same-site origin the
user added, such as ``http://localhost:5173``) would be logged in on a later
visit without the token. So :class:`NoCookiesTransform` drops ``Set-Cookie``
from every reply to a cross-origin request from an allowed origin: the
bridge's handshakes (``http_over_websocket``, ``diagnose``, ``proxied_ws``),
direct mode's requests and anything else, whether direct mode is on or not.
It also drops ``Set-Cookie`` beside ``Access-Control-Allow-Credentials`` on
any cross-origin reply, whatever its origin.

Requests without ``Origin`` (scripts) and the server's own pages (same
origin) are answered as without the bridge.
"""

from __future__ import annotations

from typing import Any, ClassVar

from tornado import httputil, web

from ..protocol.origins import OriginPolicy, is_same_origin


class HeadersWithoutCookies(httputil.HTTPHeaders):
    """Response headers that take no ``Set-Cookie``.

    tornado adds the cookies a handler set after the output transforms ran
    (``RequestHandler.flush``), so a transform cannot remove them; it hands
    back this map instead, which drops them as they are added.
    """

    def add(self, name: str, value: str, *args: Any, **kwargs: Any) -> None:
        if name.lower() != "set-cookie":
            super().add(name, value, *args, **kwargs)

    def __setitem__(self, name: str, value: str) -> None:
        if name.lower() != "set-cookie":
            super().__setitem__(name, value)


def from_allowed_page(request: httputil.HTTPServerRequest, policy: OriginPolicy) -> bool:
    """Whether any ``Origin`` of ``request`` is allowed and not the server's own."""
    return any(
        policy.allows(origin) and not is_same_origin(origin, request.protocol, request.host)
        for origin in request.headers.get_list("Origin")
    )


class NoCookiesTransform(web.OutputTransform):
    """Drops ``Set-Cookie`` on replies to allowed pages (see the module's docstring).

    tornado instantiates a transform with the request alone;
    :func:`no_cookies_transform` makes a subclass bound to the origin policy.
    """

    policy: ClassVar[OriginPolicy]

    def __init__(self, request: httputil.HTTPServerRequest) -> None:
        super().__init__(request)
        self.allowed_page = from_allowed_page(request, self.policy)
        origin = request.headers.get("Origin")
        self.cross_origin = origin is not None and not is_same_origin(
            origin, request.protocol, request.host
        )

    def transform_first_chunk(
        self,
        status_code: int,
        headers: httputil.HTTPHeaders,
        chunk: bytes,
        finishing: bool,
    ) -> tuple[int, httputil.HTTPHeaders, bytes]:
        if self.allowed_page or (
            self.cross_origin and "Access-Control-Allow-Credentials" in headers
        ):
            headers = HeadersWithoutCookies(headers)
        return status_code, headers, chunk


def no_cookies_transform(policy: OriginPolicy) -> type[NoCookiesTransform]:
    """A :class:`NoCookiesTransform` bound to ``policy``, for ``Application.add_transform``."""
    return type("BoundNoCookiesTransform", (NoCookiesTransform,), {"policy": policy})
