"""The port proxy, ``{base_url}_proxy/<port>/<path>`` (issue 25, item 2).

A real web app on a loopback port (tests.helpers.port_apps), reached through
the real server: directly with the token from Colab's origin, through the
tunnel and through ``proxied_ws``; and every bad input refused with a clear
reply, a log line, and the server serving on.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from tornado.websocket import websocket_connect

from jupyter_colab_bridge.protocol.port_proxy import (
    PortRangeError,
    ProxyRequestError,
    check_port,
    parse_port_ranges,
    parse_target,
    rewrite_location,
)
from tests.conftest import TOKEN
from tests.helpers.bridge_client import (
    COLAB_ORIGIN,
    connect,
    handshake_status,
    login_cookies,
    wait_closed,
)
from tests.helpers.port_apps import Drip, Silent, TargetApp, header_map, json_body
from tests.helpers.probes import Listener, until
from tests.helpers.servers import start_or_exit

COLAB = {"Origin": COLAB_ORIGIN, "Sec-Fetch-Mode": "cors"}
TOKEN_HEADER = {"Authorization": f"token {TOKEN}"}


@pytest.fixture
def app() -> Iterator[TargetApp]:
    """The target app on a free loopback port."""
    target = TargetApp()
    yield target
    target.close()


@pytest.fixture
def free_port() -> int:
    """A loopback port where nothing listens (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def proxy_ws_url(
    jp_http_port: int, base: str, port: int | str, path: str, token: str | None
) -> str:
    url = f"ws://127.0.0.1:{jp_http_port}{base}_proxy/{port}{path}"
    return f"{url}?token={quote(token)}" if token else url


# -- directly ----------------------------------------------------------------------------
async def test_get_reaches_the_app_with_the_prefix_stripped(fetch: Any, app: TargetApp) -> None:
    response = await fetch(f"_proxy/{app.port}/hello?x=1&token={TOKEN}", headers=dict(COLAB))
    assert response.code == 200
    echoed = json_body(response)
    assert echoed["uri"] == "/hello?x=1"  # prefix stripped, the server's token kept here
    sent = header_map(echoed["headers"])
    assert "Authorization" not in sent and "Cookie" not in sent
    assert sent["Host"] == f"127.0.0.1:{app.port}"
    assert response.headers["X-Target"] == "yes"
    assert response.headers["Access-Control-Allow-Origin"] == COLAB_ORIGIN  # direct mode's CORS


async def test_head_and_preflight(fetch: Any, app: TargetApp) -> None:
    head = await fetch(f"_proxy/{app.port}/bytes?n=1000", method="HEAD", headers=TOKEN_HEADER)
    assert head.code == 200 and head.body == b""
    assert head.headers["Content-Length"] == "1000"
    preflight = await fetch(
        f"_proxy/{app.port}/upload",
        method="OPTIONS",
        headers={**COLAB, "Access-Control-Request-Method": "PUT"},
    )
    assert preflight.code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == COLAB_ORIGIN


async def test_a_script_with_the_token_header(fetch: Any, app: TargetApp) -> None:
    response = await fetch(f"_proxy/{app.port}/hello", method="DELETE", headers=TOKEN_HEADER)
    assert response.code == 200 and json_body(response)["method"] == "DELETE"


async def test_large_bodies_stream_both_ways(fetch: Any, app: TargetApp) -> None:
    size = 24 * 1024 * 1024 + 7
    down = await fetch(f"_proxy/{app.port}/bytes?n={size}", headers=TOKEN_HEADER)
    assert down.code == 200 and len(down.body) == size
    assert down.headers["Content-Length"] == str(size)
    body = bytes(range(256)) * (16 * 1024 * 1024 // 256) + b"tail"
    up = await fetch(f"_proxy/{app.port}/upload", method="POST", headers=TOKEN_HEADER, body=body)
    assert up.code == 200
    assert json_body(up) == {"size": len(body), "sha256": hashlib.sha256(body).hexdigest()}


async def test_a_reply_streams_before_the_app_finishes(
    jp_http_port: int, jp_base_url: str, http_server_client: Any, app: TargetApp
) -> None:
    """The client gets the app's first piece while the app still waits to send the rest."""
    Drip.released = asyncio.Event()
    pieces: list[bytes] = []

    def got(chunk: bytes) -> None:
        pieces.append(chunk)
        Drip.released.set()  # only a streamed first piece lets the app finish

    request = HTTPRequest(
        f"http://127.0.0.1:{jp_http_port}{jp_base_url}_proxy/{app.port}/drip",
        headers=TOKEN_HEADER,
        streaming_callback=got,
        request_timeout=60,
    )
    response = await AsyncHTTPClient().fetch(request)
    assert response.code == 200 and b"".join(pieces) == b"first piece;the rest"


async def test_a_redirect_stays_on_the_proxy(fetch: Any, app: TargetApp, jp_base_url: str) -> None:
    response = await fetch(f"_proxy/{app.port}/redirect", headers=TOKEN_HEADER)
    assert response.code == 302
    assert response.headers["Location"] == f"{jp_base_url}_proxy/{app.port}/hello?from=redirect"


async def test_websocket_keeps_text_and_binary_frames(
    jp_http_port: int, jp_base_url: str, http_server_client: Any, app: TargetApp, sockets: list[Any]
) -> None:
    ws = await connect(proxy_ws_url(jp_http_port, jp_base_url, app.port, "/ws", TOKEN))
    sockets.append(ws)
    await ws.write_message("hello")
    assert await ws.read_message() == "hello"
    payload = bytes(range(256)) * 4096
    await ws.write_message(payload, binary=True)
    assert await ws.read_message() == payload


async def test_the_users_own_browser_tab_with_the_login_cookie(
    fetch: Any,
    app: TargetApp,
    jp_http_port: int,
    jp_base_url: str,
    sockets: list[Any],
) -> None:
    """As with JupyterLab: a navigation, and the app's own page (same origin), by the login.

    The server's login cookie and ``_xsrf`` never reach the app; the app's own cookies do.
    """
    cookies = await login_cookies(fetch, TOKEN)
    page = await fetch(f"_proxy/{app.port}/hello", headers={"Cookie": f"{cookies}; app=1"})
    assert page.code == 200
    assert header_map(json_body(page)["headers"])["Cookie"] == "app=1"
    same_origin = {"Origin": f"http://127.0.0.1:{jp_http_port}", "Cookie": cookies}
    posted = await fetch(f"_proxy/{app.port}/hello", method="POST", headers=same_origin, body="x")
    assert posted.code == 200 and json_body(posted)["method"] == "POST"
    ws = await connect(
        proxy_ws_url(jp_http_port, jp_base_url, app.port, "/ws", None),
        origin=same_origin["Origin"],
        headers={"Cookie": cookies},
    )
    sockets.append(ws)
    await ws.write_message("tab")
    assert await ws.read_message() == "tab"
    # the login cookie from another page: Colab's (refused, token needed) or a foreign one
    for origin in (COLAB_ORIGIN, "http://localhost:1"):
        refused = await fetch(
            f"_proxy/{app.port}/hello",
            method="POST",
            headers={**same_origin, "Origin": origin},
            body="x",
        )
        assert refused.code == 403


async def test_a_tab_opened_with_the_token_is_logged_in(fetch: Any, app: TargetApp) -> None:
    """``?token=`` on a navigation sets the server's login cookie (the how-to's step 2)."""
    first = await fetch(f"_proxy/{app.port}/hello?token={TOKEN}")
    assert first.code == 200
    cookies = [c.split(";", 1)[0] for c in first.headers.get_list("Set-Cookie")]
    login = [c for c in cookies if c.startswith("username-")]
    assert login
    again = await fetch(f"_proxy/{app.port}/hello", headers={"Cookie": login[0]})
    assert again.code == 200 and "Cookie" not in header_map(json_body(again)["headers"])


# -- refused -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("port", "path", "status", "message"),
    [
        ("0", "/hello", 400, "from 1 to 65535"),
        ("99999", "/hello", 400, "from 1 to 65535"),
        ("abc", "/hello", 400, "from 1 to 65535"),
        ("6006a", "/hello", 400, "from 1 to 65535"),
        ("22", "/hello", 403, "port_proxy_ports"),
        ("{app}", "/a%2Fb", 400, "encoded '/'"),
        ("{app}", "/a%5cb", 400, "encoded '/'"),
        ("{app}", "/x/../hello", 400, "'..' segments"),
        ("{app}", "/x/%2e%2E/hello", 400, "'..' segments"),
        ("{app}", "/%2e/hello", 400, "'..' segments"),
        ("{app}", "/%ff", 400, "UTF-8"),
    ],
)
async def test_bad_targets_are_refused_after_authentication(
    fetch: Any, app: TargetApp, server_log: Any, port: str, path: str, status: int, message: str
) -> None:
    port = port.replace("{app}", str(app.port))
    response = await fetch(f"_proxy/{port}{path}", headers=TOKEN_HEADER)
    assert response.code == status
    assert message in json_body(response)["message"]
    assert "port proxy refused" in server_log.text()
    assert (await fetch(f"_proxy/{app.port}/hello", headers=TOKEN_HEADER)).code == 200


@pytest.mark.parametrize("bridge_config", [{"direct_mode": False}])
async def test_cookie_only_from_colab_without_direct_mode(
    bridge_config: dict[str, Any], fetch: Any, app: TargetApp, listener: Listener
) -> None:
    """The proxy's own front check refuses it when direct mode's gate is off."""
    cookies = await login_cookies(fetch, TOKEN)
    for method, body in (("GET", None), ("POST", "x")):
        refused = await fetch(
            f"_proxy/{listener.port}/x",
            method=method,
            headers={**COLAB, "Cookie": cookies},
            body=body,
        )
        assert refused.code == 403
    assert listener.connections() == 0


async def test_post_asking_to_upgrade_is_plain_http(fetch: Any, app: TargetApp) -> None:
    headers = {**TOKEN_HEADER, "Connection": "Upgrade", "Upgrade": "websocket"}
    response = await fetch(f"_proxy/{app.port}/hello", method="POST", headers=headers, body="x")
    assert response.code == 200 and json_body(response)["method"] == "POST"


async def test_the_servers_own_port_is_refused(fetch: Any, jp_http_port: int) -> None:
    response = await fetch(f"_proxy/{jp_http_port}/api/status", headers=TOKEN_HEADER)
    assert response.code == 403
    assert "own port" in json_body(response)["message"]


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-token"),
        pytest.param({"Authorization": "token wrong"}, id="wrong-token"),
        pytest.param({"Origin": "https://evil.example", **TOKEN_HEADER}, id="foreign-origin"),
        pytest.param({**COLAB, "Cookie": "username-x=y"}, id="cookie-only-from-colab"),
    ],
)
async def test_refused_without_credentials_and_nothing_is_sent(
    fetch: Any, headers: dict[str, str], listener: Listener, app: TargetApp
) -> None:
    """An unauthenticated request never reaches the target, nor gets its path judged."""
    response = await fetch(f"_proxy/{listener.port}/x", method="POST", headers=headers, body="x")
    assert response.code == 403
    get = await fetch(f"_proxy/{listener.port}/x", headers=headers)
    assert get.code in (302, 403)  # a navigation without credentials meets the login page
    bad = await fetch("_proxy/99999/x", headers=headers)
    assert bad.code in (302, 403)  # not 400: the path is not parsed before authentication
    assert listener.connections() == 0
    assert (await fetch(f"_proxy/{app.port}/hello", headers=TOKEN_HEADER)).code == 200


@pytest.mark.parametrize(
    ("origin", "token"),
    [
        pytest.param(COLAB_ORIGIN, None, id="no-token"),
        pytest.param("https://evil.example", TOKEN, id="foreign-origin"),
    ],
)
async def test_websocket_refused_before_the_upgrade(
    jp_http_port: int,
    jp_base_url: str,
    http_server_client: Any,
    listener: Listener,
    origin: str,
    token: str | None,
) -> None:
    url = proxy_ws_url(jp_http_port, jp_base_url, listener.port, "/ws", token)
    assert await handshake_status(url, origin=origin) == 403
    assert listener.connections() == 0


async def test_502_when_nothing_listens(
    fetch: Any, free_port: int, jp_http_port: int, jp_base_url: str, server_log: Any
) -> None:
    response = await fetch(f"_proxy/{free_port}/x", headers=TOKEN_HEADER)
    assert response.code == 502
    assert response.headers["Content-Type"] == "application/json"
    assert f"Nothing answers on port {free_port}" in json_body(response)["message"]
    assert f"nothing answers on port {free_port}" in server_log.text()
    url = proxy_ws_url(jp_http_port, jp_base_url, free_port, "/ws", TOKEN)
    assert await handshake_status(url) == 502


async def test_an_app_that_cuts_its_reply_short(
    fetch: Any, app: TargetApp, server_log: Any
) -> None:
    with pytest.raises(HTTPClientError) as e:  # the connection closes mid-body
        await fetch(f"_proxy/{app.port}/short", headers=TOKEN_HEADER)
    assert e.value.code == 599
    assert "cut its reply short" in server_log.text()
    assert "Uncaught exception" not in server_log.text()
    assert (await fetch(f"_proxy/{app.port}/hello", headers=TOKEN_HEADER)).code == 200


async def test_a_client_that_leaves_mid_download(
    jp_http_port: int, jp_base_url: str, app: TargetApp, fetch: Any, server_log: Any
) -> None:
    """The proxy stops reading from the app, logs one INFO line, no error, and serves on."""
    request = (
        f"GET {jp_base_url}_proxy/{app.port}/bytes?n={1 << 30} HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{jp_http_port}\r\nAuthorization: token {TOKEN}\r\n\r\n"
    )
    reader, writer = await asyncio.open_connection("127.0.0.1", jp_http_port)
    try:
        writer.write(request.encode())
        assert (await reader.readexactly(1 << 20))[:12] == b"HTTP/1.1 200"
    finally:
        writer.close()
    assert await until(lambda: "the client left before the reply" in server_log.text())
    assert "Uncaught" not in server_log.text() and "ERROR" not in server_log.text()
    assert (await fetch(f"_proxy/{app.port}/hello", headers=TOKEN_HEADER)).code == 200


@pytest.mark.parametrize("bridge_config", [{"request_timeout": 0.5}])
async def test_an_app_that_does_not_answer(
    bridge_config: dict[str, Any], fetch: Any, app: TargetApp
) -> None:
    """504 after ColabBridge.request_timeout (set low here; no timing is asserted)."""
    Silent.released = asyncio.Event()
    try:
        response = await fetch(f"_proxy/{app.port}/silent", headers=TOKEN_HEADER)
    finally:
        Silent.released.set()
    assert response.code == 504
    assert "did not answer within 0.5 s" in json_body(response)["message"]


# -- through the tunnel ----------------------------------------------------------------------
async def test_through_the_tunnel(
    open_bridge: Any, app: TargetApp, jp_base_url: str, free_port: int
) -> None:
    bridge = await open_bridge()
    reply = await bridge.request("GET", f"{jp_base_url}_proxy/{app.port}/hello?q=1")
    assert reply.status == 200 and json_body(reply)["uri"] == "/hello?q=1"
    assert "Authorization" not in header_map(json_body(reply)["headers"])
    body = b"\x00\xff" * 300_000
    reply = await bridge.request(
        "POST",
        f"{jp_base_url}_proxy/{app.port}/upload",
        body_base64=base64.b64encode(body).decode(),
    )
    assert reply.status == 200 and json_body(reply)["sha256"] == hashlib.sha256(body).hexdigest()
    size = 5 * 1024 * 1024
    reply = await bridge.request("GET", f"{jp_base_url}_proxy/{app.port}/bytes?n={size}")
    assert reply.status == 200 and len(reply.body) == size
    reply = await bridge.request("GET", f"{jp_base_url}_proxy/{free_port}/")
    assert reply.status == 502 and "Nothing answers" in json_body(reply)["message"]
    reply = await bridge.request("GET", f"{jp_base_url}_proxy/0/")
    assert reply.status == 400


async def test_through_proxied_ws(open_bridge: Any, app: TargetApp) -> None:
    client = await open_bridge(f"http_over_websocket/proxied_ws/_proxy/{app.port}/ws")
    await client.ws.write_message("over the tunnel")
    assert await client.ws.read_message() == "over the tunnel"
    await client.ws.write_message(b"\x00\x01\xfe\xff", binary=True)
    assert await client.ws.read_message() == b"\x00\x01\xfe\xff"


async def test_proxied_ws_to_nothing_closes_with_the_status(
    url: Any, free_port: int, sockets: list[Any]
) -> None:
    ws = await connect(url(f"http_over_websocket/proxied_ws/_proxy/{free_port}/ws"))
    sockets.append(ws)
    code, _ = await wait_closed(ws)
    assert code == 502


async def test_proxied_ws_without_credentials(url: Any, app: TargetApp) -> None:
    assert (
        await handshake_status(
            url(f"http_over_websocket/proxied_ws/_proxy/{app.port}/ws", token=None)
        )
        == 403
    )


# -- settings ----------------------------------------------------------------------------------
@pytest.mark.parametrize("bridge_config", [{"port_proxy": False}])
async def test_turned_off(bridge_config: dict[str, Any], fetch: Any, app: TargetApp) -> None:
    assert (await fetch(f"_proxy/{app.port}/hello", headers=TOKEN_HEADER)).code == 404


@pytest.fixture
def allowed_app() -> Iterator[TargetApp]:
    target = TargetApp()
    yield target
    target.close()


async def test_only_the_configured_ports(
    fetch: Any, bridge_app: Any, allowed_app: TargetApp, app: TargetApp
) -> None:
    bridge_app.port_proxy_ports = f"{allowed_app.port}"
    assert (await fetch(f"_proxy/{allowed_app.port}/hello", headers=TOKEN_HEADER)).code == 200
    refused = await fetch(f"_proxy/{app.port}/hello", headers=TOKEN_HEADER)
    assert refused.code == 403 and str(allowed_app.port) in json_body(refused)["message"]


@pytest.mark.parametrize(
    ("value", "message"),
    [("80-", "'80-' is not a port or a range"), ("7000-6000", "low to high")],
)
def test_a_bad_port_list_stops_the_server(tmp_path: Path, value: str, message: str) -> None:
    code, log = start_or_exit(tmp_path, f"--ColabBridge.port_proxy_ports={value}")
    assert code not in (None, 0), log[-2000:]
    assert "ColabBridge.port_proxy_ports" in log and message in log
    assert "is running at" not in log


# -- the pure rules -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("spec", "canonical"),
    [("1024-65535", "1024-65535"), (" 8501, 6006 ,7860-7870", "6006,7860-7870,8501")],
)
def test_port_ranges(spec: str, canonical: str) -> None:
    assert parse_port_ranges(spec).describe() == canonical


@pytest.mark.parametrize(
    "spec", ["", "0", "65536", "9-1", "80,", "a", "1-2-3", "+80", "\uff18\uff10"]
)
def test_bad_port_ranges(spec: str) -> None:
    with pytest.raises(PortRangeError):
        parse_port_ranges(spec)


def test_port_rules() -> None:
    allowed = parse_port_ranges("1024-65535")
    check_port(6006, allowed, {8888})
    for port, own in ((8888, {8888}), (1023, {8888}), (80, set())):
        with pytest.raises(ProxyRequestError) as e:
            check_port(port, allowed, own)
        assert e.value.status == 403
    assert parse_target("6006").path == "/"
    assert parse_target("6006/a%20b/c.png") == parse_target("6006/a%20b/c.png")
    assert parse_target("06006/x").port == 6006


def test_location_rewrites() -> None:
    prefix = "/a%40b/_proxy/6006"
    assert rewrite_location("/x?y=1", 6006, prefix) == f"{prefix}/x?y=1"
    assert rewrite_location("http://127.0.0.1:6006/x", 6006, prefix) == f"{prefix}/x"
    assert rewrite_location("http://localhost:6006", 6006, prefix) == f"{prefix}/"
    for kept in ("//evil.example/x", "https://example.com/x", "http://127.0.0.1:7000/x", "x/y"):
        assert rewrite_location(kept, 6006, prefix) == kept


async def test_target_socket_is_closed_after_a_refusal(fetch: Any, app: TargetApp) -> None:
    """A refusal of the target (its own 404) is relayed as it is, not as the proxy's error."""
    response = await fetch(f"_proxy/{app.port}/missing", headers=TOKEN_HEADER)
    assert response.code == 404


async def test_websocket_target_refusal_is_a_502(
    jp_http_port: int, jp_base_url: str, http_server_client: Any, app: TargetApp
) -> None:
    url = proxy_ws_url(jp_http_port, jp_base_url, app.port, "/hello", TOKEN)
    request = HTTPRequest(url, headers={"Origin": COLAB_ORIGIN})
    with pytest.raises(HTTPClientError) as e:
        await websocket_connect(request)
    assert e.value.code == 502
    assert json.loads(e.value.response.body)["message"].startswith(f"The app on port {app.port}")


# -- the doctor ------------------------------------------------------------------------
async def _doctor_line(jp_http_port: int, jp_base_url: str) -> Any:
    from jupyter_colab_bridge.backend_url import Target
    from jupyter_colab_bridge.doctor.checks import CHECKS, Observed
    from jupyter_colab_bridge.doctor.colab_client import BridgeSession
    from jupyter_colab_bridge.doctor.diagnoses import CheckId

    target = Target.parse(f"http://127.0.0.1:{jp_http_port}{jp_base_url}?token={TOKEN}")
    session = await BridgeSession.open(target)
    try:
        (check,) = [c for c in CHECKS if c.id is CheckId.PORT_PROXY]
        (result,) = await check.observe(Observed(target=target, session=session))
    finally:
        session.close()
    return result


async def test_the_doctor_sees_the_proxy(
    jp_http_port: int, jp_base_url: str, http_server_client: Any
) -> None:
    result = await _doctor_line(jp_http_port, jp_base_url)
    assert (str(result.status), result.title) == ("pass", "Port proxy (_proxy/<port>/)")
    assert "_proxy/N/" in result.summary


@pytest.mark.parametrize("bridge_config", [{"port_proxy": False}])
async def test_the_doctor_sees_it_off(
    bridge_config: dict[str, Any], jp_http_port: int, jp_base_url: str, http_server_client: Any
) -> None:
    result = await _doctor_line(jp_http_port, jp_base_url)
    assert str(result.status) == "info", result
    assert "ColabBridge.port_proxy = False" in result.summary
