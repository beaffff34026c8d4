"""Credentials from a browser origin are tokens: a login cookie alone opens nothing.

Unless ``ColabBridge.allow_cookie_auth`` is on (the original's cookie flow,
unchanged); an auth URL without a token is no credential and never displaces
a good cookie.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.helpers.bridge_client import (
    COLAB_ORIGIN,
    BridgeClient,
    connect,
    connected,
    handshake_status,
    login_cookies,
    start_kernel,
    ws_url,
    xsrf_of,
)
from tests.helpers.cases import (
    DEV_PAGE,
    DIAGNOSE,
    MAIN,
)


@pytest.fixture
def bridge_config() -> dict[str, Any]:
    """Colab and a developer's page (an origin users add) are allowed."""
    return {"allowed_origins": [COLAB_ORIGIN, DEV_PAGE]}


async def test_cookie_only_bridge_socket_is_refused(
    fetch: Any, url: Any, jp_http_port: int, jp_base_url: str, token: str, server_log: Any
) -> None:
    """From the first security review (issue 12)."""
    cookies = await login_cookies(fetch, token)
    for origin in (COLAB_ORIGIN, DEV_PAGE):
        for endpoint in (MAIN, "http_over_websocket/proxied_ws/api/events/subscribe"):
            status = await handshake_status(
                url(endpoint, token=None), origin=origin, headers={"Cookie": cookies}
            )
            assert status == 403, (origin, endpoint, status)
    assert "paste the URL with its token" in server_log.text()
    # The token still opens it, cookie or not; diagnose still reports the cookie.
    assert await handshake_status(url(), headers={"Cookie": cookies}) == 101
    async with connected(url(DIAGNOSE, token=None), headers={"Cookie": cookies}) as ws:
        ws.write_message("m")
        assert json.loads(await ws.read_message())["has_authentication_cookie"] is True


async def test_cookie_only_direct_requests_are_refused(
    fetch: Any, token: str, server_log: Any
) -> None:
    """From the first security review (issue 12)."""
    cookies = await login_cookies(fetch, token)
    for origin in (COLAB_ORIGIN, DEV_PAGE):
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
    """From the first security review (issue 12)."""
    kernel_id = await start_kernel(jp_fetch)
    cookies = await login_cookies(fetch, token)
    kernel_url = f"ws://127.0.0.1:{jp_http_port}{jp_base_url}api/kernels/{kernel_id}/channels"
    status = await handshake_status(kernel_url, headers={"Cookie": cookies})
    assert status == 403


class TestAllowCookieAuth:
    """``allow_cookie_auth = True``: the old cookie flow, exactly as before.

    From the first security review (issue 12).
    """

    @pytest.fixture
    def bridge_config(self) -> dict[str, Any]:
        return {"allow_cookie_auth": True, "allowed_origins": [COLAB_ORIGIN]}

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
        headers = {"Origin": COLAB_ORIGIN, "Cookie": cookies, "X-XSRFToken": xsrf_of(cookies)}
        listed = await fetch("api/kernels", headers=headers)
        assert listed.code == 200
        assert listed.headers["Access-Control-Allow-Credentials"] == "true"
        assert "Set-Cookie" not in listed.headers


async def test_auth_url_without_token_is_no_credential(
    http_server: Any, jp_http_port: int, jp_base_url: str, token: str, sockets: list[Any]
) -> None:
    """It contributes nothing: other credentials work, and it is no error.

    From the first security review (issue 12).
    """
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
    """A server with a password and no token (``--IdentityProvider.token=''``).

    From the first security review (issue 12).
    """

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
