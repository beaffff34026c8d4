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

from typing import Any

from tornado import httputil, web

from .verdict import verdict_of


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


class NoCookiesTransform(web.OutputTransform):
    """Drops ``Set-Cookie`` on replies to allowed pages (see the module's docstring).

    It reads the front door's verdict of the request (:mod:`.verdict`).
    """

    def __init__(self, request: httputil.HTTPServerRequest) -> None:
        super().__init__(request)
        verdict = verdict_of(request)
        self.allowed_page = verdict.from_allowed_page
        self.cross_origin = verdict.cross_origin

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
