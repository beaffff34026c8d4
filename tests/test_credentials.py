"""Credentials from a browser origin are tokens: a login cookie alone opens nothing.

Unless ``ColabBridge.allow_cookie_auth`` is on (the original's cookie flow,
unchanged); an auth URL without a token is no credential and never displaces
a good cookie. A socket carries one credential: a repeated one is refused
with 400, two that differ with 403, on every bridge socket and in direct mode.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest
from tornado.httpclient import HTTPClientError

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
    KERNEL,
    MAIN,
    RELAY,
    WRONG,
)
from tests.helpers.probes import raw_handshake_status


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


# --------------------------------------------------------------------------------------
# -- One credential per socket, however it is repeated (fourth security review, C1,
# issue 23).
#
# The review: ``Authorization: token <bad>`` with ``?token=x&token=<good>`` got
# 101, because jupyter_server takes the last ``token`` value while the bridge's
# check saw "no single token"; every tunnelled request then carried the bad
# header and got 403. The auth-URL variant mixed credentials the same way.
# Chosen fix: **refuse** (not "forward what jupyter_server accepted"):
#
# - a handshake that repeats a credential (``token`` or
#   ``jupyter_http_over_ws_auth_url`` twice in the query, two ``Authorization``
#   headers) gets **400**;
# - a handshake whose credentials differ (``?token=``, the auth URL's token,
#   ``Authorization``) gets **403**, as before for header against query;
#
# both with a JSON body ``{"message", "reason"}`` and a log line, neither
# holding a token. Every bridge socket is covered: the tunnel, ``proxied_ws``
# relayed, and a kernel's channels attached in-process. A direct-mode request
# that repeats ``?token=`` is refused with 400 too: the gate takes a single
# token out of the URI, so a repeated one would stay there, where log lines
# quote it. The same token sent twice in different ways is one credential.
# (These tests were tests/test_one_credential.py.)
# --------------------------------------------------------------------------------------
CREDENTIAL_ENDPOINTS = [
    pytest.param(MAIN, id="tunnel"),
    pytest.param(RELAY, id="proxied_ws"),
    pytest.param(KERNEL, id="kernel-channels"),
]


def auth_url(port: int, base_url: str, token: str) -> str:
    """Colab's auth URL for the server at ``port`` carrying ``token``, quoted for a query."""
    return quote(f"http://127.0.0.1:{port}{base_url}?token={quote(token)}", safe="")


async def refusal(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    """The handshake's refusal: status and JSON body (fails if it opens)."""
    try:
        async with connected(url, headers=headers):
            raise AssertionError("the handshake was accepted (101)")
    except HTTPClientError as e:
        assert e.response is not None
        return e.code, json.loads(e.response.body)


def assert_logged_without_tokens(server_log: Any, words: str, *tokens: str) -> None:
    text = server_log.text()
    assert words in text, text[-2000:]
    bridge_lines = [m for m in text.splitlines() if m.startswith("Colab bridge")]
    for token in tokens:
        assert not [m for m in bridge_lines if token in m], f"a log line holds {token!r}"


@pytest.mark.usefixtures("probe_routes")
class TestOneCredential:
    """The suite's default server (only Colab's origins allowed), the test-only routes added."""

    @pytest.fixture
    def bridge_config(self) -> dict[str, Any]:
        return {}

    @pytest.mark.parametrize("endpoint", CREDENTIAL_ENDPOINTS)
    async def test_repeated_query_token_with_a_bad_header_is_refused(
        self, url: Any, token: str, server_log: Any, endpoint: str
    ) -> None:
        """The review's probe: ``Authorization: token <bad>``, ``?token=x&token=<good>``.

        From the fourth security review (C1, issue 23).
        """
        target = f"{url(endpoint, token=None)}?token=x&token={quote(token)}"
        status, body = await refusal(target, {"Authorization": f"token {WRONG}"})
        assert status == 400
        assert "more than once" in body["message"] and body["reason"] == "repeated credential"
        assert token not in json.dumps(body) and WRONG not in json.dumps(body)
        assert_logged_without_tokens(server_log, "more than once", token, WRONG)

    @pytest.mark.parametrize("endpoint", CREDENTIAL_ENDPOINTS)
    async def test_same_query_token_twice_is_refused(
        self, url: Any, token: str, server_log: Any, endpoint: str
    ) -> None:
        """From the fourth security review (C1, issue 23)."""
        target = f"{url(endpoint, token=None)}?token={quote(token)}&token={quote(token)}"
        assert (await refusal(target))[0] == 400

    @pytest.mark.parametrize("endpoint", CREDENTIAL_ENDPOINTS)
    async def test_two_authorization_headers_are_refused(
        self, url: Any, jp_http_port: int, token: str, server_log: Any, endpoint: str
    ) -> None:
        """From the fourth security review (C1, issue 23)."""
        headers = [
            ("Origin", COLAB_ORIGIN),
            ("Authorization", f"token {WRONG}"),
            ("Authorization", f"token {token}"),
        ]
        assert await raw_handshake_status(url, jp_http_port, endpoint, None, headers) == 400
        assert_logged_without_tokens(server_log, "more than once", token, WRONG)

    @pytest.mark.parametrize("endpoint", CREDENTIAL_ENDPOINTS)
    async def test_repeated_auth_url_is_refused(
        self,
        url: Any,
        jp_http_port: int,
        jp_base_url: str,
        token: str,
        server_log: Any,
        endpoint: str,
    ) -> None:
        """From the fourth security review (C1, issue 23)."""
        target = (
            f"{url(endpoint, token=None)}"
            f"?jupyter_http_over_ws_auth_url={auth_url(jp_http_port, jp_base_url, WRONG)}"
            f"&jupyter_http_over_ws_auth_url={auth_url(jp_http_port, jp_base_url, token)}"
        )
        assert (await refusal(target))[0] == 400
        assert_logged_without_tokens(server_log, "more than once", token, WRONG)

    @pytest.mark.parametrize("endpoint", CREDENTIAL_ENDPOINTS)
    async def test_bad_auth_url_token_with_good_query_token_is_refused(
        self, url: Any, token: str, server_log: Any, endpoint: str
    ) -> None:
        """Two credentials that differ: the auth URL's (refused by the server) and ``?token=``.

        From the fourth security review (C1, issue 23).
        """
        status, body = await refusal(f"{url(endpoint, token=WRONG)}&token={quote(token)}")
        assert status == 403 and body["reason"] == "conflicting credentials"
        assert_logged_without_tokens(server_log, "conflicting credentials", token, WRONG)

    @pytest.mark.parametrize("endpoint", CREDENTIAL_ENDPOINTS)
    async def test_good_header_with_bad_auth_url_token_is_refused(
        self, url: Any, token: str, server_log: Any, endpoint: str
    ) -> None:
        """From the fourth security review (C1, issue 23)."""
        status, body = await refusal(
            url(endpoint, token=WRONG), {"Authorization": f"token {token}"}
        )
        assert status == 403 and body["reason"] == "conflicting credentials"
        assert_logged_without_tokens(server_log, "conflicting credentials", token, WRONG)

    @pytest.mark.parametrize("endpoint", CREDENTIAL_ENDPOINTS)
    async def test_good_auth_url_with_other_query_token_is_refused(
        self, url: Any, token: str, endpoint: str
    ) -> None:
        """Already refused before the review; kept with the others.

        From the fourth security review (C1, issue 23).
        """
        assert await handshake_status(f"{url(endpoint)}&token={WRONG}") == 403

    @pytest.mark.parametrize(
        ("how", "query", "header"),
        [
            pytest.param("auth-url", None, None, id="auth-url"),
            pytest.param("query", "token", None, id="query"),
            pytest.param("header", None, "token", id="header"),
            pytest.param("auth-url+same-query", "token", None, id="auth-url+same-query"),
            pytest.param("auth-url+same-header", None, "token", id="auth-url+same-header"),
        ],
    )
    async def test_one_credential_however_sent_works(
        self,
        url: Any,
        token: str,
        jp_base_url: str,
        how: str,
        query: str | None,
        header: str | None,
    ) -> None:
        """Legitimate use is unchanged: one token, sent one way or the same token twice.

        From the fourth security review (C1, issue 23).
        """
        target = url(MAIN, token=token if how.startswith("auth-url") else None)
        if query:
            target += f"{'&' if '?' in target else '?'}token={quote(token)}"
        headers = {"Authorization": f"token {token}"} if header else None
        async with connected(target, headers=headers) as ws:
            reply = await BridgeClient(ws).request("GET", f"{jp_base_url}api/status")
            assert reply.status == 200

    async def test_direct_request_repeating_the_token_is_refused(
        self, fetch: Any, token: str, server_log: Any
    ) -> None:
        """Direct mode: a repeated ``?token=`` would stay in the URI, so it is refused too.

        From the fourth security review (C1, issue 23).
        """
        page = {"Origin": COLAB_ORIGIN, "Sec-Fetch-Mode": "cors"}
        response = await fetch(f"api/status?token={WRONG}&token={quote(token)}", headers=page)
        assert response.code == 400
        body = json.loads(response.body)
        assert body["reason"] == "repeated credential" and "more than once" in body["message"]
        assert response.headers.get("Access-Control-Allow-Origin") == COLAB_ORIGIN  # readable
        assert_logged_without_tokens(server_log, "more than once", token, WRONG)
        # One token, as Colab sends it, still works; the server keeps serving.
        assert (await fetch(f"api/status?token={quote(token)}", headers=page)).code == 200
