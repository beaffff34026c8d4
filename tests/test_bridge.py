"""The http_over_websocket and diagnose endpoints against a real server."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
from typing import Any

import pytest
from jupyter_server.base.handlers import JupyterHandler
from tornado import web

from jupyter_colab_bridge.protocol.frames import MAX_CHUNK_BYTES, TEXT_INTERNAL_ERROR
from jupyter_colab_bridge.protocol.handshake import PROTOCOL_VERSION
from tests.helpers.bridge_client import (
    COLAB_ORIGINS,
    BridgeClient,
    connected,
    handshake_status,
    wait_closed,
)

COLAB_PARAMS = {"min_version": "0.0.7"}  # what Colab's page sends


# -- install and routes ---------------------------------------------------------
def test_extension_loaded_with_config_section(jp_serverapp: Any, bridge_app: Any) -> None:
    from jupyter_colab_bridge import _jupyter_server_extension_points
    from jupyter_colab_bridge.app import ColabBridge

    assert _jupyter_server_extension_points() == [
        {"module": "jupyter_colab_bridge", "app": ColabBridge}
    ]
    assert type(bridge_app).__name__ == "ColabBridge"
    assert bridge_app.allowed_origins == COLAB_ORIGINS
    assert bridge_app.allow_cookie_auth is False
    assert bridge_app.allowed_origin_patterns == []


# -- the auth-URL flow ------------------------------------------------------------
async def test_kernelspecs_through_auth_url_flow(open_bridge: Any, jp_base_url: str) -> None:
    bridge = await open_bridge(params=COLAB_PARAMS)
    reply = await bridge.request("GET", f"{jp_base_url}api/kernelspecs")
    assert reply.status == 200 and reply.status_text == "OK"
    assert "python3" in reply.json()["kernelspecs"]
    assert reply.headers["Content-Type"].startswith("application/json")
    assert len(reply.frames) == 1 and reply.frames[0]["done"] is True
    assert not any(h.lower() == "set-cookie" for h in reply.headers)


async def test_upstream_errors_are_ordinary_replies(open_bridge: Any, jp_base_url: str) -> None:
    bridge = await open_bridge(params=COLAB_PARAMS)
    reply = await bridge.request("GET", f"{jp_base_url}api/contents/does-not-exist.txt")
    assert reply.status == 404 and reply.status_text == "Not Found"
    reply = await bridge.request("GET", f"{jp_base_url}api/kernels/not-a-kernel")
    assert reply.status == 404


async def test_empty_body_reply_is_one_frame_without_data(
    open_bridge: Any, jp_base_url: str, jp_root_dir: Any
) -> None:
    bridge = await open_bridge(params=COLAB_PARAMS)
    (jp_root_dir / "gone.txt").write_text("x")
    reply = await bridge.request("DELETE", f"{jp_base_url}api/contents/gone.txt")
    assert reply.status == 204
    assert reply.frames == [
        {
            "message_id": reply.message_id,
            "status": 204,
            "statusText": "No Content",
            "headers": reply.headers,
            "done": True,
        }
    ]
    assert not (jp_root_dir / "gone.txt").exists()


async def test_method_is_case_insensitive_and_unknown_method_is_relayed(
    open_bridge: Any, jp_base_url: str
) -> None:
    bridge = await open_bridge(params=COLAB_PARAMS)
    assert (await bridge.request("get", f"{jp_base_url}api/status")).status == 200
    assert (await bridge.request("PROPFIND", f"{jp_base_url}api/status")).status == 405


async def test_binary_file_round_trip(open_bridge: Any, jp_base_url: str, jp_root_dir: Any) -> None:
    bridge = await open_bridge(params=COLAB_PARAMS)
    data = os.urandom(300_000) + bytes(range(256))
    model = {"type": "file", "format": "base64", "content": base64.b64encode(data).decode()}
    body = json.dumps(model).encode()
    put = await bridge.request(
        "PUT", f"{jp_base_url}api/contents/blob.bin", body_base64=base64.b64encode(body).decode()
    )
    assert put.status == 201, put.body
    assert (jp_root_dir / "blob.bin").read_bytes() == data
    got = await bridge.request(
        "GET", f"{jp_base_url}api/contents/blob.bin?content=1&format=base64&type=file"
    )
    assert base64.b64decode(got.json()["content"]) == data
    raw = await bridge.request("GET", f"{jp_base_url}files/blob.bin")
    assert raw.status == 200 and raw.body == data


async def test_body_base64_bytes_reach_the_server_as_bytes(
    open_bridge: Any, jp_fetch: Any, jp_base_url: str
) -> None:
    # Invalid UTF-8 is not decoded by the bridge: the server answers it exactly as a direct call.
    bridge = await open_bridge(params=COLAB_PARAMS)
    raw = b"\xff\xfe{"
    direct = await jp_fetch("api", "sessions", method="POST", body=raw, raise_error=False)
    reply = await bridge.request(
        "POST", f"{jp_base_url}api/sessions", body_base64=base64.b64encode(raw).decode()
    )
    assert reply.status == direct.code
    assert reply.body == direct.body


async def test_streamed_5mb_download(open_bridge: Any, jp_base_url: str, jp_root_dir: Any) -> None:
    bridge = await open_bridge(params=COLAB_PARAMS)
    data = os.urandom(5 * 1024 * 1024 + 123)
    (jp_root_dir / "big.bin").write_bytes(data)
    reply = await bridge.request("GET", f"{jp_base_url}files/big.bin")
    assert reply.status == 200
    assert reply.body == data
    assert len(reply.frames) >= len(data) // MAX_CHUNK_BYTES
    first, *rest = reply.frames
    assert {"status", "statusText", "headers", "data", "done"} <= set(first)
    for frame in reply.frames:
        assert len(base64.b64decode(frame["data"])) <= MAX_CHUNK_BYTES
    for frame in rest:
        assert set(frame) == {"message_id", "data", "done"}
    assert [f["done"] for f in reply.frames].count(True) == 1 and reply.frames[-1]["done"]


async def test_fifty_requests_in_flight(
    open_bridge: Any, jp_base_url: str, jp_root_dir: Any
) -> None:
    bridge = await open_bridge(params=COLAB_PARAMS)
    for i in range(10):
        (jp_root_dir / f"f{i}.txt").write_text(f"file {i}" * (i * 1000 + 1))
    ids = []
    for i in range(50):
        path = f"{jp_base_url}api/status" if i % 2 else f"{jp_base_url}files/f{i % 10}.txt"
        ids.append(bridge.send("GET", path, message_id=f"m{i}"))
    replies = await bridge.wait(*ids)
    assert [r.status for r in replies] == [200] * 50
    for i, reply in enumerate(replies):
        if not i % 2:
            assert reply.body.decode() == f"file {i % 10}" * ((i % 10) * 1000 + 1)


class SlowHandler(JupyterHandler):
    """A test-only endpoint that answers once the test releases it."""

    release: asyncio.Event

    @web.authenticated
    async def get(self) -> None:
        await asyncio.wait_for(SlowHandler.release.wait(), 30)
        self.finish("slow done")


async def test_requests_run_concurrently(
    open_bridge: Any, jp_serverapp: Any, jp_base_url: str
) -> None:
    """The slow request is released only once the quick one, sent after it, is answered."""
    SlowHandler.release = asyncio.Event()
    jp_serverapp.web_app.add_handlers(".*$", [(f"{jp_base_url}test-slow", SlowHandler)])
    bridge = await open_bridge(params=COLAB_PARAMS)
    slow = bridge.send("GET", f"{jp_base_url}test-slow")
    quick = bridge.send("GET", f"{jp_base_url}api/status")
    (reply,) = await asyncio.wait_for(bridge.wait(quick), 30)
    assert reply.status == 200, "a slow request must not hold up the others"
    assert slow not in bridge.done
    SlowHandler.release.set()
    (slow_reply,) = await bridge.wait(slow)
    assert slow_reply.body == b"slow done"


# -- bad frames --------------------------------------------------------------------
BAD_FRAMES = [
    ("not json", {"status": 400, "statusText": "JSON input is required.", "done": True}),
    ("[1, 2]", {"status": 400, "statusText": "JSON input is required.", "done": True}),
    ('{"message_id": "a", "method": "GET"}', {"message_id": "a", "status": 400}),
    ('{"message_id": "b", "method": 7, "path": "/"}', {"message_id": "b", "status": 400}),
    ('{"message_id": "c", "method": "GET", "path": ["x"]}', {"message_id": "c", "status": 400}),
    (
        '{"message_id": "d", "method": "PUT", "path": "/x", "body_base64": "***"}',
        {"message_id": "d", "status": 400},
    ),
    (
        '{"message_id": "e", "method": "GET", "path": "http://evil.example/"}',
        {"message_id": "e", "status": 400},
    ),
    ('{"message_id": "f", "method": "CONNECT", "path": "/"}', {"message_id": "f", "status": 400}),
]


@pytest.mark.parametrize(("frame", "expected"), BAD_FRAMES)
async def test_bad_frames_get_error_replies_and_socket_keeps_serving(
    open_bridge: Any, jp_base_url: str, frame: str, expected: dict[str, Any]
) -> None:
    bridge = await open_bridge(params=COLAB_PARAMS)
    bridge.ws.write_message(frame)
    reply = await bridge.error_frame()
    assert expected.items() <= reply.items()
    if reply["status"] == 400 and "message_id" in expected and frame.count("path") == 0:
        assert reply["statusText"].startswith(
            "Invalid request. The body must contain the following keys:"
        )
    assert "Traceback" not in reply["statusText"]
    assert (await bridge.request("GET", f"{jp_base_url}api/status")).status == 200


async def test_binary_frame_is_not_json(open_bridge: Any, jp_base_url: str) -> None:
    bridge = await open_bridge(params=COLAB_PARAMS)
    bridge.ws.write_message(b"\x00\x01", binary=True)
    assert (await bridge.error_frame())["statusText"] == "JSON input is required."
    assert (await bridge.request("GET", f"{jp_base_url}api/status")).status == 200


# -- min_version -----------------------------------------------------------------------
@pytest.mark.parametrize("version", ["0.0.1a2", "0.0.1a3", "0.0.7"])
async def test_supported_min_versions(
    jp_serverapp: Any, url: Any, jp_base_url: str, version: str
) -> None:
    async with connected(url(params={"min_version": version})) as ws:
        assert (await BridgeClient(ws).request("GET", f"{jp_base_url}api/status")).status == 200


async def test_invalid_min_version_closes_400(jp_serverapp: Any, url: Any) -> None:
    async with connected(url(params={"min_version": "not.a.version!"})) as ws:
        assert await wait_closed(ws) == (400, 'Invalid "min_version" provided: not.a.version!')


async def test_newer_min_version_closes_400_and_logs(
    jp_serverapp: Any, url: Any, server_log: Any
) -> None:
    async with connected(url(params={"min_version": "9.0.0"})) as ws:
        reason = (
            f"Requested version (9.0.0) > Current version ({PROTOCOL_VERSION}). "
            "Please upgrade this package."
        )
        assert await wait_closed(ws) == (400, reason)
        assert any(r.levelname == "ERROR" and reason in r.getMessage() for r in server_log.records)


# -- diagnose ----------------------------------------------------------------------------
async def test_diagnose_without_credentials(jp_serverapp: Any, url: Any) -> None:
    async with connected(
        url("http_over_websocket/diagnose", token=None, params={"min_version": "0.0.7"})
    ) as ws:
        ws.write_message("1")
        assert json.loads(await ws.read_message()) == {
            "message_id": "1",
            "extension_version": PROTOCOL_VERSION,
            "has_authentication_cookie": False,
            "is_outdated_extension": False,
        }


async def test_diagnose_reports_cookie_and_outdated(jp_serverapp: Any, url: Any) -> None:
    async with connected(
        url("http_over_websocket/diagnose", params={"min_version": "0.0.8"}),
        headers={"Cookie": "_xsrf=abc"},
    ) as ws:
        for mid in ("x", "y"):
            ws.write_message(mid)
            reply = json.loads(await ws.read_message())
            assert reply["message_id"] == mid
            assert reply["has_authentication_cookie"] is True
            assert reply["is_outdated_extension"] is True


# -- origins and authentication -------------------------------------------------------
ENDPOINTS = [
    "http_over_websocket",
    "http_over_websocket/diagnose",
    "http_over_websocket/proxied_ws/api/events/subscribe",
]


@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_disallowed_origin_refused_with_token(
    jp_serverapp: Any, url: Any, endpoint: str, server_log: Any
) -> None:
    status = await handshake_status(url(endpoint), origin="https://evil.example")
    assert status == 403
    warnings = [r for r in server_log.records if "https://evil.example" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].levelname == "WARNING"


@pytest.mark.parametrize(
    "endpoint", ["http_over_websocket", "http_over_websocket/proxied_ws/api/events/subscribe"]
)
async def test_unauthenticated_handshake_refused(
    jp_serverapp: Any, url: Any, endpoint: str
) -> None:
    status = await handshake_status(url(endpoint, token=None))
    assert status == 403


async def test_wrong_token_in_auth_url_refused(
    jp_serverapp: Any, url: Any, server_log: Any
) -> None:
    status = await handshake_status(url(token="wrong-token"))
    assert status == 403
    assert "wrong-token" not in server_log.text()


async def test_auth_url_of_another_server_is_never_contacted(jp_serverapp: Any, url: Any) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.setblocking(False)
    other_port = listener.getsockname()[1]
    try:
        for host in (f"127.0.0.1:{other_port}", f"localhost:{other_port}", "evil.example"):
            status = await handshake_status(url(auth_host=host))
            assert status == 403
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody connected to the other port
    finally:
        listener.close()


async def test_cross_domain_auth_url_with_other_credentials_gets_500_replies(
    jp_serverapp: Any, url: Any, jp_base_url: str, token: str
) -> None:
    async with connected(
        url(auth_host="evil.example"), headers={"Authorization": f"token {token}"}
    ) as ws:
        client = BridgeClient(ws)
        reply = await client.request("GET", f"{jp_base_url}api/status")
        assert (reply.status, reply.status_text) == (500, TEXT_INTERNAL_ERROR)


@pytest.mark.parametrize("how", ["header", "query"])
async def test_other_token_carriers(
    jp_serverapp: Any, open_bridge: Any, jp_base_url: str, token: str, how: str
) -> None:
    if how == "header":
        client = await open_bridge(token=None, headers={"Authorization": f"token {token}"})
    else:
        client = await open_bridge(token=None, params={"token": token})
    reply = await client.request(
        "POST", f"{jp_base_url}api/contents", body=json.dumps({"type": "notebook"})
    )
    assert reply.status == 201


async def test_cookie_authenticated_socket_follows_xsrf_rules(
    jp_serverapp: Any, jp_fetch: Any, url: Any, jp_base_url: str, bridge_app: Any
) -> None:
    """The original's cookie flow, with ColabBridge.allow_cookie_auth on."""
    bridge_app.allow_cookie_auth = True
    # Log in the way a browser does: the token URL sets the login cookie.
    response = await jp_fetch("api", "status")
    login = [c for c in response.headers.get_list("Set-Cookie") if c.startswith("username-")]
    assert login, "the server sets a login cookie for a token-authenticated request"
    login_cookie = login[0].split(";", 1)[0]
    xsrf = "2|deadbeef|0123456789abcdef0123456789abcdef|1700000000"

    async with connected(
        url(token=None), headers={"Cookie": f"{login_cookie}; _xsrf={xsrf}"}
    ) as ws:
        client = BridgeClient(ws)
        assert (await client.request("GET", f"{jp_base_url}api/status")).status == 200
        created = await client.request(
            "POST", f"{jp_base_url}api/contents?type=notebook", body="{}"
        )
        assert created.status == 201, created.body

    async with connected(url(token=None), headers={"Cookie": login_cookie}) as ws:
        client = BridgeClient(ws)
        refused = await client.request("POST", f"{jp_base_url}api/contents", body="{}")
        assert refused.status == 403, "without an _xsrf cookie the server's XSRF check applies"


async def test_banner_names_url_and_origins(
    bridge_app: Any, jp_serverapp: Any, jp_http_port: int, jp_base_url: str, token: str
) -> None:
    url = bridge_app.backend_url(mask_configured_token=False)
    assert url == f"http://localhost:{jp_http_port}{jp_base_url}?token={token}" or url.endswith(
        f":{jp_http_port}{jp_base_url}?token={token}"
    )
