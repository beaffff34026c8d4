"""Colab's two ways in, against a real JupyterHub (issue 11).

A Hub user pastes ``https://hub.example.org/user/alice/?token=<Hub API
token>`` into Colab. Here the Hub runs on 127.0.0.1 (tests/hub_server.py):
everything goes through its proxy to alice's ``jupyterhub-singleuser``
server, authenticated by a Hub API token of alice's, and every request
carries the headers Chromium sends on Colab's page: ``Origin`` and
``Sec-Fetch-*`` on fetches, only ``Origin`` on WebSocket handshakes.

* the auth-URL flow: ``http_over_websocket`` with the pasted URL as
  ``jupyter_http_over_ws_auth_url``, REST through the tunnel, the kernel
  through ``proxied_ws``;
* direct mode: cross-origin fetches with ``?token=`` or
  ``Authorization: token``, preflights, the kernel WebSocket opened directly;
* refusals: another origin, no credentials, another user's server, a
  navigation that carries ``?token=`` (it must not log in);
* what the Hub answers for a server that is not running.
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import quote, urlencode

import pytest
from tornado.httpclient import HTTPClientError, HTTPResponse
from tornado.websocket import WebSocketClientConnection

from jupyter_colab_bridge.doctor.checks import run_doctor
from jupyter_colab_bridge.doctor.diagnoses import FAIL, PASS, SKIP, CheckResult
from tests.helpers.bridge_client import (
    COLAB_ORIGINS,
    KERNEL_SUBPROTOCOL,
    BridgeClient,
    KernelChannel,
    connect,
)
from tests.helpers.bridge_client import fetch_url as fetch
from tests.helpers.hub_fixtures import HubUser

pytestmark = [pytest.mark.hub, pytest.mark.timeout(300)]

OTHER_ORIGIN = "https://evil.example"
CREDENTIALS = ["query", "header"]
CORS_NAMES = ("Access-Control-Allow-Origin", "Access-Control-Allow-Credentials")
#: Every byte value, in an order a shifted or truncated copy cannot match.
BINARY = bytes(range(256)) + bytes(reversed(range(256))) + bytes((i * 7) % 256 for i in range(4096))


# -- what a browser sends ---------------------------------------------------------
def fetch_headers(origin: str) -> dict[str, str]:
    """A cross-origin ``fetch()`` from a page at ``origin``."""
    return {
        "Origin": origin,
        "Sec-Fetch-Mode": "cors",
        "Sec-Fetch-Site": "cross-site",
        "Sec-Fetch-Dest": "empty",
    }


def websocket_headers(origin: str) -> dict[str, str]:
    """A ``new WebSocket()`` from a page at ``origin`` in Chromium: ``Origin``, no ``Sec-Fetch-*``.

    Chromium (156, as the browser suite runs it) sends no fetch metadata on a
    WebSocket handshake, although it does on fetches and navigations.
    """
    return {"Origin": origin}


def fetch_metadata_websocket_headers(origin: str) -> dict[str, str]:
    """A ``new WebSocket()`` with the fetch metadata the Fetch Metadata spec gives it.

    JupyterHub accepts ``?token=`` on a WebSocket only with ``Sec-Fetch-Mode: websocket``.
    """
    return {
        "Origin": origin,
        "Sec-Fetch-Mode": "websocket",
        "Sec-Fetch-Site": "cross-site",
        "Sec-Fetch-Dest": "websocket",
    }


def navigation_headers() -> dict[str, str]:
    """The user opening a URL in a tab (typed, or a link from another site): no Origin."""
    return {
        "Sec-Fetch-Mode": "navigate",
        "Sec-Fetch-Dest": "document",
        "Sec-Fetch-Site": "none",
        "Sec-Fetch-User": "?1",
        "Accept": "text/html,application/xhtml+xml",
    }


def with_credential(
    user: HubUser, path: str, credential: str, headers: dict[str, str]
) -> tuple[str, dict[str, str]]:
    """The URL and headers of a request to ``path`` on the user's server with the token."""
    url = f"{user.url}{path}"
    headers = dict(headers)
    if credential == "query":
        url += ("&" if "?" in url else "?") + f"token={user.token}"
    else:
        headers["Authorization"] = f"token {user.token}"
    return url, headers


def cookies_set(response: HTTPResponse) -> list[str]:
    """The ``Set-Cookie`` headers of ``response``."""
    return response.headers.get_list("Set-Cookie")


def cookie_names(response: HTTPResponse) -> list[str]:
    return [c.split("=", 1)[0].strip() for c in cookies_set(response)]


def describe(response: HTTPResponse) -> str:
    """Status, CORS headers, cookies and the start of the body, for assertion messages."""
    cors = {n: response.headers.get(n) for n in CORS_NAMES if n in response.headers}
    body = (response.body or b"")[:200].decode(errors="replace")
    return f"{response.code} {cors} cookies={cookie_names(response)} body={body!r}"


def listed(response: HTTPResponse, name: str) -> set[str]:
    """The comma-separated names in header ``name``, lower case."""
    return {v.strip().lower() for v in response.headers.get(name, "").split(",") if v.strip()}


def assert_cors_ok(response: HTTPResponse, origin: str, status: int) -> None:
    """``status``, readable by the page at ``origin`` (credentialed CORS), no cookie set."""
    assert response.code == status, describe(response)
    assert response.headers.get("Access-Control-Allow-Origin") == origin, describe(response)
    assert response.headers.get("Access-Control-Allow-Credentials") == "true", describe(response)
    assert cookies_set(response) == [], describe(response)


# -- the bridge socket --------------------------------------------------------------
def bridge_url(
    user: HubUser,
    endpoint: str = "http_over_websocket",
    auth_url: str | None = None,
    params: dict[str, str] | None = None,
) -> str:
    """A bridge URL on the user's server; ``auth_url`` defaults to the user's paste URL."""
    query = {"min_version": "0.0.7", **(params or {})}
    query["jupyter_http_over_ws_auth_url"] = auth_url if auth_url is not None else user.paste_url
    return f"{user.ws_url}{endpoint}?{urlencode(query)}"


async def handshake_status(url: str, headers: dict[str, str]) -> int:
    """Open a WebSocket and close it at once: 101, or the HTTP status that refused it."""
    try:
        ws = await connect(url, origin=None, headers=headers)
    except HTTPClientError as e:
        return e.code
    ws.close()
    return 101


async def open_socket(
    url: str, headers: dict[str, str], subprotocols: list[str] | None = None
) -> WebSocketClientConnection:
    """Open a WebSocket; a refused handshake fails the test with its status."""
    try:
        return await connect(url, origin=None, headers=headers, subprotocols=subprotocols)
    except HTTPClientError as e:
        path = url.split("?", 1)[0]
        body = (e.response.body or b"")[:200] if e.response is not None else b""
        raise AssertionError(f"WebSocket handshake to {path} refused: {e.code} {body!r}") from e


@asynccontextmanager
async def bridge(user: HubUser, origin: str) -> AsyncIterator[BridgeClient]:
    """Colab's bridge socket on the user's server (auth-URL flow), closed afterwards."""
    ws = await open_socket(bridge_url(user), websocket_headers(origin))
    try:
        yield BridgeClient(ws)
    finally:
        ws.close()


def session_body(name: str) -> str:
    return json.dumps(
        {"path": name, "type": "notebook", "name": name, "kernel": {"name": "python3"}}
    )


async def run_print(ws: WebSocketClientConnection) -> str:
    """``print(6*7)`` on a kernel socket; its stdout."""
    assert ws.selected_subprotocol == KERNEL_SUBPROTOCOL
    stdout, reply, _ = await KernelChannel(ws).execute("print(6*7)")
    assert reply["status"] == "ok", reply
    return stdout


# -- the auth-URL flow ------------------------------------------------------------
@pytest.mark.parametrize("origin", COLAB_ORIGINS)
async def test_auth_url_flow(alice: HubUser, origin: str) -> None:
    """Kernelspecs, a session, ``print(6*7)`` and a binary file, all through the tunnel."""
    base = alice.base_url
    async with bridge(alice, origin) as client:
        specs = await client.request("GET", f"{base}api/kernelspecs")
        assert specs.status == 200, specs.body
        assert "python3" in specs.json()["kernelspecs"]
        assert not any(h.lower() == "set-cookie" for h in specs.headers)

        name = f"hub-{uuid.uuid4().hex[:8]}.ipynb"
        started = await client.request("POST", f"{base}api/sessions", body=session_body(name))
        assert started.status == 201, started.body
        session = started.json()
        kernel_id, session_id = session["kernel"]["id"], session["id"]

        channels = bridge_url(
            alice,
            f"http_over_websocket/proxied_ws/api/kernels/{kernel_id}/channels",
            params={"session_id": session_id},
        )
        ws = await open_socket(channels, websocket_headers(origin), [KERNEL_SUBPROTOCOL])
        try:
            assert await run_print(ws) == "42\n"
        finally:
            ws.close()

        path = f"{base}api/contents/x-{uuid.uuid4().hex[:8]}.bin"
        model = {"type": "file", "format": "base64", "content": base64.b64encode(BINARY).decode()}
        saved = await client.request(
            "PUT", path, body_base64=base64.b64encode(json.dumps(model).encode()).decode()
        )
        assert saved.status in (200, 201), saved.body
        read = await client.request("GET", f"{path}?type=file&format=base64&content=1")
        assert read.status == 200, read.body
        assert base64.b64decode(read.json()["content"]) == BINARY

        deleted = await client.request("DELETE", path)
        assert deleted.status == 204, deleted.body
        ended = await client.request("DELETE", f"{base}api/sessions/{session_id}")
        assert ended.status == 204, ended.body


# -- direct mode --------------------------------------------------------------------
@pytest.mark.parametrize("credential", CREDENTIALS)
@pytest.mark.parametrize("origin", COLAB_ORIGINS)
async def test_direct_mode(alice: HubUser, origin: str, credential: str) -> None:
    """Kernelspecs, a session and its kernel socket, called directly from Colab's page."""
    url, headers = with_credential(alice, "api/kernelspecs", credential, fetch_headers(origin))
    specs = await fetch(url, headers=headers)
    assert_cors_ok(specs, origin, 200)
    assert "python3" in json.loads(specs.body)["kernelspecs"]

    name = f"direct-{uuid.uuid4().hex[:8]}.ipynb"
    url, headers = with_credential(alice, "api/sessions", credential, fetch_headers(origin))
    headers["Content-Type"] = "application/json"
    started = await fetch(url, "POST", headers, session_body(name))
    assert_cors_ok(started, origin, 201)
    session = json.loads(started.body)

    # A page cannot set headers on a WebSocket: the token goes in the URL, and
    # Chromium sends no Sec-Fetch-Mode with it (JupyterHub wants "websocket").
    query = urlencode({"session_id": session["id"], "token": alice.token})
    channels = f"{alice.ws_url}api/kernels/{session['kernel']['id']}/channels?{query}"
    ws = await open_socket(channels, websocket_headers(origin), [KERNEL_SUBPROTOCOL])
    try:
        assert await run_print(ws) == "42\n"
    finally:
        ws.close()

    url, headers = with_credential(
        alice, f"api/sessions/{session['id']}", credential, fetch_headers(origin)
    )
    ended = await fetch(url, "DELETE", headers)
    assert_cors_ok(ended, origin, 204)


@pytest.mark.parametrize("origin", COLAB_ORIGINS)
async def test_direct_kernel_socket_with_fetch_metadata(alice: HubUser, origin: str) -> None:
    """A browser that sends ``Sec-Fetch-Mode: websocket`` opens the kernel with ``?token=``."""
    authorization = {"Authorization": f"token {alice.token}"}
    started = await fetch(f"{alice.url}api/kernels", "POST", authorization, "{}")
    assert started.code == 201, describe(started)
    kernel_id = json.loads(started.body)["id"]
    try:
        channels = f"{alice.ws_url}api/kernels/{kernel_id}/channels?token={alice.token}"
        headers = fetch_metadata_websocket_headers(origin)
        ws = await open_socket(channels, headers, [KERNEL_SUBPROTOCOL])
        try:
            assert await run_print(ws) == "42\n"
        finally:
            ws.close()
    finally:
        await fetch(f"{alice.url}api/kernels/{kernel_id}", "DELETE", authorization)


@pytest.mark.parametrize("origin", COLAB_ORIGINS)
@pytest.mark.parametrize("path", ["api/kernelspecs", "api/sessions", "api/contents/a.ipynb"])
async def test_direct_mode_preflight(alice: HubUser, origin: str, path: str) -> None:
    """The browser's preflight for a credentialed request with ``Authorization``."""
    headers = {
        **fetch_headers(origin),
        "Access-Control-Request-Method": "PUT",
        "Access-Control-Request-Headers": "authorization,content-type",
        "Access-Control-Request-Private-Network": "true",
    }
    response = await fetch(f"{alice.url}{path}", "OPTIONS", headers)
    assert response.code in (200, 204), describe(response)
    assert response.headers.get("Access-Control-Allow-Origin") == origin, describe(response)
    assert response.headers.get("Access-Control-Allow-Credentials") == "true"
    methods = listed(response, "Access-Control-Allow-Methods")
    assert {"get", "put", "post", "delete"} <= methods
    assert {"authorization", "content-type"} <= listed(response, "Access-Control-Allow-Headers")
    assert response.headers.get("Access-Control-Allow-Private-Network") == "true"


# -- refused ------------------------------------------------------------------------
async def test_other_origin_refused_on_the_bridge(alice: HubUser) -> None:
    """A page elsewhere gets 403 at the handshake, even with alice's token."""
    headers = websocket_headers(OTHER_ORIGIN)
    assert await handshake_status(bridge_url(alice), headers) == 403
    with_header = {**headers, "Authorization": f"token {alice.token}"}
    plain = f"{alice.ws_url}http_over_websocket?min_version=0.0.7"
    assert await handshake_status(plain, with_header) == 403


async def test_other_origin_gets_no_cors(alice: HubUser) -> None:
    """A page elsewhere cannot read alice's server: no credentialed CORS for its origin."""
    headers = fetch_headers(OTHER_ORIGIN)
    # A simple GET with ?token= (no preflight): not authenticated, not readable.
    url, _ = with_credential(alice, "api/kernelspecs", "query", headers)
    response = await fetch(url, headers=headers)
    assert response.code in (403, 404), describe(response)  # 404: jupyter_server's origin check
    assert not any(n in response.headers for n in CORS_NAMES), describe(response)
    assert cookies_set(response) == [], describe(response)
    # Its preflight for Authorization is not granted, so the browser never sends that.
    preflight = {
        **headers,
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization",
    }
    response = await fetch(f"{alice.url}api/kernelspecs", "OPTIONS", preflight)
    assert not any(n in response.headers for n in CORS_NAMES), describe(response)
    # Were it sent anyway, the reply is not one a credentialed page may read.
    url, with_token = with_credential(alice, "api/kernelspecs", "header", headers)
    response = await fetch(url, headers=with_token)
    assert "Access-Control-Allow-Credentials" not in response.headers, describe(response)


@pytest.mark.parametrize("origin", COLAB_ORIGINS)
async def test_no_credentials_refused(alice: HubUser, origin: str) -> None:
    """No token: 403 on the bridge socket and on a direct request (readable by Colab)."""
    plain = f"{alice.ws_url}http_over_websocket?min_version=0.0.7"
    assert await handshake_status(plain, websocket_headers(origin)) == 403
    response = await fetch(f"{alice.url}api/kernelspecs", headers=fetch_headers(origin))
    assert response.code == 403, describe(response)
    assert cookies_set(response) == [], describe(response)


async def test_auth_url_without_token_refused(alice: HubUser) -> None:
    """The pasted URL without its token (or with a wrong one) opens nothing."""
    headers = websocket_headers(COLAB_ORIGINS[0])
    assert await handshake_status(bridge_url(alice, auth_url=alice.url), headers) == 403
    wrong = f"{alice.url}?token={uuid.uuid4().hex}"
    assert await handshake_status(bridge_url(alice, auth_url=wrong), headers) == 403


async def test_other_users_server_refused_on_the_bridge(alice: HubUser, bob: HubUser) -> None:
    """Alice's token opens nothing on bob's server, whatever the auth URL names."""
    headers = websocket_headers(COLAB_ORIGINS[0])
    bob_with_alices_token = f"{bob.url}?token={quote(alice.token)}"
    assert await handshake_status(bridge_url(bob, auth_url=bob_with_alices_token), headers) == 403
    assert await handshake_status(bridge_url(bob, auth_url=alice.paste_url), headers) == 403
    as_header = {**headers, "Authorization": f"token {alice.token}"}
    plain = f"{bob.ws_url}http_over_websocket?min_version=0.0.7"
    assert await handshake_status(plain, as_header) == 403


async def test_own_token_opens_own_server(alice: HubUser, bob: HubUser) -> None:
    """The control for the refusals above: each user's paste URL opens their own server."""
    headers = websocket_headers(COLAB_ORIGINS[0])
    assert await handshake_status(bridge_url(bob), headers) == 101
    assert await handshake_status(bridge_url(alice), headers) == 101


@pytest.mark.parametrize("credential", CREDENTIALS)
async def test_other_users_server_refused_direct(
    alice: HubUser, bob: HubUser, credential: str
) -> None:
    """Alice's token is not authenticated on bob's server, REST or kernel socket."""
    origin = COLAB_ORIGINS[0]
    headers = fetch_headers(origin)
    url = f"{bob.url}api/kernelspecs"
    if credential == "query":
        url += f"?token={alice.token}"
    else:
        headers["Authorization"] = f"token {alice.token}"
    response = await fetch(url, headers=headers)
    assert response.code == 403, describe(response)
    assert cookies_set(response) == [], describe(response)

    kernels = await fetch(
        f"{bob.url}api/kernels", "POST", {"Authorization": f"token {bob.token}"}, "{}"
    )
    assert kernels.code == 201, describe(kernels)
    kernel_id = json.loads(kernels.body)["id"]
    try:
        channels = f"{bob.ws_url}api/kernels/{kernel_id}/channels?token={alice.token}"
        assert await handshake_status(channels, websocket_headers(origin)) == 403
    finally:
        await fetch(
            f"{bob.url}api/kernels/{kernel_id}", "DELETE", {"Authorization": f"token {bob.token}"}
        )


def login_cookies(user: HubUser, response: HTTPResponse) -> list[str]:
    """Cookies in ``response`` that would log the browser in to the user's server."""
    names = {f"jupyterhub-user-{user.name}", f"__Host-jupyterhub-user-{user.name}"}
    return [n for n in cookie_names(response) if n in names]


@pytest.mark.parametrize("path", ["tree", "api/kernelspecs"])
async def test_navigation_with_token_does_not_log_in(alice: HubUser, path: str) -> None:
    """A link carrying ``?token=`` opened in a tab: no login, no login cookie.

    JupyterHub refuses tokens in page URLs (session fixation); the bridge's
    ``?token=`` for Colab's fetches must not reopen that door.
    """
    response = await fetch(f"{alice.url}{path}?token={alice.token}", headers=navigation_headers())
    assert login_cookies(alice, response) == [], describe(response)
    if response.code == 302:
        location = response.headers["Location"]
        assert "/oauth2/authorize" in location or "/hub/login" in location, location
    else:
        assert response.code == 403, describe(response)
    # Whatever cookies it did set (the OAuth state) do not authenticate either.
    cookie = "; ".join(c.split(";", 1)[0] for c in cookies_set(response))
    again = await fetch(
        f"{alice.url}api/kernelspecs",
        headers={**navigation_headers(), **({"Cookie": cookie} if cookie else {})},
    )
    assert again.code == 403, describe(again)


@pytest.mark.parametrize("way", ["auth-url", "query-token"])
async def test_bridge_handshakes_set_no_cookie(alice: HubUser, way: str) -> None:
    """The bridge's own handshakes (main and proxied_ws) answer 101 with no cookie."""
    for endpoint in ("http_over_websocket", "http_over_websocket/proxied_ws/api/events/subscribe"):
        if way == "auth-url":
            url, headers = bridge_url(alice, endpoint), websocket_headers(COLAB_ORIGINS[0])
        else:  # the Hub takes ?token= on a WebSocket that says Sec-Fetch-Mode: websocket
            url = f"{alice.ws_url}{endpoint}?{urlencode({'token': alice.token})}"
            headers = fetch_metadata_websocket_headers(COLAB_ORIGINS[0])
        ws = await open_socket(url, headers)
        try:
            assert list(ws.headers.get_list("Set-Cookie")) == [], (endpoint, ws.headers)
        finally:
            ws.close()


# -- a server that is not running -----------------------------------------------------
async def test_server_not_running(carol: HubUser) -> None:
    """The proxy sends the server's URLs to the Hub, which says the server is not running.

    What ``jupyter colab-bridge doctor`` reads for a stopped (or never started) server:
    a 302 to ``/hub/user/<name>/...`` for any request, WebSocket handshakes included,
    then a 424 with a JSON message for an API path.
    """
    token = {"Authorization": f"token {carol.token}"}
    response = await fetch(f"{carol.url}api/kernelspecs", headers=token)
    assert response.code == 302, describe(response)
    assert response.headers["Location"] == "/hub/user/carol/api/kernelspecs"
    assert "X-JupyterHub-Version" in response.headers

    assert await handshake_status(bridge_url(carol), websocket_headers(COLAB_ORIGINS[0])) == 302

    hub_url = f"{carol.hub.url}{response.headers['Location']}"
    answer = await fetch(hub_url, headers=token)
    assert answer.code == 424, describe(answer)
    assert "no longer running" in json.loads(answer.body)["message"]
    without_token = await fetch(hub_url)
    assert without_token.code == 302
    assert without_token.headers["Location"].startswith("/hub/login?next=")


# -- the doctor on a Hub user's server ------------------------------------------------
def doctor_checks(url: str) -> dict[str, CheckResult]:
    """Run ``jupyter colab-bridge doctor <url> --no-kernel``'s checks; by check id."""
    report = asyncio.run(run_doctor(url, kernel=False))
    return {check.id: check for check in report.checks}


async def test_doctor_on_a_running_hub_server(alice: HubUser) -> None:
    checks = await asyncio.get_running_loop().run_in_executor(None, doctor_checks, alice.paste_url)
    for check_id in ("server", "endpoints", "handshake", "resources", "origin"):
        assert checks[check_id].status == PASS, checks[check_id]
    assert "RAM " in checks["resources"].summary


@pytest.mark.parametrize("who", ["wrong", "bob", "none"])
async def test_doctor_explains_a_token_the_hub_refuses(
    alice: HubUser, bob: HubUser, who: str
) -> None:
    token = {"wrong": "not-a-hub-token", "bob": bob.token, "none": ""}[who]
    url = f"{alice.url}?token={token}" if token else alice.url
    checks = await asyncio.get_running_loop().run_in_executor(None, doctor_checks, url)
    handshake = checks["handshake"]
    assert handshake.status == FAIL
    expected = {
        "wrong": "the Hub does not know this token",
        "bob": "the token is bob's, but this is alice's server",
        "none": "the URL carries no token",
    }[who]
    assert expected in handshake.cause, handshake
    assert f"{alice.hub.url}/hub/token" in handshake.fix


async def test_doctor_on_a_stopped_hub_server(carol: HubUser) -> None:
    checks = await asyncio.get_running_loop().run_in_executor(None, doctor_checks, carol.paste_url)
    server = checks["server"]
    assert server.status == FAIL
    assert "carol's server on this JupyterHub is not running" in server.summary
    assert "/hub/home" in server.fix
    assert checks["handshake"].status == SKIP


async def test_banner_tells_a_hub_user_what_to_paste(alice: HubUser) -> None:
    """Not the server's internal address: the Hub's URL of the server, and the token page."""
    log = (alice.hub.server_logs / "alice.log").read_text()
    assert "is ready on this JupyterHub server" in log
    assert "/user/alice/?token=<token>" in log
    assert "hub/token" in log
    pasted = log.split("and paste:\n", 1)[1].splitlines()[0].strip()
    assert pasted.endswith("/user/alice/?token=<token>") and "127.0.0.1" not in pasted, pasted
