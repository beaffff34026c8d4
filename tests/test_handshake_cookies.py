"""No reply to an allowed page sets a cookie, the bridge's handshakes included (issue 16, #2).

jupyter_server's identity provider sets its 30-day login cookie whenever a
request is authenticated by a token. The bridge's handshakes are authenticated
by the token of the auth URL or of ``?token=``: their 101 must not carry that
cookie to the page, on either way in, with direct mode on or off, for Colab's
origin and for a same-site origin the user added (which would keep it).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers.bridge_client import (
    COLAB_ORIGIN,
    KERNEL_SUBPROTOCOL,
    connected,
    start_kernel,
)

DEV_PAGE = "http://localhost:5173"  # same-site with the server: it would keep a cookie
ORIGINS = [COLAB_ORIGIN, DEV_PAGE]
MAIN = "http_over_websocket"
EVENTS = "http_over_websocket/proxied_ws/api/events/subscribe"


@pytest.fixture(params=[True, False], ids=["direct-on", "direct-off"])
def bridge_config(request: Any) -> dict[str, Any]:
    return {"allowed_origins": ORIGINS, "direct_mode": request.param}


def set_cookies(ws: Any) -> list[str]:
    return list(ws.headers.get_list("Set-Cookie"))


@pytest.mark.parametrize("origin", ORIGINS)
@pytest.mark.parametrize("endpoint", [MAIN, EVENTS])
@pytest.mark.parametrize("way", ["auth-url", "query-token"])
async def test_bridge_handshake_sets_no_cookie(
    url: Any, token: str, origin: str, endpoint: str, way: str
) -> None:
    if way == "auth-url":
        target = url(endpoint)
    else:
        target = url(endpoint, token=None, params={"token": token})
    async with connected(target, origin=origin) as ws:
        assert set_cookies(ws) == []


@pytest.mark.parametrize("way", ["auth-url", "query-token"])
async def test_proxied_kernel_handshake_sets_no_cookie(
    url: Any, token: str, jp_fetch: Any, way: str
) -> None:
    endpoint = f"http_over_websocket/proxied_ws/api/kernels/{await start_kernel(jp_fetch)}/channels"
    target = (
        url(endpoint) if way == "auth-url" else url(endpoint, token=None, params={"token": token})
    )
    async with connected(target, origin=DEV_PAGE, subprotocols=[KERNEL_SUBPROTOCOL]) as ws:
        assert set_cookies(ws) == []


async def test_diagnose_with_a_token_sets_no_cookie(url: Any, token: str) -> None:
    async with connected(
        url("http_over_websocket/diagnose", token=None, params={"token": token})
    ) as ws:
        assert set_cookies(ws) == []


async def test_script_still_gets_its_cookie(url: Any, token: str) -> None:
    """A client without ``Origin`` (a script) is answered as jupyter_server answers it."""
    async with connected(url(MAIN, token=None, params={"token": token}), origin=None) as ws:
        assert any(c.startswith("username-") for c in set_cookies(ws))


async def test_direct_request_sets_no_cookie(fetch: Any, token: str) -> None:
    response = await fetch(
        f"api/status?token={token}", headers={"Origin": DEV_PAGE, "Sec-Fetch-Mode": "cors"}
    )
    assert response.code == 200
    assert "Set-Cookie" not in response.headers
