"""The bridge defers to the server's identity provider (docs/protocol.md sections 4 and 7).

A custom identity provider that behaves like JupyterHub's: it accepts each
user's own token, its ``token`` attribute is the server's own credential (not
a user's), and it ignores ``?token=`` except on WebSocket handshakes that say
``Sec-Fetch-Mode: websocket``. The auth URL must be judged by the provider,
and Colab's direct-mode ``?token=`` fetches must authenticate, while a
navigation with ``?token=`` must not.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from jupyter_server.auth.identity import IdentityProvider, User
from tornado import web
from tornado.httpclient import AsyncHTTPClient, HTTPRequest

from tests.helpers.bridge_client import (
    COLAB_GOOGLE_ORIGIN,
    COLAB_ORIGIN,
    BridgeClient,
    KernelChannel,
    connected,
    handshake_status,
    ws_url,
)

ALICE_TOKEN = "alice-hub-t0ken"
BOB_TOKEN = "bob-hub-t0ken"
SERVER_CREDENTIAL = "the-servers-own-hub-credential"
USERS = {ALICE_TOKEN: "alice", BOB_TOKEN: "bob"}


class HubLikeIdentityProvider(IdentityProvider):
    """Per-user tokens, as JupyterHub's single-user servers accept them; alice owns it."""

    @property
    def token(self) -> str:  # type: ignore[override]
        return SERVER_CREDENTIAL  # as JupyterHubIdentityProvider.token (hub_auth.api_token)

    token_generated = False

    def get_user(self, handler: web.RequestHandler) -> User | None:
        header = handler.request.headers.get("Authorization", "")
        token = header[len("token ") :] if header.lower().startswith("token ") else ""
        if not token and handler.request.headers.get("Sec-Fetch-Mode") == "websocket":
            token = handler.get_argument("token", "")
        if USERS.get(token) != "alice":  # only the owner may use this server
            return None
        handler._token_authenticated = True  # type: ignore[attr-defined]
        return User(username="alice")

    def validate_security(self, app: Any, ssl_options: Any = None) -> None:
        """Nothing to warn about."""


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    return {
        "ServerApp": {
            "jpserver_extensions": {"jupyter_colab_bridge": True},
            "identity_provider_class": HubLikeIdentityProvider,
        },
    }


def bridge_url(port: int, base_url: str, token: str, endpoint: str = "http_over_websocket") -> str:
    return ws_url(port, base_url, endpoint, token=token)


async def test_auth_url_token_is_judged_by_the_identity_provider(
    http_server: Any, jp_http_port: int, jp_base_url: str
) -> None:
    async with connected(bridge_url(jp_http_port, jp_base_url, ALICE_TOKEN)) as ws:
        reply = await BridgeClient(ws).request("GET", f"{jp_base_url}api/kernelspecs")
        assert reply.status == 200 and "python3" in reply.json()["kernelspecs"]
    # IdentityProvider.token is the server's own credential, which the provider
    # itself does not accept from a request: neither does the bridge.
    for token in (SERVER_CREDENTIAL, BOB_TOKEN, "wrong"):
        status = await handshake_status(bridge_url(jp_http_port, jp_base_url, token))
        assert status == 403, token


async def test_kernel_through_proxied_ws_with_the_users_token(
    jp_fetch: Any, http_server: Any, jp_http_port: int, jp_base_url: str
) -> None:
    async with connected(bridge_url(jp_http_port, jp_base_url, ALICE_TOKEN)) as ws:
        client = BridgeClient(ws)
        started = await client.request("POST", f"{jp_base_url}api/kernels", body="{}")
        assert started.status == 201
        kernel_id = started.json()["id"]
        async with connected(
            bridge_url(
                jp_http_port,
                jp_base_url,
                ALICE_TOKEN,
                f"http_over_websocket/proxied_ws/api/kernels/{kernel_id}/channels",
            )
        ) as channels:
            out, reply, _ = await KernelChannel(channels).execute("print(6*7)")
            assert out == "42\n" and reply["status"] == "ok"


@pytest.mark.parametrize("origin", [COLAB_ORIGIN, COLAB_GOOGLE_ORIGIN])
async def test_direct_query_token_from_a_colab_fetch(fetch: Any, origin: str) -> None:
    cors = {"Origin": origin, "Sec-Fetch-Mode": "cors", "Sec-Fetch-Site": "cross-site"}
    ok = await fetch(f"api/kernelspecs?token={ALICE_TOKEN}", headers=cors)
    assert ok.code == 200
    assert ok.headers["Access-Control-Allow-Origin"] == origin
    assert ok.headers["Access-Control-Allow-Credentials"] == "true"
    assert "Set-Cookie" not in ok.headers
    for token in (BOB_TOKEN, SERVER_CREDENTIAL):
        assert (await fetch(f"api/kernelspecs?token={token}", headers=cors)).code == 403


async def test_query_token_is_not_taken_from_navigations_or_other_origins(fetch: Any) -> None:
    path = f"api/kernelspecs?token={ALICE_TOKEN}"
    navigation = {"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"}
    for headers in (
        navigation,
        {**navigation, "Origin": COLAB_ORIGIN},  # a form posted from Colab's origin, say
        {},  # a script without fetch metadata
        {"Origin": "https://evil.example", "Sec-Fetch-Mode": "cors"},
        {"Origin": COLAB_ORIGIN},  # no Sec-Fetch-Mode: not known to be a CORS fetch
    ):
        response = await fetch(path, headers=headers)
        assert response.code in (403, 404), (headers, response.code)
        assert "Set-Cookie" not in response.headers or not any(
            c.startswith("username-") for c in response.headers.get_list("Set-Cookie")
        )


async def test_direct_kernel_socket_with_query_token_as_chromium_sends_it(
    jp_fetch: Any, fetch: Any, jp_http_port: int, jp_base_url: str
) -> None:
    """Chromium sends no Sec-Fetch-* headers on a WebSocket handshake, only Origin."""
    response = await fetch(
        "api/kernels", headers={"Authorization": f"token {ALICE_TOKEN}", "Origin": COLAB_ORIGIN}
    )
    assert response.code == 200
    started = await AsyncHTTPClient().fetch(
        HTTPRequest(
            f"http://127.0.0.1:{jp_http_port}{jp_base_url}api/kernels",
            method="POST",
            body="{}",
            headers={"Authorization": f"token {ALICE_TOKEN}"},
        )
    )
    kernel_id = json.loads(started.body)["id"]
    url = (
        f"ws://127.0.0.1:{jp_http_port}{jp_base_url}api/kernels/{kernel_id}/channels"
        f"?session_id=s1&token={ALICE_TOKEN}"
    )
    async with connected(url) as ws:
        await KernelChannel(ws).ready()
    status = await handshake_status(url.replace(ALICE_TOKEN, BOB_TOKEN))
    assert status == 403


class TestWithCookieAuthAllowed:
    """``allow_cookie_auth`` changes nothing for tokens: ``?token=`` still authenticates."""

    @pytest.fixture
    def jp_server_config(self) -> dict[str, Any]:
        return {
            "ServerApp": {
                "jpserver_extensions": {"jupyter_colab_bridge": True},
                "identity_provider_class": HubLikeIdentityProvider,
            },
            "ColabBridge": {"allow_cookie_auth": True},
        }

    async def test_direct_query_token(self, fetch: Any) -> None:
        cors = {"Origin": COLAB_ORIGIN, "Sec-Fetch-Mode": "cors"}
        ok = await fetch(f"api/kernelspecs?token={ALICE_TOKEN}", headers=cors)
        assert ok.code == 200
        assert "Set-Cookie" not in ok.headers
