"""The security review's findings (issue 12), each as the probe that found it.

Every test here failed against the bridge before the fixes (the closing note
of issue 12 shows that run) and passes now. Figures printed by the measuring
tests (``pytest -s``) are the ones quoted in docs/explanation/security.md.
A real server and kernel on 127.0.0.1 throughout; the memory probes use a
server subprocess, so that the client's own buffers are not counted.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.websocket import WebSocketClientConnection, websocket_connect

from jupyter_colab_bridge.protocol.origins import OriginConfigError, compile_origin_pattern
from tests.helpers.bridge_client import (
    KERNEL_SUBPROTOCOL,
    BridgeClient,
    KernelChannel,
    connect,
    login_cookies,
    ws_url,
)
from tests.helpers.servers import running, start_or_exit

COLAB = "https://colab.research.google.com"
DEV_PAGE = "http://localhost:5173"  # the docs' example of an origin users add
MAIN = "http_over_websocket"
DIAGNOSE = "http_over_websocket/diagnose"


@pytest.fixture
def sockets() -> Iterator[list[WebSocketClientConnection]]:
    opened: list[WebSocketClientConnection] = []
    yield opened
    for ws in opened:
        ws.close()


def xsrf_of(cookies: str) -> str:
    return cookies.rsplit("_xsrf=", 1)[1]


async def handshake_status(url: str, **kwargs: Any) -> int:
    """101 if the WebSocket opens (then it is closed), else the refusal's status."""
    try:
        ws = await connect(url, **kwargs)
    except HTTPClientError as e:
        return e.code
    ws.close()
    return 101


async def start_kernel(jp_fetch: Any) -> str:
    response = await jp_fetch("api", "kernels", method="POST", body="{}")
    return str(json.loads(response.body)["id"])


# == 1. diagnose cannot hurt anyone ==================================================
@pytest.fixture
def bridge_config() -> dict[str, Any]:
    return {"allowed_origins": [COLAB, DEV_PAGE]}


async def test_diagnose_sockets_do_not_lock_out_the_user(
    jp_serverapp: Any, jp_fetch: Any, url: Any, sockets: list[Any], bridge_app: Any
) -> None:
    """Unauthenticated diagnose sockets have their own small limit, apart from the user's."""
    bridge_app.max_connections = 2  # the user's two sockets below
    kernel_id = await start_kernel(jp_fetch)
    held = 0
    refused_at = None
    for _ in range(100):
        try:
            ws = await connect(url(DIAGNOSE, token=None))
        except HTTPClientError as e:
            refused_at = e.code
            break
        sockets.append(ws)
        held += 1
    assert refused_at == 503, f"diagnose sockets have no limit of their own ({held} opened)"
    print(f"\n[diagnose flood] {held} diagnose sockets held (the limit), the next one: 503")
    # The real user still connects, both ways a page uses, while they are held.
    ws = await connect(url())
    sockets.append(ws)
    reply = await BridgeClient(ws).request("GET", f"{jp_serverapp.base_url}api/status")
    assert reply.status == 200
    kernel = await connect(
        url(f"http_over_websocket/proxied_ws/api/kernels/{kernel_id}/channels"),
        subprotocols=[KERNEL_SUBPROTOCOL],
    )
    sockets.append(kernel)
    await KernelChannel(kernel).ready()
    assert len(bridge_app.open_connections) == 2  # the user's two, none of diagnose's


async def test_diagnose_echo_is_capped(url: Any, sockets: list[Any]) -> None:
    ws = await connect(url(DIAGNOSE, token=None))
    sockets.append(ws)
    ws.write_message("m" * 1000)
    reply = json.loads(await ws.read_message())
    assert 0 < len(reply["message_id"]) <= 256
    assert reply["message_id"] == "m" * len(reply["message_id"])
    ws.write_message("colab-7")  # an ordinary id still comes back whole
    assert json.loads(await ws.read_message())["message_id"] == "colab-7"


async def test_diagnose_large_frame_closes_the_socket(url: Any, sockets: list[Any]) -> None:
    ws = await connect(url(DIAGNOSE, token=None))
    sockets.append(ws)
    ws.write_message("\x01" * (64 * 1024))
    assert await asyncio.wait_for(ws.read_message(), 30) is None
    assert ws.close_code == 1009


class RawSocket:
    """A WebSocket client on a bare socket that sends frames and never reads."""

    def __init__(self, port: int, path: str, origin: str = COLAB) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n"
            f"Origin: {origin}\r\n\r\n"
        )
        self.sock.sendall(request.encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            assert chunk, "closed during the handshake"
            head += chunk
        assert head.startswith(b"HTTP/1.1 101"), head[:200]

    def send_text(self, payload: bytes) -> bool:
        """Send one masked text frame; False once the server has closed the socket."""
        mask = os.urandom(4)
        n = len(payload)
        if n < 126:
            header = bytes([0x81, 0x80 | n])
        elif n < 65536:
            header = bytes([0x81, 0x80 | 126]) + n.to_bytes(2, "big")
        else:
            header = bytes([0x81, 0x80 | 127]) + n.to_bytes(8, "big")
        key = (mask * (n // 4 + 1))[:n]
        masked = (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")
        try:
            self.sock.sendall(header + mask + masked)
        except OSError:  # reset or broken pipe: the server closed it
            return False
        return True

    def close(self) -> None:
        self.sock.close()


def rss(pid: int) -> int:
    return int(psutil.Process(pid).memory_info().rss)


@pytest.fixture
def diagnose_server(tmp_path: Path) -> Iterator[Any]:
    with running(tmp_path) as server:
        yield server


def test_non_reading_diagnose_client_cannot_grow_the_server(diagnose_server: Any) -> None:
    """Six 8 MiB frames of control bytes, never reading: the review's probe (288 MiB before)."""
    server = diagnose_server
    path = f"{server.base_url}{DIAGNOSE}"
    warm = RawSocket(server.port, path)  # first-use imports and caches
    warm.send_text(b"warm-up")
    time.sleep(0.5)
    warm.close()
    before = rss(server.proc.pid)
    raw = RawSocket(server.port, path)
    sent = 0
    for _ in range(6):
        if not raw.send_text(b"\x01" * (8 * 2**20)):
            break
        sent += 1
    time.sleep(1.0)
    growth = rss(server.proc.pid) - before
    raw.close()
    print(
        f"\n[diagnose 6 x 8 MiB, never read] {sent} of 6 frames taken before the server "
        f"closed the socket (1009); RSS +{growth / 2**20:.1f} MiB"
    )
    assert growth < 8 * 2**20, f"the server grew {growth / 2**20:.1f} MiB"


def test_non_reading_diagnose_client_is_closed(diagnose_server: Any) -> None:
    """Many small frames, never reading: writes are bounded, then the socket is closed."""
    server = diagnose_server
    path = f"{server.base_url}{DIAGNOSE}"
    before = rss(server.proc.pid)
    raw = RawSocket(server.port, path)
    frame = b"\x01" * 200  # each answer is about 1.2 KB once JSON-escaped
    sent, closed = 0, False
    while sent < 200_000:
        if not raw.send_text(frame):
            closed = True
            break
        sent += 1
    # tornado drops the TCP connection once its close handshake times out (5 s).
    deadline = time.monotonic() + 30
    while not closed and time.monotonic() < deadline:
        time.sleep(0.5)
        closed = not raw.send_text(b"still there?")
    growth = rss(server.proc.pid) - before
    raw.close()
    print(
        f"\n[diagnose small frames, never read] {sent} frames sent, then the server had "
        f"closed the socket; RSS +{growth / 2**20:.1f} MiB"
    )
    assert closed, f"{sent} frames sent and the socket is still open"
    assert growth < 16 * 2**20, f"the server grew {growth / 2**20:.1f} MiB"
    assert "not reading" in server.log_text()


# == 2. credentials from a browser origin are tokens ===================================
async def test_cookie_only_bridge_socket_is_refused(
    fetch: Any, url: Any, jp_http_port: int, jp_base_url: str, token: str, server_log: Any
) -> None:
    cookies = await login_cookies(fetch, token)
    for origin in (COLAB, DEV_PAGE):
        for endpoint in (MAIN, "http_over_websocket/proxied_ws/api/events/subscribe"):
            status = await handshake_status(
                url(endpoint, token=None), origin=origin, headers={"Cookie": cookies}
            )
            assert status == 403, (origin, endpoint, status)
    assert "paste the URL with its token" in server_log.text()
    # The token still opens it, cookie or not; diagnose still reports the cookie.
    assert await handshake_status(url(), headers={"Cookie": cookies}) == 101
    ws = await connect(url(DIAGNOSE, token=None), headers={"Cookie": cookies})
    ws.write_message("m")
    assert json.loads(await ws.read_message())["has_authentication_cookie"] is True
    ws.close()


async def test_cookie_only_direct_requests_are_refused(
    fetch: Any, token: str, server_log: Any
) -> None:
    cookies = await login_cookies(fetch, token)
    for origin in (COLAB, DEV_PAGE):
        headers = {"Origin": origin, "Cookie": cookies, "X-XSRFToken": xsrf_of(cookies)}
        listed = await fetch("api/kernels", headers=headers)
        assert listed.code == 403, listed.code
        assert listed.headers.get("Access-Control-Allow-Origin") == origin  # readable refusal
        assert b"token" in listed.body
        started = await fetch("api/kernels", "POST", headers, "{}")
        assert started.code == 403, started.code
        files = await fetch("files/x.txt", headers=headers)
        assert files.code == 403, files.code
    assert "paste the URL with its token" in server_log.text()


async def test_cookie_only_direct_kernel_socket_is_refused(
    jp_fetch: Any, fetch: Any, jp_http_port: int, jp_base_url: str, token: str
) -> None:
    kernel_id = await start_kernel(jp_fetch)
    cookies = await login_cookies(fetch, token)
    request = HTTPRequest(
        f"ws://127.0.0.1:{jp_http_port}{jp_base_url}api/kernels/{kernel_id}/channels",
        headers={"Origin": COLAB, "Cookie": cookies},
        request_timeout=30,
    )
    with pytest.raises(HTTPClientError) as refused:
        await websocket_connect(request)
    assert refused.value.code == 403


@pytest.mark.parametrize(
    "path", ["login", "logout", "lab", "tree", "notebooks/x.ipynb", "api/../login"]
)
async def test_html_pages_are_not_cors_readable(fetch: Any, token: str, path: str) -> None:
    for suffix in ("", f"?token={token}"):
        response = await fetch(path + suffix, headers={"Origin": COLAB})
        assert "Access-Control-Allow-Origin" not in response.headers, (path, response.code)
        assert "Access-Control-Allow-Credentials" not in response.headers
    preflight = await fetch(
        path, "OPTIONS", {"Origin": COLAB, "Access-Control-Request-Method": "GET"}
    )
    assert "Access-Control-Allow-Origin" not in preflight.headers


async def test_no_set_cookie_beside_allow_credentials(fetch: Any, token: str) -> None:
    for path in (
        f"api/kernelspecs?token={token}",
        f"api/contents/none.txt?token={token}",
        "api/kernelspecs?token=wrong",
        f"files/none.txt?token={token}",
    ):
        response = await fetch(path, headers={"Origin": COLAB, "Sec-Fetch-Mode": "cors"})
        assert response.headers.get("Access-Control-Allow-Credentials") == "true", path
        assert "Set-Cookie" not in response.headers, (path, response.headers.get_list("Set-Cookie"))


async def test_tunnelled_requests_get_no_xsrf_header(
    jp_serverapp: Any, url: Any, sockets: list[Any], token: str
) -> None:
    """The bridge adds X-XSRFToken only for cookie sockets, which need allow_cookie_auth."""
    seen: list[dict[str, str]] = []

    from tornado import web

    class Probe(web.RequestHandler):
        def check_xsrf_cookie(self) -> None:
            pass

        def post(self) -> None:
            seen.append(dict(self.request.headers))

    jp_serverapp.web_app.add_handlers(".*$", [(f"{jp_serverapp.base_url}sec-probe", Probe)])
    ws = await connect(url(), headers={"Cookie": "_xsrf=2|aa|bb|1"})
    sockets.append(ws)
    reply = await BridgeClient(ws).request("POST", f"{jp_serverapp.base_url}sec-probe", body="{}")
    assert reply.status == 200
    assert "X-Xsrftoken" not in seen[0] and "Cookie" not in seen[0]


class TestAllowCookieAuth:
    """``allow_cookie_auth = True``: the old cookie flow, exactly as before."""

    @pytest.fixture
    def bridge_config(self) -> dict[str, Any]:
        return {"allow_cookie_auth": True, "allowed_origins": [COLAB]}

    async def test_cookie_socket_works(
        self, fetch: Any, url: Any, sockets: list[Any], jp_base_url: str, token: str
    ) -> None:
        cookies = await login_cookies(fetch, token)
        ws = await connect(url(token=None), headers={"Cookie": cookies})
        sockets.append(ws)
        client = BridgeClient(ws)
        started = await client.request("POST", f"{jp_base_url}api/kernels", body="{}")
        assert started.status == 201  # the bridge passes _xsrf on, as the original did
        deleted = await client.request("DELETE", f"{jp_base_url}api/kernels/{started.json()['id']}")
        assert deleted.status == 204

    async def test_cookie_direct_requests_work(self, fetch: Any, token: str) -> None:
        cookies = await login_cookies(fetch, token)
        headers = {"Origin": COLAB, "Cookie": cookies, "X-XSRFToken": xsrf_of(cookies)}
        listed = await fetch("api/kernels", headers=headers)
        assert listed.code == 200
        assert listed.headers["Access-Control-Allow-Credentials"] == "true"
        assert "Set-Cookie" not in listed.headers


# == 3. the auth URL ===================================================================
async def test_auth_url_without_token_is_no_credential(
    http_server: Any, jp_http_port: int, jp_base_url: str, token: str, sockets: list[Any]
) -> None:
    """It contributes nothing: other credentials work, and it is no error."""
    auth_url = f"http://127.0.0.1:{jp_http_port}{jp_base_url}"
    url = ws_url(
        jp_http_port,
        jp_base_url,
        params={"jupyter_http_over_ws_auth_url": auth_url, "token": token},
    )
    ws = await connect(url)
    sockets.append(ws)
    reply = await BridgeClient(ws).request("GET", f"{jp_base_url}api/status")
    assert reply.status == 200, reply.status_text
    # Alone it is no credential: refused at the handshake.
    bare = ws_url(jp_http_port, jp_base_url, params={"jupyter_http_over_ws_auth_url": auth_url})
    assert await handshake_status(bare) == 403


class TestPasswordOnlyServer:
    """A server with a password and no token (``--IdentityProvider.token=''``)."""

    PASSWORD = "pass-w0rd"

    @pytest.fixture
    def jp_server_config(self) -> dict[str, Any]:
        from jupyter_server.auth import passwd

        return {
            # ServerApp.token (deprecated, passed on to the identity provider) keeps
            # pytest-jupyter from setting a token of its own.
            "ServerApp": {"jpserver_extensions": {"jupyter_colab_bridge": True}, "token": ""},
            "IdentityProvider": {"token": ""},
            "PasswordIdentityProvider": {"hashed_password": passwd(self.PASSWORD)},
            "ColabBridge": {"allow_cookie_auth": True},
        }

    async def test_auth_url_never_displaces_a_good_cookie(
        self, fetch: Any, url: Any, sockets: list[Any], jp_base_url: str
    ) -> None:
        cookies = await login_cookies(fetch, self.PASSWORD)
        alone = await connect(url(token=None), headers={"Cookie": cookies})
        sockets.append(alone)
        assert (await BridgeClient(alone).request("GET", f"{jp_base_url}api/status")).status == 200
        ws = await connect(url(token="bogus"), headers={"Cookie": cookies})
        sockets.append(ws)
        client = BridgeClient(ws)
        assert (await client.request("GET", f"{jp_base_url}api/status")).status == 200
        started = await client.request("POST", f"{jp_base_url}api/kernels", body="{}")
        assert started.status == 201


# == 4. patterns that also match unrelated origins stop the server =====================
ALLOW_ALL = ["https?://.+", "[^n].*", "https://.*", r"https?://[^/]+:\d+", "(?s).+", ".+"]


@pytest.mark.parametrize("pattern", ALLOW_ALL)
def test_allow_all_patterns_are_refused(pattern: str) -> None:
    with pytest.raises(OriginConfigError) as e:
        compile_origin_pattern(pattern)
    assert repr(pattern) in str(e.value)


@pytest.mark.parametrize(
    "pattern",
    [
        r"https://[a-z0-9-]+\.colab\.example\.com",
        r"http://localhost:\d+",
        r"http://127\.0\.0\.1:(5173|8080)",
        r"https://colab\.(research\.)?google\.com",
    ],
)
def test_specific_patterns_are_accepted(pattern: str) -> None:
    compile_origin_pattern(pattern)


@pytest.mark.parametrize("pattern", ["https?://.+", "[^n].*"])
def test_allow_all_pattern_stops_the_server(tmp_path: Path, pattern: str) -> None:
    code, log = start_or_exit(tmp_path, f"--ColabBridge.allowed_origin_patterns={pattern}")
    assert code not in (0, None), log[-2000:]
    assert repr(pattern) in log and "Not starting" in log, log[-2000:]


# == 6. minor findings =================================================================
async def test_refused_kernel_socket_does_not_replace_the_session(
    jp_fetch: Any,
    url: Any,
    jp_http_port: int,
    jp_base_url: str,
    token: str,
    sockets: list[Any],
    bridge_app: Any,
) -> None:
    """A proxied_ws socket refused with 503 has done nothing upstream."""
    bridge_app.max_connections = 2
    kernel_id = await start_kernel(jp_fetch)
    direct = await websocket_connect(
        HTTPRequest(
            f"ws://127.0.0.1:{jp_http_port}{jp_base_url}api/kernels/{kernel_id}/channels"
            f"?session_id=same&token={token}",
            request_timeout=30,
        )
    )
    sockets.append(direct)
    sockets.extend([await connect(url()), await connect(url())])  # the limit: 2
    path = f"http_over_websocket/proxied_ws/api/kernels/{kernel_id}/channels"
    with pytest.raises(HTTPClientError) as refused:
        await connect(url(path, params={"session_id": "same"}))
    assert refused.value.code == 503
    await asyncio.sleep(0.5)
    await KernelChannel(direct, session_id="same").ready()  # not closed as "stale"


@pytest.mark.parametrize("origin", [None, COLAB, "https://evil.example"])
async def test_vary_origin_on_every_api_response(fetch: Any, token: str, origin: str) -> None:
    headers = {"Origin": origin} if origin else {}
    for path in (f"api/kernelspecs?token={token}", "api/kernelspecs", f"files/x?token={token}"):
        response = await fetch(path, headers=headers)
        assert "origin" in response.headers.get("Vary", "").lower(), (path, origin)
