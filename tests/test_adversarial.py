"""Adversarial tests of the bridge (issue 3): a real server and kernel on 127.0.0.1.

Sections follow the items of the hardening issue. Figures printed by the
measuring tests (``pytest -s``) are the ones quoted in the docs' security page
(docs/explanation/security.md). Each test was also run against a deliberately weakened build (a
monkeypatch loaded as a pytest plugin, kept out of the repo) and failed there;
that page lists which.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import json
import logging
import os
import socket
import time
from collections.abc import Iterator
from typing import Any, ClassVar
from urllib.parse import quote, quote_plus

import pytest
from tornado import web
from tornado.httpclient import HTTPClientError
from tornado.websocket import WebSocketClientConnection

from tests.helpers.bridge_client import (
    KERNEL_SUBPROTOCOL,
    BridgeClient,
    KernelChannel,
    connect,
    ws_url,
)
from tests.helpers.cases import BAD_REQUEST_PATHS
from tests.helpers.servers import start_or_exit

# A token whose URL-encoded forms differ from the raw one; "S3cr3tXq" is
# searched for too, so any encoding of it is caught.
SECRET = "advS3cr3tXq/t0k+en"
SECRET_CORE = "S3cr3tXq"
WRONG = "WrongTok3nZz"
COLAB = "https://colab.research.google.com"

MAIN = "http_over_websocket"
DIAGNOSE = "http_over_websocket/diagnose"
RELAY = "http_over_websocket/proxied_ws/adv-echo-ws"
KERNEL = "http_over_websocket/proxied_ws/api/kernels/00000000-0000-0000-0000-000000000000/channels"
ENDPOINTS = [MAIN, DIAGNOSE, RELAY, KERNEL]


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    return {
        "ServerApp": {"jpserver_extensions": {"jupyter_colab_bridge": True}},
        "IdentityProvider": {"token": SECRET},
    }


# -- test-only handlers added to the server ----------------------------------------
class HeaderEcho(web.RequestHandler):
    """Answers with the request headers it received; sets a cookie."""

    def check_xsrf_cookie(self) -> None:  # a probe, not a Jupyter API
        pass

    def _echo(self) -> None:
        self.set_cookie("probe", "should-not-reach-the-page")
        self.write(
            {
                "headers": list(self.request.headers.get_all()),
                "body": self.request.body.decode("latin-1"),
            }
        )

    get = post = put = _echo


class Redirector(web.RequestHandler):
    def get(self) -> None:
        self.redirect(self.get_query_argument("to"))


class Failing(web.RequestHandler):
    def get(self) -> None:
        raise RuntimeError("deliberate failure in a test handler")


class Slow(web.RequestHandler):
    """Never answers until released; records that its client went away."""

    release: asyncio.Event
    gone: ClassVar[list[str]] = []

    async def get(self) -> None:
        await Slow.release.wait()
        self.write("late")

    def on_connection_close(self) -> None:
        Slow.gone.append(self.request.path)


def _echo_ws_class() -> Any:
    from tornado.websocket import WebSocketHandler

    class _Echo(WebSocketHandler):
        def open(self, *args: Any) -> None:
            self.write_message(json.dumps({"host": self.request.headers.get("Host")}))

        async def on_message(self, message: str | bytes) -> None:
            if isinstance(message, str) and message.startswith("flood "):
                # A well-behaved upstream: each write waits for its own flush.
                for _ in range(int(message.split()[1])):
                    await self.write_message(b"\0" * 2**20, binary=True)
                return
            await self.write_message(message, binary=isinstance(message, bytes))

    return _Echo


@pytest.fixture
def srv(jp_serverapp: Any, http_server_client: Any, jp_http_port: int, jp_base_url: str) -> Any:
    """The running server with the test-only routes, and helpers to reach it."""
    Slow.release = asyncio.Event()
    Slow.gone = []
    jp_serverapp.web_app.add_handlers(
        ".*$",
        [
            (f"{jp_base_url}adv-headers", HeaderEcho),
            (f"{jp_base_url}adv-redirect", Redirector),
            (f"{jp_base_url}adv-fail", Failing),
            (f"{jp_base_url}adv-slow", Slow),
            (f"{jp_base_url}adv-echo-ws", _echo_ws_class()),
        ],
    )

    class S:
        app = jp_serverapp
        bridge = extension_app(jp_serverapp.web_app.settings)
        port = jp_http_port
        base = jp_base_url

        @staticmethod
        def url(endpoint: str = MAIN, token: str | None = SECRET, **kw: Any) -> str:
            return ws_url(jp_http_port, jp_base_url, endpoint, token=token, **kw)

    yield S
    Slow.release.set()


@pytest.fixture
def sockets() -> Iterator[list[WebSocketClientConnection]]:
    opened: list[WebSocketClientConnection] = []
    yield opened
    for ws in opened:
        ws.close()


async def open_client(srv: Any, sockets: list[Any], **kw: Any) -> BridgeClient:
    endpoint = kw.pop("endpoint", MAIN)
    token = kw.pop("token", SECRET)
    ws = await connect(srv.url(endpoint, token=token, params=kw.pop("params", None)), **kw)
    sockets.append(ws)
    return BridgeClient(ws)


async def wait_closed(ws: WebSocketClientConnection) -> tuple[int | None, str | None]:
    while (await asyncio.wait_for(ws.read_message(), 30)) is not None:
        pass
    return ws.close_code, ws.close_reason


async def until(predicate: Any, timeout: float = 15.0) -> bool:
    """Poll ``predicate`` (no timing is asserted; the timeout only avoids a hang)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.05)
    return bool(predicate())


def fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def raw_handshake_status(
    srv: Any, endpoint: str, token: str | None, headers: list[tuple[str, str]]
) -> int:
    """Send a WebSocket handshake byte for byte (repeated headers stay separate lines)."""
    url = srv.url(endpoint, token=token)
    target = url.split(f"127.0.0.1:{srv.port}", 1)[1]
    lines = [
        f"GET {target} HTTP/1.1",
        f"Host: 127.0.0.1:{srv.port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Version: 13",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    ]
    lines += [f"{k}: {v}" for k, v in headers]
    reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
    try:
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        status_line = await asyncio.wait_for(reader.readline(), 30)
        return int(status_line.split()[1])
    finally:
        writer.close()


class Listener:
    """A TCP listener on another local port that counts who connects."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]

    def connections(self) -> int:
        n = 0
        while True:
            try:
                conn, _ = self.sock.accept()
            except BlockingIOError:
                return n
            conn.close()
            n += 1

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    lst = Listener()
    yield lst
    lst.close()


def server_handler_for(srv: Any, ws: WebSocketClientConnection) -> Any:
    """The server-side handler of the client socket ``ws``."""
    port = ws.protocol.stream.socket.getsockname()[1]
    for handler in list(srv.bridge.open_connections):
        conn = handler.ws_connection
        if (
            conn is not None
            and conn.stream.socket is not None
            and conn.stream.socket.getpeername()[1] == port
        ):
            return handler
    raise AssertionError("no server-side handler for this socket")


# == 1. Origins =====================================================================
BAD_ORIGINS = [
    "null",
    "colab.research.google.com",
    "https://colab.research.google.com.evil.example",
    "https://evilcolab.research.google.com",
    "http://colab.research.google.com",
    "https://colab.research.google.com:8443",
    "https://colab.research.google.com, https://evil.example",
]


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("with_token", [True, False])
async def test_bad_origins_refused_403_on_every_endpoint(
    srv: Any, endpoint: str, with_token: bool, server_log: Any
) -> None:
    token = SECRET if with_token else None
    for origin in BAD_ORIGINS:
        with pytest.raises(HTTPClientError) as e:
            await connect(srv.url(endpoint, token=token), origin=origin)
        assert e.value.code == 403, origin
    for extra in (
        {"Sec-WebSocket-Origin": COLAB},
        {"Sec-WebSocket-Origin": "https://evil.example"},
    ):
        with pytest.raises(HTTPClientError) as e:
            await connect(srv.url(endpoint, token=token), headers=extra)
        assert e.value.code == 403, extra
    # legacy header alone (no Origin): still refused, token or not
    assert (
        await raw_handshake_status(srv, endpoint, token, [("Sec-WebSocket-Origin", COLAB)]) == 403
    )
    for origins in ([COLAB, "https://evil.example"], [COLAB, COLAB]):
        assert (
            await raw_handshake_status(srv, endpoint, token, [("Origin", o) for o in origins])
            == 403
        )
    assert await raw_handshake_status(srv, endpoint, SECRET, [("Origin", COLAB)]) == 101, (
        "the raw probe works"
    )
    refusals = [
        r for r in server_log.records if "refused a WebSocket from origin" in r.getMessage()
    ]
    assert len(refusals) == len(BAD_ORIGINS) + 5


@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_no_origin_needs_credentials(srv: Any, sockets: list[Any], endpoint: str) -> None:
    with pytest.raises(HTTPClientError) as e:
        await connect(srv.url(endpoint, token=None), origin=None)
    assert e.value.code == 403
    ws = await connect(
        srv.url(endpoint, token=None), origin=None, headers={"Authorization": f"token {SECRET}"}
    )
    sockets.append(ws)
    if endpoint == MAIN:
        assert (await BridgeClient(ws).request("GET", f"{srv.base}api/status")).status == 200
    elif endpoint == DIAGNOSE:
        ws.write_message("1")
        assert json.loads(await ws.read_message())["message_id"] == "1"
    elif endpoint == RELAY:
        assert "host" in json.loads(await ws.read_message())
    else:
        assert (await wait_closed(ws))[0] == 404


@pytest.mark.parametrize(
    ("arg", "message"),
    [
        ("--ColabBridge.allowed_origins=*", "'*' is not allowed in ColabBridge.allowed_origins"),
        ("--ColabBridge.allowed_origins=", "an empty origin is not allowed"),
        ("--ColabBridge.allowed_origin_patterns=.*", "matches an empty or 'null' origin"),
        ("--ColabBridge.max_connections=0", "ColabBridge.max_connections must be at least 1"),
    ],
)
def test_bad_config_refuses_to_start(tmp_path: Any, arg: str, message: str) -> None:
    """jupyter_server would log a warning and serve the bridge with its defaults: we stop."""
    code, log = start_or_exit(tmp_path, arg)
    assert code not in (None, 0), log[-2000:]
    assert message in log
    assert "is running at" not in log


def test_bad_config_file_refuses_to_start(tmp_path: Any) -> None:
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    (cfg / "jupyter_server_config.py").write_text(
        "c.ColabBridge.allowed_origins = ['https://colab.research.google.com', '*']\n"
    )
    code, log = start_or_exit(tmp_path)
    assert code not in (None, 0), log[-2000:]
    assert "Colab bridge: invalid configuration: '*' is not allowed" in log
    assert "is running at" not in log


def test_good_config_starts(tmp_path: Any) -> None:
    """The probe itself: a valid allowlist starts (and is stopped by the helper)."""
    code, log = start_or_exit(
        tmp_path, "--ColabBridge.allowed_origins=https://colab.research.google.com"
    )
    assert code is None, log[-2000:]
    assert "Colab local runtime bridge" in log


# == 2. Host and DNS rebinding =======================================================
@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_non_local_host_refused(srv: Any, endpoint: str) -> None:
    for host in ("evil.example", f"evil.example:{srv.port}", "rebind.attacker.test:80"):
        with pytest.raises(HTTPClientError) as e:
            await connect(srv.url(endpoint, auth_host=host), headers={"Host": host})
        assert e.value.code == 403


async def test_forged_local_host_reaches_nothing_there(
    srv: Any, sockets: list[Any], listener: Listener
) -> None:
    forged = f"127.0.0.1:{listener.port}"
    # The auth URL matches the forged Host (as a rebinding page would make it): the token is
    # checked in-process and nothing is contacted.
    ws = await connect(srv.url(MAIN, auth_host=forged), headers={"Host": forged})
    sockets.append(ws)
    client = BridgeClient(ws)
    echo = await client.request("GET", f"{srv.base}adv-headers")
    assert echo.status == 200
    hosts = [v for k, v in echo.json()["headers"] if k.lower() == "host"]
    assert hosts == [f"127.0.0.1:{srv.port}"]
    assert (await client.request("GET", f"{srv.base}api/status")).status == 200
    relay = await connect(srv.url(RELAY, auth_host=forged), headers={"Host": forged})
    sockets.append(relay)
    assert json.loads(await relay.read_message())["host"] == f"127.0.0.1:{srv.port}"
    ws2 = await connect(
        srv.url(MAIN, token=None), headers={"Host": forged, "Authorization": f"token {SECRET}"}
    )
    sockets.append(ws2)
    assert (await BridgeClient(ws2).request("GET", f"{srv.base}api/status")).status == 200
    assert listener.connections() == 0


# == 3. Paths and methods ============================================================
BAD_METHODS = [
    "CONNECT",
    "connect",
    "TRACE",
    "ß",
    "ﬀ",
    "GE T",
    "GET\r\n",
    "GET\n",
    "G\x00T",
    "\tGET",
    "",
    "GET /x HTTP/1.1",
    "X" * 100,
]


async def test_bad_paths_and_methods_get_400_with_message_id(
    srv: Any, sockets: list[Any], jp_base_url: str
) -> None:
    assert jp_base_url == "/a%40b/"
    client = await open_client(srv, sockets)
    cases = [("GET", p) for p in BAD_REQUEST_PATHS]
    cases += [(m, f"{srv.base}api/status") for m in BAD_METHODS]
    ids = []
    for i, (method, path) in enumerate(cases):
        ids.append(client.send(method, path, message_id=f"bad-{i}"))
    for reply, (method, path) in zip(await client.wait(*ids), cases):
        assert reply.status == 400, (method, path, reply.status)
        assert len(reply.frames) == 1 and reply.frames[0]["done"] is True
        assert reply.status_text.startswith("Invalid request.")
    assert (await client.request("GET", f"{srv.base}api/status")).status == 200


async def test_redirects_are_returned_not_followed(
    srv: Any, sockets: list[Any], listener: Listener
) -> None:
    client = await open_client(srv, sockets)
    for target in (
        f"http://127.0.0.1:{listener.port}/steal",
        f"{srv.base}api/status",
        "//evil.example/x",
    ):
        reply = await client.request("GET", f"{srv.base}adv-redirect?to={quote(target, safe='')}")
        assert reply.status == 302
        assert reply.headers["Location"] == target
    # jupyter_server's own redirect: the login page of a logged-in user.
    reply = await client.request(
        "GET", f"{srv.base}login?next={quote(srv.base + 'api/status', safe='')}"
    )
    assert reply.status == 302 and reply.headers["Location"] == f"{srv.base}api/status"
    assert listener.connections() == 0


# == 4. Headers =====================================================================
HOSTILE_HANDSHAKE_HEADERS = {
    "Cookie": "stolen=1; _xsrf=abc",
    "X-Forwarded-For": "6.6.6.6",
    "X-Forwarded-Host": "evil.example",
    "X-Forwarded-Proto": "https",
    "X-Real-Ip": "6.6.6.6",
    "Forwarded": "for=6.6.6.6",
    "X-Custom": "nope",
    "Referer": "https://colab.research.google.com/x",
    "User-Agent": "adversary",
    "Accept-Encoding": "gzip",
}


async def test_inner_requests_carry_only_allowlisted_headers(srv: Any, sockets: list[Any]) -> None:
    client = await open_client(srv, sockets, headers=dict(HOSTILE_HANDSHAKE_HEADERS))
    get = await client.request("GET", f"{srv.base}adv-headers")
    post = await client.request("POST", f"{srv.base}adv-headers", body="hello")
    # a frame cannot add headers either
    client.ws.write_message(
        json.dumps(
            {
                "message_id": "h",
                "method": "PUT",
                "path": f"{srv.base}adv-headers",
                "body": "abc",
                "headers": {
                    "Content-Length": "999",
                    "Transfer-Encoding": "chunked",
                    "Host": "evil.example",
                },
            }
        )
    )
    (put,) = await client.wait("h")
    for reply, allowed in (
        (get, {"host", "authorization"}),
        (post, {"host", "authorization", "content-length"}),
        (put, {"host", "authorization", "content-length"}),
    ):
        assert reply.status == 200
        headers = reply.json()["headers"]
        names = {k.lower() for k, _ in headers}
        assert names == allowed, names
        values = dict((k.lower(), v) for k, v in headers)
        assert values["host"] == f"127.0.0.1:{srv.port}"
        assert values["authorization"] == f"token {SECRET}"
        assert not any(k.lower() == "set-cookie" for k in reply.headers)
    assert dict((k.lower(), v) for k, v in put.json()["headers"])["content-length"] == "3"
    assert put.json()["body"] == "abc"


async def test_cookie_socket_carries_cookie_and_xsrf_only(
    srv: Any, sockets: list[Any], jp_fetch: Any
) -> None:
    """The original's cookie flow (ColabBridge.allow_cookie_auth on): cookie and _xsrf only."""
    srv.bridge.allow_cookie_auth = True
    response = await jp_fetch("api", "status")
    cookies = response.headers.get_list("Set-Cookie")
    login = next(c for c in cookies if c.startswith("username-")).split(";", 1)[0]
    cookie = f"{login}; _xsrf=2|aa|bb|1"
    client = await open_client(
        srv,
        sockets,
        token=None,
        headers={"Cookie": cookie, "X-Forwarded-For": "6.6.6.6", "X-XSRFToken": "page-sent"},
    )
    post = await client.request("POST", f"{srv.base}adv-headers", body="x")
    headers = dict((k.lower(), v) for k, v in post.json()["headers"])
    assert set(headers) == {"host", "cookie", "x-xsrftoken", "content-length"}
    assert headers["cookie"] == cookie and headers["x-xsrftoken"] == "2|aa|bb|1"
    get = await client.request("GET", f"{srv.base}adv-headers")
    assert {k.lower() for k, _ in get.json()["headers"]} == {"host", "cookie"}


async def test_replies_never_carry_set_cookie(srv: Any, sockets: list[Any]) -> None:
    client = await open_client(srv, sockets)
    for path in ("adv-headers", "api/status", "login", "adv-redirect?to=/x"):
        reply = await client.request("GET", f"{srv.base}{path}")
        assert not any(k.lower() == "set-cookie" for k in reply.headers), (path, reply.headers)
        assert "should-not-reach-the-page" not in json.dumps(reply.headers)


# == 5. Secrets =====================================================================
def _forms(secret: str) -> list[str]:
    return sorted(
        {
            secret,
            quote(secret),
            quote(secret, safe=""),
            quote_plus(secret),
            quote(quote(secret, safe=""), safe=""),
            SECRET_CORE if secret == SECRET else secret,
        }
    )


async def test_secrets_never_logged_replied_or_in_close_reasons(
    srv: Any, sockets: list[Any], server_log: Any, jp_fetch: Any, jp_root_dir: Any
) -> None:
    seen: list[str] = []  # every frame text and close reason the page got
    base = srv.base

    async def session(ws: WebSocketClientConnection, requests: list[tuple[str, str]]) -> None:
        sockets.append(ws)
        client = BridgeClient(ws)
        for method, path in requests:
            reply = await client.request(method, path)
            seen.extend(json.dumps(f) for f in reply.frames)

    ok = [
        ("GET", f"{base}api/status"),
        ("GET", f"{base}adv-fail"),
        ("GET", f"{base}api/contents/nope"),
        ("POST", f"{base}api/contents"),
        ("GET", f"{base}../x"),
        ("TRACE", f"{base}api/status"),
    ]
    await session(await connect(srv.url(params={"min_version": "0.0.7"})), ok)
    await session(await connect(srv.url(token=None, params={"token": SECRET})), ok)
    await session(
        await connect(srv.url(token=None), headers={"Authorization": f"token {SECRET}"}), ok
    )
    response = await jp_fetch("api", "status")
    cookies = response.headers.get_list("Set-Cookie")
    login = next(c for c in cookies if c.startswith("username-")).split(";", 1)[0]
    cookie_value = login.split("=", 1)[1]
    srv.bridge.allow_cookie_auth = True  # the original's cookie flow
    await session(await connect(srv.url(token=None), headers={"Cookie": login}), ok)
    srv.bridge.allow_cookie_auth = False
    # cross-domain auth URL with another credential: 500 replies
    await session(
        await connect(
            srv.url(auth_host="evil.example:1"), headers={"Authorization": f"token {SECRET}"}
        ),
        ok,
    )
    # bad frames
    ws = await connect(srv.url())
    sockets.append(ws)
    for frame in (
        "not json",
        "[]",
        json.dumps({"message_id": "m", "method": "GET", "body": SECRET}),
        json.dumps({"x": SECRET}),
    ):
        ws.write_message(frame)
        seen.append(await ws.read_message())
    # min_version close, on a socket that carries the token
    for version in ("9.9", "bad!"):
        ws = await connect(srv.url(params={"min_version": version}))
        code, reason = await wait_closed(ws)
        assert code == 400
        seen.append(str(reason))
    # proxied_ws: relay, unknown kernel, unknown path
    for endpoint in (RELAY, KERNEL, "http_over_websocket/proxied_ws/api/none"):
        ws = await connect(srv.url(endpoint), subprotocols=[KERNEL_SUBPROTOCOL])
        sockets.append(ws)
        while (msg := await ws.read_message()) is not None:
            seen.append(str(msg))
            ws.close()
        seen.append(f"{ws.close_code} {ws.close_reason}")
    # failures: wrong tokens everywhere, cross-domain auth URLs without other credentials
    wrongs = [
        dict(url=srv.url(token=WRONG)),
        dict(url=srv.url(token=None, params={"token": WRONG})),
        dict(url=srv.url(token=None), headers={"Authorization": f"token {WRONG}"}),
        dict(url=srv.url(auth_host="evil.example")),
        dict(url=srv.url(RELAY, token=WRONG)),
        dict(url=srv.url(KERNEL, auth_host=f"127.0.0.1:{srv.port + 1}")),
        dict(url=srv.url(MAIN), origin="https://evil.example"),
        dict(url=srv.url(MAIN), headers={"Host": "evil.example"}),
    ]
    for case in wrongs:
        with pytest.raises(HTTPClientError) as e:
            await connect(case.pop("url"), **case)
        assert e.value.code == 403
        seen.append(str(e.value))
        if e.value.response is not None:
            seen.append((e.value.response.body or b"").decode("latin-1"))
    await asyncio.sleep(0.2)  # let access-log lines of closing sockets be written

    logged = server_log.text()
    assert "Uncaught exception" in logged or "deliberate failure" in logged, "the 500 was logged"
    assert "refusing the auth URL" in logged
    for secret in _forms(SECRET) + _forms(WRONG) + [cookie_value]:
        assert secret not in logged, f"{secret!r} in the server log"
        for text in seen:
            assert secret not in text, f"{secret!r} sent to the page: {text[:200]}"


# == 6. Limits ======================================================================
async def test_oversized_frame_closes_that_socket_1009_only(srv: Any, sockets: list[Any]) -> None:
    srv.bridge.max_message_bytes = 4096
    big = await open_client(srv, sockets)
    other = await open_client(srv, sockets)
    big.ws.write_message(
        json.dumps(
            {
                "message_id": "b",
                "method": "PUT",
                "path": f"{srv.base}adv-headers",
                "body": "x" * 5000,
            }
        )
    )
    code, _ = await wait_closed(big.ws)
    assert code == 1009
    assert (await other.request("GET", f"{srv.base}api/status")).status == 200
    ok = await other.request("PUT", f"{srv.base}adv-headers", body="y" * 3000)
    assert ok.status == 200


async def test_requests_beyond_in_flight_limit_get_503(srv: Any, sockets: list[Any]) -> None:
    srv.bridge.max_requests_in_flight = 3
    client = await open_client(srv, sockets)
    ids = [client.send("GET", f"{srv.base}adv-slow", message_id=f"s{i}") for i in range(8)]
    refused = await client.wait(*ids[3:])  # answered while the first three still hang
    assert [r.status for r in refused] == [503] * 5
    assert all("max_requests_in_flight" in (r.status_text or "") for r in refused)
    assert not any(m in client.done for m in ids[:3])
    Slow.release.set()
    assert [r.status for r in await client.wait(*ids[:3])] == [200] * 3
    assert (await client.request("GET", f"{srv.base}api/status")).status == 200


async def test_max_connections_503_at_handshake(srv: Any, sockets: list[Any]) -> None:
    assert len(srv.bridge.open_connections) == 0
    srv.bridge.max_connections = 2
    srv.bridge.max_diagnose_connections = 1
    a = await open_client(srv, sockets)
    await open_client(srv, sockets, endpoint=RELAY)
    for endpoint in (MAIN, RELAY, KERNEL):
        with pytest.raises(HTTPClientError) as e:
            await connect(srv.url(endpoint))
        assert e.value.code == 503
    # diagnose has a limit of its own, apart from the user's sockets
    await open_client(srv, sockets, endpoint=DIAGNOSE)
    with pytest.raises(HTTPClientError) as e:
        await connect(srv.url(DIAGNOSE))
    assert e.value.code == 503
    a.ws.close()
    assert await until(lambda: len(srv.bridge.open_connections) == 1)
    c = await open_client(srv, sockets)
    assert (await c.request("GET", f"{srv.base}api/status")).status == 200


async def test_request_timeout_gives_504(srv: Any, sockets: list[Any]) -> None:
    srv.bridge.request_timeout = 0.3
    client = await open_client(srv, sockets)
    reply = await client.request("GET", f"{srv.base}adv-slow")
    assert reply.status == 504 and reply.frames[0]["done"] is True
    assert await until(lambda: Slow.gone == [f"{srv.base}adv-slow"]), "the handler was told to stop"
    assert (await client.request("GET", f"{srv.base}api/status")).status == 200


async def test_request_timeout_does_not_cut_a_streaming_reply(
    srv: Any, sockets: list[Any], jp_root_dir: Any
) -> None:
    """A download that is still flowing when request_timeout passes completes."""
    size = 40 * 1024 * 1024  # more than the socket buffers can swallow at once
    with open(jp_root_dir / "slowly.bin", "wb") as f:
        f.truncate(size)
    srv.bridge.request_timeout = 0.3
    client = await open_client(srv, sockets)
    mid = client.send("GET", f"{srv.base}files/slowly.bin")
    first = await client.read_frame()
    assert first["status"] == 200
    await asyncio.sleep(1.0)  # the page is slow: the timeout passes mid-stream
    received, frame = len(base64.b64decode(first["data"])), first
    while not frame["done"]:
        frame = await asyncio.wait_for(client.read_frame(), 30)
        assert frame["message_id"] == mid and "status" not in frame
        received += len(base64.b64decode(frame.get("data", "")))
    assert received == size
    assert (await client.request("GET", f"{srv.base}api/status")).status == 200


MALFORMED = [
    "[1, 2]",
    '"a string"',
    "42",
    "null",
    "true",
    json.dumps({"message_id": "m", "method": ["GET"], "path": "/a%40b/api/status"}),
    json.dumps({"message_id": "m", "method": "GET", "path": 12}),
    json.dumps({"message_id": "m", "method": "PUT", "path": "/a%40b/api/status", "body": {"a": 1}}),
    json.dumps({"message_id": "m", "method": "PUT", "path": "/a%40b/api/status", "body_base64": 7}),
    json.dumps(
        {"message_id": "m", "method": "PUT", "path": "/a%40b/api/status", "body_base64": "@@@="}
    ),
    json.dumps(
        {"message_id": "m", "method": "PUT", "path": "/a%40b/api/status", "body_base64": "QUJ"}
    ),
    json.dumps({"message_id": "x" * 1_000_000, "method": "GET", "path": "/a%40b/api/status"}),
    json.dumps({"message_id": 10**400, "method": "GET", "path": "/a%40b/api/status"}),
    json.dumps({"message_id": {"nested": [1]}, "method": "GET", "path": "/a%40b/api/status"}),
    "[" * 100_000,
    '{"message_id": "m", "method": "GET", "path": "\\ud800"}',
]


async def test_malformed_frames_get_400_without_traceback(
    srv: Any, sockets: list[Any], server_log: Any
) -> None:
    client = await open_client(srv, sockets)
    for frame in MALFORMED:
        client.ws.write_message(frame)
        reply = await client.error_frame()
        assert reply["status"] == 400, frame[:80]
        assert "Traceback" not in json.dumps(reply) and len(json.dumps(reply)) < 1000
        assert reply.get("message_id") in (None, "m")
    assert (await client.request("GET", f"{srv.base}api/status")).status == 200
    assert not [r for r in server_log.records if r.exc_info], "no traceback logged for a bad frame"


# == 7. Backpressure and cleanup =====================================================
async def test_stalled_download_is_bounded(srv: Any, sockets: list[Any], jp_root_dir: Any) -> None:
    size = 100 * 1024 * 1024
    with open(jp_root_dir / "huge.bin", "wb") as f:
        f.truncate(size)  # sparse: reads as zeros
    client = await open_client(srv, sockets)
    handler = server_handler_for(srv, client.ws)
    stream = handler.ws_connection.stream
    gc.collect()
    rss_before = rss_bytes()
    mid = client.send("GET", f"{srv.base}files/huge.bin")
    first = await client.read_frame()
    assert first["message_id"] == mid and first["status"] == 200
    # The page stops reading. Wait until the server stops producing.
    last = -1
    stable = 0
    while stable < 10:
        await asyncio.sleep(0.1)
        now = stream._total_write_index
        stable = stable + 1 if now == last else 0
        last = now
    buffered = len(stream._write_buffer)
    produced = stream._total_write_index
    rss_growth = rss_bytes() - rss_before
    print(
        f"\n[stalled 100 MB download] server wrote {produced / 2**20:.1f} MiB of frames "
        "into its socket,"
        f" {buffered / 2**20:.2f} MiB still in tornado's buffer, RSS +{rss_growth / 2**20:.1f} MiB"
    )
    assert buffered < 2 * 2**20
    assert (
        produced < 32 * 2**20
    )  # kernel socket buffers (both ends) + one chunk, not the 133 MiB of frames
    assert rss_growth < 48 * 2**20
    # The page resumes: the whole file arrives intact.
    received = len(base64.b64decode(first["data"]))
    frame = first
    while not frame["done"]:
        frame = await client.read_frame()
        assert frame["message_id"] == mid
        received += len(base64.b64decode(frame.get("data", "")))
    assert received == size


async def test_disconnect_mid_stream_cancels_and_frees(
    srv: Any, sockets: list[Any], jp_root_dir: Any, server_log: Any
) -> None:
    with open(jp_root_dir / "big.bin", "wb") as f:
        f.truncate(50 * 1024 * 1024)
    client = await open_client(srv, sockets)  # warm-up: first-use imports and caches
    assert (await client.request("GET", f"{srv.base}api/status")).status == 200
    client.ws.close()
    assert await until(lambda: not srv.bridge.open_connections)
    await asyncio.sleep(0.2)
    gc.collect()
    fds, tasks = fd_count(), len(asyncio.all_tasks())
    for _ in range(3):
        client = await open_client(srv, sockets)
        handler = server_handler_for(srv, client.ws)
        client.send("GET", f"{srv.base}files/big.bin")
        client.send("GET", f"{srv.base}adv-slow")
        await client.read_frame()
        assert await until(lambda h=handler: len(h.tunnel.tasks) == 2)
        server_tasks = list(handler.tunnel.tasks)
        client.ws.close()
        assert await until(lambda: not srv.bridge.open_connections)
        assert await until(lambda tasks=server_tasks: all(t.done() for t in tasks))
        # Aborted; the slow handler runs on, counted until it ends (max_abandoned_requests).
        assert all(c.closed for c in handler.tunnel.running)
    assert await until(lambda: Slow.gone.count(f"{srv.base}adv-slow") == 3)
    # tornado never cancels a handler whose client went away (nor does it for direct
    # requests); it is told through on_connection_close. Let the slow ones end.
    Slow.release.set()
    assert await until(lambda: fd_count() <= fds and len(asyncio.all_tasks()) <= tasks), (
        fd_count(),
        fds,
    )
    assert not [r for r in server_log.records if r.levelno >= logging.ERROR], (
        "nothing failed noisily"
    )


async def test_kernel_output_flood_is_bounded(srv: Any, sockets: list[Any]) -> None:
    client = await open_client(srv, sockets)
    body = {"path": "flood.ipynb", "type": "notebook", "name": "", "kernel": {"name": "python3"}}
    session = (
        await client.request("POST", f"{srv.base}api/sessions", body=json.dumps(body))
    ).json()
    path = f"http_over_websocket/proxied_ws/api/kernels/{session['kernel']['id']}/channels"
    ws = await connect(srv.url(path), subprotocols=[KERNEL_SUBPROTOCOL])
    sockets.append(ws)
    kernel = KernelChannel(ws)
    await kernel.execute("1")
    handler = server_handler_for(srv, ws)
    stream = handler.ws_connection.stream
    srv.bridge.max_buffered_bytes = 4 * 2**20
    # display_data is not limited by jupyter's iopub data rate limit: 2 MB per message
    kernel.send(
        "execute_request",
        {
            "code": (
                "from IPython.display import display\n"
                "for i in range(60): display({'text/plain': 'x' * 2_000_000}, raw=True)"
            ),
            "silent": False,
            "store_history": False,
            "user_expressions": {},
            "allow_stdin": False,
        },
    )
    peak = 0

    def check() -> bool:
        nonlocal peak
        peak = max(peak, len(stream._write_buffer))
        return handler.ws_connection is None or handler.ws_connection.is_closing()

    assert await until(check, 30), "the server must stop buffering for a page that does not read"
    print(f"\n[kernel flood] peak buffered {peak / 2**20:.1f} MiB before closing the kernel socket")
    assert peak < 4 * 2**20 + 3 * 2**20
    code, reason = await wait_closed(ws)
    assert code == 1008 and "not reading" in (reason or "")
    assert (await client.request("DELETE", f"{srv.base}api/sessions/{session['id']}")).status == 204


async def test_relayed_socket_flood_is_bounded(srv: Any, sockets: list[Any]) -> None:
    ws = await connect(srv.url(RELAY))
    sockets.append(ws)
    await ws.read_message()
    handler = server_handler_for(srv, ws)
    stream = handler.ws_connection.stream
    ws.write_message("flood 150")  # 150 MiB the page will not read for now
    last, stable = -1, 0
    while stable < 10:
        await asyncio.sleep(0.1)
        now = stream._total_write_index
        stable = stable + 1 if now == last else 0
        last = now
    print(
        f"\n[relay flood] bridge wrote {last / 2**20:.1f} MiB to the page's socket, "
        f"{len(stream._write_buffer) / 2**20:.2f} MiB in its buffer"
    )
    assert len(stream._write_buffer) <= 2 * 2**20
    assert last < 32 * 2**20
    received = 0
    while received < 150 * 2**20:
        received += len(await ws.read_message())
    assert received == 150 * 2**20


# == 8. Load ========================================================================
async def test_500_requests_on_one_socket(srv: Any, sockets: list[Any]) -> None:
    client = await open_client(srv, sockets)
    ids = [
        client.send(
            "GET", f"{srv.base}api/status" if i % 2 else f"{srv.base}api/kernelspecs", message_id=i
        )
        for i in range(500)
    ]
    replies = await client.wait(*ids)
    statuses = [r.status for r in replies]
    assert set(statuses) <= {200, 503}
    assert all(
        r.frames[-1]["done"] and [f["done"] for f in r.frames].count(True) == 1 for r in replies
    )
    print(f"\n[500 at once] {statuses.count(200)} x 200, {statuses.count(503)} x 503")
    # any stray frame for an id already done would fail in _absorb
    assert (await client.request("GET", f"{srv.base}api/status", message_id="last")).status == 200
    assert set(client.replies) == set(ids) | {"last"}


async def test_100_sockets_server_keeps_answering(
    srv: Any, jp_fetch: Any, jp_root_dir: Any
) -> None:
    (jp_root_dir / "mid.bin").write_bytes(os.urandom(1024 * 1024))
    await jp_fetch("api", "status")
    gc.collect()
    fds = fd_count()
    clients = await asyncio.gather(*(connect(srv.url()) for _ in range(100)))
    assert len(srv.bridge.open_connections) == 100
    bridges = [BridgeClient(ws) for ws in clients]
    for b in bridges:
        b.send("GET", f"{srv.base}files/mid.bin", message_id="dl")
    started = time.monotonic()
    status = await asyncio.wait_for(jp_fetch("api", "status"), 5)
    elapsed = time.monotonic() - started
    print(f"\n[100 sockets] GET api/status answered in {elapsed * 1000:.0f} ms")
    assert status.code == 200 and elapsed < 1.0
    done = await asyncio.gather(*(b.wait("dl") for b in bridges[:10]))
    assert all(r.status == 200 and len(r.body) == 1024 * 1024 for (r,) in done)
    for ws in clients:
        ws.close()
    assert await until(lambda: not srv.bridge.open_connections)
    assert await until(lambda: fd_count() <= fds), (fd_count(), fds)


# == 9. Fuzzing (bounded) ============================================================
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from jupyter_colab_bridge.protocol.auth_url import AuthUrlError, split_host, token_from_auth_url  # noqa: E402
from jupyter_colab_bridge.protocol.frames import FrameError, parse_request_frame  # noqa: E402
from jupyter_colab_bridge.protocol.paths import PathError, check_request_path  # noqa: E402
from jupyter_colab_bridge.server.base import extension_app  # noqa: E402
from jupyter_colab_bridge.server.handlers import DiagnoseHandler, HttpOverWebSocketHandler  # noqa: E402
from jupyter_colab_bridge.server.kernel_channels import KernelChannelsHandler  # noqa: E402
from jupyter_colab_bridge.server.proxied_ws import ProxiedWebSocketHandler  # noqa: E402

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


async def test_fuzz_paths_under_base_url_never_reach_the_bridge_or_leave_base(srv: Any) -> None:
    """Random paths built from tricky pieces, routed by the server's own router."""
    from posixpath import normpath
    from urllib.parse import unquote

    from tornado.httputil import HTTPHeaders, HTTPServerRequest, RequestStartLine

    web_app = srv.app.web_app
    base = srv.base
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
            headers=HTTPHeaders({"Host": f"127.0.0.1:{srv.port}"}),
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
