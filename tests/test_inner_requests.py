"""What a tunnelled request may be: its path, method and headers, and what comes back.

Bad paths, methods and frames get a 400 reply frame (no traceback) and the
socket keeps serving; inner requests carry only allowlisted headers; redirects
are returned, not followed; replies never carry Set-Cookie.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest

from tests.helpers.bridge_client import (
    BridgeClient,
    connect,
)
from tests.helpers.cases import (
    BAD_REQUEST_PATHS,
    SECRET,
)
from tests.helpers.probes import (
    Listener,
)


@pytest.fixture
def token() -> str:
    """The server's token: one whose URL-encoded forms differ from the raw one."""
    return SECRET


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


@pytest.mark.usefixtures("probe_routes")
async def test_bad_paths_and_methods_get_400_with_message_id(
    open_bridge: Any, jp_base_url: str
) -> None:
    """From the adversarial tests (issue 3)."""
    assert jp_base_url == "/a%40b/"
    client = await open_bridge()
    cases = [("GET", p) for p in BAD_REQUEST_PATHS]
    cases += [(m, f"{jp_base_url}api/status") for m in BAD_METHODS]
    ids = []
    for i, (method, path) in enumerate(cases):
        ids.append(client.send(method, path, message_id=f"bad-{i}"))
    for reply, (method, path) in zip(await client.wait(*ids), cases):
        assert reply.status == 400, (method, path, reply.status)
        assert len(reply.frames) == 1 and reply.frames[0]["done"] is True
        assert reply.status_text.startswith("Invalid request.")
    assert (await client.request("GET", f"{jp_base_url}api/status")).status == 200


@pytest.mark.usefixtures("probe_routes")
async def test_redirects_are_returned_not_followed(
    jp_base_url: str, open_bridge: Any, listener: Listener
) -> None:
    """From the adversarial tests (issue 3)."""
    client = await open_bridge()
    for target in (
        f"http://127.0.0.1:{listener.port}/steal",
        f"{jp_base_url}api/status",
        "//evil.example/x",
    ):
        reply = await client.request(
            "GET", f"{jp_base_url}adv-redirect?to={quote(target, safe='')}"
        )
        assert reply.status == 302
        assert reply.headers["Location"] == target
    # jupyter_server's own redirect: the login page of a logged-in user.
    reply = await client.request(
        "GET", f"{jp_base_url}login?next={quote(jp_base_url + 'api/status', safe='')}"
    )
    assert reply.status == 302 and reply.headers["Location"] == f"{jp_base_url}api/status"
    assert listener.connections() == 0


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


@pytest.mark.usefixtures("probe_routes")
async def test_malformed_frames_get_400_without_traceback(
    jp_base_url: str, open_bridge: Any, server_log: Any
) -> None:
    """From the adversarial tests (issue 3)."""
    client = await open_bridge()
    for frame in MALFORMED:
        client.ws.write_message(frame)
        reply = await client.error_frame()
        assert reply["status"] == 400, frame[:80]
        assert "Traceback" not in json.dumps(reply) and len(json.dumps(reply)) < 1000
        assert reply.get("message_id") in (None, "m")
    assert (await client.request("GET", f"{jp_base_url}api/status")).status == 200
    assert not [r for r in server_log.records if r.exc_info], "no traceback logged for a bad frame"


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


@pytest.mark.usefixtures("probe_routes")
async def test_inner_requests_carry_only_allowlisted_headers(
    jp_base_url: str, jp_http_port: int, open_bridge: Any
) -> None:
    """From the adversarial tests (issue 3)."""
    client = await open_bridge(headers=dict(HOSTILE_HANDSHAKE_HEADERS))
    get = await client.request("GET", f"{jp_base_url}adv-headers")
    post = await client.request("POST", f"{jp_base_url}adv-headers", body="hello")
    # a frame cannot add headers either
    client.ws.write_message(
        json.dumps(
            {
                "message_id": "h",
                "method": "PUT",
                "path": f"{jp_base_url}adv-headers",
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
        assert values["host"] == f"127.0.0.1:{jp_http_port}"
        assert values["authorization"] == f"token {SECRET}"
        assert not any(k.lower() == "set-cookie" for k in reply.headers)
    assert dict((k.lower(), v) for k, v in put.json()["headers"])["content-length"] == "3"
    assert put.json()["body"] == "abc"


@pytest.mark.usefixtures("probe_routes")
async def test_cookie_socket_carries_cookie_and_xsrf_only(
    jp_base_url: str, bridge_app: Any, open_bridge: Any, jp_fetch: Any
) -> None:
    """The original's cookie flow (ColabBridge.allow_cookie_auth on): cookie and _xsrf only.

    From the adversarial tests (issue 3).
    """
    bridge_app.allow_cookie_auth = True
    response = await jp_fetch("api", "status")
    cookies = response.headers.get_list("Set-Cookie")
    login = next(c for c in cookies if c.startswith("username-")).split(";", 1)[0]
    cookie = f"{login}; _xsrf=2|aa|bb|1"
    client = await open_bridge(
        token=None,
        headers={"Cookie": cookie, "X-Forwarded-For": "6.6.6.6", "X-XSRFToken": "page-sent"},
    )
    post = await client.request("POST", f"{jp_base_url}adv-headers", body="x")
    headers = dict((k.lower(), v) for k, v in post.json()["headers"])
    assert set(headers) == {"host", "cookie", "x-xsrftoken", "content-length"}
    assert headers["cookie"] == cookie and headers["x-xsrftoken"] == "2|aa|bb|1"
    get = await client.request("GET", f"{jp_base_url}adv-headers")
    assert {k.lower() for k, _ in get.json()["headers"]} == {"host", "cookie"}


@pytest.mark.usefixtures("probe_routes")
async def test_replies_never_carry_set_cookie(jp_base_url: str, open_bridge: Any) -> None:
    """From the adversarial tests (issue 3)."""
    client = await open_bridge()
    for path in ("adv-headers", "api/status", "login", "adv-redirect?to=/x"):
        reply = await client.request("GET", f"{jp_base_url}{path}")
        assert not any(k.lower() == "set-cookie" for k in reply.headers), (path, reply.headers)
        assert "should-not-reach-the-page" not in json.dumps(reply.headers)


async def test_tunnelled_requests_get_no_xsrf_header(
    jp_serverapp: Any, url: Any, sockets: list[Any], token: str
) -> None:
    """The bridge adds X-XSRFToken only for cookie sockets, which need allow_cookie_auth.

    From the first security review (issue 12).
    """
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
