"""Bounded fuzzing (hypothesis) of the path check, method tokens and the auth URL parser.

The path fuzzer routes every accepted path with the server's own router: none
reaches a bridge handler or leaves base_url.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jupyter_colab_bridge.protocol.auth_url import AuthUrlError, split_host, token_from_auth_url
from jupyter_colab_bridge.protocol.frames import FrameError, parse_request_frame
from jupyter_colab_bridge.protocol.paths import PathError, check_request_path
from jupyter_colab_bridge.server.handlers import DiagnoseHandler, HttpOverWebSocketHandler
from jupyter_colab_bridge.server.kernel_channels import KernelChannelsHandler
from jupyter_colab_bridge.server.proxied_ws import ProxiedWebSocketHandler
from tests.helpers.cases import (
    SECRET,
    SECRET_CORE,
)


@pytest.fixture
def token() -> str:
    """The server's token: one whose URL-encoded forms differ from the raw one."""
    return SECRET


_PIECES = [
    "a",
    "api",
    "status",
    ".",
    "..",
    "%2e",
    "%2E",
    "%2e%2e",
    "%2f",
    "%2F",
    "%5c",
    "%5C",
    "%00",
    "%0a",
    "%40",
    "@",
    "/",
    "//",
    "%25",
    "%252e",
    "http_over_websocket",
    "http_over_%77ebsocket",
    "diagnose",
    "proxied_ws",
    "?",
    "#",
    "\\",
    " ",
    "%20",
    "\n",
    "\t",
    "é",
    "%C3%A9",
    "%ff",
    ";",
    ":",
    "evil.example",
]


_BRIDGE_CLASSES = (
    HttpOverWebSocketHandler,
    DiagnoseHandler,
    ProxiedWebSocketHandler,
    KernelChannelsHandler,
)


@pytest.mark.usefixtures("probe_routes")
async def test_fuzz_paths_under_base_url_never_reach_the_bridge_or_leave_base(
    jp_base_url: str, jp_http_port: int, jp_serverapp: Any
) -> None:
    """Random paths built from tricky pieces, routed by the server's own router.

    From the adversarial tests (issue 3).
    """
    from posixpath import normpath
    from urllib.parse import unquote

    from tornado.httputil import HTTPHeaders, HTTPServerRequest, RequestStartLine

    web_app = jp_serverapp.web_app
    base = jp_base_url
    accepted = 0

    @settings(
        max_examples=400, deadline=None, suppress_health_check=list(HealthCheck), database=None
    )
    @given(
        st.lists(st.sampled_from(_PIECES), max_size=10),
        st.sampled_from(["", base, base[:-1], "/", "//"]),
    )
    def check(pieces: list[str], prefix: str) -> None:
        nonlocal accepted
        path = prefix + "".join(pieces)
        try:
            checked = check_request_path(path, base)
        except PathError as e:
            assert SECRET_CORE not in str(e)
            return
        accepted += 1
        route = checked.partition("?")[0]
        assert not any(c in route for c in "\\@#\r\n\t\x00 ")
        decoded = normpath(unquote(route))
        assert decoded.startswith(unquote(base).rstrip("/")), path
        request = HTTPServerRequest(
            start_line=RequestStartLine("GET", checked, "HTTP/1.1"),
            headers=HTTPHeaders({"Host": f"127.0.0.1:{jp_http_port}"}),
        )
        delegate = web_app.find_handler(request)
        handler_class = getattr(delegate, "handler_class", None)
        assert not (
            isinstance(handler_class, type) and issubclass(handler_class, _BRIDGE_CLASSES)
        ), path

    check()
    assert accepted > 0, "some generated paths are valid"


_TOKEN_CHARS = r"!#$%&'*+-.^_`|~09AZaz"


@settings(max_examples=300, deadline=None, database=None)
@given(
    st.one_of(
        st.text(max_size=40),
        st.text(alphabet=_TOKEN_CHARS + ' \t\r\n\x00\x7f()<>@,;:\\"/[]?={}', max_size=40),
    )
)
def test_fuzz_method_tokens(method: str) -> None:
    """From the adversarial tests (issue 3)."""
    import re

    frame = json.dumps({"message_id": "m", "method": method, "path": "/x"})
    valid = re.fullmatch(
        r"[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,32}", method
    ) is not None and method.upper() not in ("CONNECT", "TRACE")
    try:
        parsed = parse_request_frame(frame)
    except FrameError as e:
        assert not valid, method
        assert json.loads(e.reply())["status"] == 400
        return
    assert valid, method
    assert parsed.method == method.upper()


_HOSTS = [
    "localhost",
    "LOCALHOST",
    "127.0.0.1",
    "[::1]",
    "evil.example",
    "localhost.evil.example",
    "127.0.0.1.nip.io",
    "",
]


@settings(max_examples=400, deadline=None, database=None)
@given(
    st.sampled_from(["http", "https", "ftp", "javascript", "", "HTTP"]),
    st.sampled_from(["", "user@", "user:pw@", "localhost@", ":@"]),
    st.sampled_from(_HOSTS),
    st.sampled_from(["", ":8888", ":9000", ":80", ":443", ":0", ":99999", ":x", ":8888:1"]),
    st.sampled_from(["/", "", "/jb/", "/jb", "/jbx/", "/jb/../", "/%6Ab/", "//evil.example/"]),
    st.sampled_from(
        [
            "?token=T0kSecr3t",
            "?token=T0kSecr3t&token=x",
            "?x=1",
            "",
            "#token=T0kSecr3t",
            "?token=T0kSecr3t#frag",
            "?TOKEN=T0kSecr3t",
        ]
    ),
    st.sampled_from(["localhost:8888", "127.0.0.1:9000", "[::1]:8888", "localhost"]),
    st.sampled_from(["http", "https"]),
    st.sampled_from(["/", "/jb/"]),
)
def test_fuzz_auth_url_parser(
    scheme: str,
    userinfo: str,
    host: str,
    port: str,
    path: str,
    query: str,
    request_host: str,
    request_scheme: str,
    base: str,
) -> None:
    """From the adversarial tests (issue 3)."""
    url = (
        f"{scheme}://{userinfo}{host}{port}{path}{query}"
        if scheme
        else f"{userinfo}{host}{port}{path}{query}"
    )
    try:
        token = token_from_auth_url(url, request_scheme, request_host, base)
    except AuthUrlError as e:
        assert "T0kSecr3t" not in str(e)
        return
    # Accepted: it names exactly the server the handshake reached, with one token
    # or none (a URL without a token carries no credential).
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    assert token == ("T0kSecr3t" if query.startswith("?token=T0kSecr3t") else None)
    assert parts.scheme == request_scheme and not userinfo
    req_host, req_port = split_host(request_host)
    default = 80 if request_scheme == "http" else 443
    assert (parts.hostname or "").lower() == req_host.lower().strip("[]")
    assert (parts.port or default) == (req_port or default)
