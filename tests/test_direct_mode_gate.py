"""Direct mode's gate: its own answers to an allowed page (issue 16, finding 5).

- A cookie-only write gets the same readable JSON refusal as a read, not
  tornado's XSRF page (the XSRF check ran before the refusal).
- A preflight checks ``Host`` as the bridge's sockets do: a DNS-rebinding page
  (an attacker's name resolving to 127.0.0.1) gets 403 and no CORS.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from jupyter_colab_bridge.server.direct_mode import COOKIE_REFUSED
from tests.helpers.bridge_client import COLAB_ORIGIN, login_cookies

PAGE = {"Origin": COLAB_ORIGIN, "Sec-Fetch-Mode": "cors"}


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "api/kernels", None),
        ("POST", "api/kernels", "{}"),
        ("PUT", "api/contents/x.txt", '{"type": "file", "format": "text", "content": "x"}'),
        ("PATCH", "api/contents/x.txt", '{"path": "y.txt"}'),
        ("DELETE", "api/contents/x.txt", None),
    ],
)
async def test_cookie_only_request_gets_the_readable_refusal(
    fetch: Any, token: str, server_log: Any, method: str, path: str, body: str | None
) -> None:
    cookies = await login_cookies(fetch, token)
    response = await fetch(path, method, {**PAGE, "Cookie": cookies}, body)
    assert response.code == 403
    assert response.headers["Content-Type"] == "application/json"
    assert json.loads(response.body)["message"] == COOKIE_REFUSED
    assert response.headers["Access-Control-Allow-Origin"] == COLAB_ORIGIN
    assert "carried a login cookie and no token" in server_log.text()
    # The server keeps serving the page that sends its token.
    ok = await fetch(f"api/status?token={token}", headers=PAGE)
    assert ok.code == 200


PREFLIGHT = {"Origin": COLAB_ORIGIN, "Access-Control-Request-Method": "GET"}


@pytest.mark.parametrize("host", ["evil.example", "evil.example:{port}", "rebind.attacker.test"])
async def test_preflight_checks_host(
    fetch: Any, jp_http_port: int, server_log: Any, host: str
) -> None:
    headers = {**PREFLIGHT, "Host": host.format(port=jp_http_port)}
    response = await fetch("api/kernels", "OPTIONS", headers)
    assert response.code == 403  # a browser fails the preflight on any non-2xx
    assert "Access-Control-Allow-Methods" not in response.headers
    assert "Access-Control-Allow-Private-Network" not in response.headers
    assert "non-local 'Host'" in server_log.text()
    # A preflight with the server's real Host is still answered.
    ok = await fetch("api/kernels", "OPTIONS", PREFLIGHT)
    assert ok.code == 204


@pytest.mark.parametrize("host", ["localhost:{port}", "127.0.0.1:{port}", "[::1]:{port}"])
async def test_preflight_with_a_loopback_host_is_answered(
    fetch: Any, jp_http_port: int, host: str
) -> None:
    response = await fetch(
        "api/kernels", "OPTIONS", {**PREFLIGHT, "Host": host.format(port=jp_http_port)}
    )
    assert response.code == 204
    assert response.headers["Access-Control-Allow-Origin"] == COLAB_ORIGIN


class TestRemoteAccess:
    """With ``ServerApp.allow_remote_access`` any ``Host`` passes, as for the sockets."""

    @pytest.fixture
    def jp_server_config(self, bridge_config: dict[str, Any], token: str) -> dict[str, Any]:
        return {
            "ServerApp": {
                "jpserver_extensions": {"jupyter_colab_bridge": True},
                "allow_remote_access": True,
            },
            "IdentityProvider": {"token": token},
        }

    async def test_any_host(self, fetch: Any) -> None:
        response = await fetch("api/kernels", "OPTIONS", {**PREFLIGHT, "Host": "box.lan:8888"})
        assert response.code == 204


@pytest.mark.parametrize("path", ["http_over_websocketx", "http_over_websocket%2Fdiagnose"])
async def test_only_the_bridges_own_routes_skip_the_gate(fetch: Any, token: str, path: str) -> None:
    """The bridge judges its own handshakes; a path that only looks like them meets the gate."""
    response = await fetch(path, headers={**PAGE, "Cookie": "username-x=1"})
    assert response.code == 403
    assert json.loads(response.body)["message"] == COOKIE_REFUSED
