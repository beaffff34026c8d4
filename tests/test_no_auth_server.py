"""A server with authentication turned off: Colab's page gets nothing (tokens only).

Started with ``IdentityProvider.token=''`` and no password, jupyter_server lets
every request in as an anonymous user. A page on an allowed origin must
still show a token the identity provider accepts, and none can be: every way
in from the page is refused with a readable 403 and a log line saying how to
set a token. Scripts (no ``Origin``) are left as jupyter_server treats them.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from jupyter_colab_bridge.doctor.colab_client import Target
from jupyter_colab_bridge.doctor.diagnoses import explain_refused_handshake
from jupyter_colab_bridge.doctor.server_info import RunningServer
from tests.helpers.bridge_client import COLAB_ORIGIN, handshake_status

CHANNELS = "http_over_websocket/proxied_ws/api/kernels/{}/channels"


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    # ServerApp.token (deprecated, passed on) keeps pytest-jupyter from setting one.
    return {
        "ServerApp": {"jpserver_extensions": {"jupyter_colab_bridge": True}, "token": ""},
        "IdentityProvider": {"token": ""},
    }


@pytest.fixture
def kernel_id(jp_serverapp: Any) -> Any:
    async def start() -> str:
        return str(await jp_serverapp.kernel_manager.start_kernel())

    return start


def refusal_logged(server_log: Any) -> bool:
    text = server_log.text()
    return "authentication turned off" in text and "JUPYTER_TOKEN" in text


async def test_auth_is_off(jp_serverapp: Any) -> None:
    assert not jp_serverapp.identity_provider.auth_enabled


@pytest.mark.parametrize("page_token", [None, "anything"])
async def test_tunnel_handshake_refused(url: Any, server_log: Any, page_token: str | None) -> None:
    assert await handshake_status(url(token=page_token)) == 403
    assert refusal_logged(server_log)


async def test_token_query_handshake_refused(url: Any) -> None:
    assert await handshake_status(url(token=None, params={"token": "anything"})) == 403


async def test_proxied_kernel_socket_refused(url: Any, kernel_id: Any, server_log: Any) -> None:
    assert await handshake_status(url(CHANNELS.format(await kernel_id()), token=None)) == 403
    assert refusal_logged(server_log)


@pytest.mark.parametrize("query", ["", "?token=anything"])
async def test_direct_mode_read_refused_readably(
    jp_serverapp: Any, fetch: Any, jp_root_dir: Any, server_log: Any, query: str
) -> None:
    (jp_root_dir / "secret.txt").write_text("private")
    response = await fetch(f"api/contents/secret.txt{query}", headers={"Origin": COLAB_ORIGIN})
    assert response.code == 403
    assert b"private" not in response.body
    # Readable by the page: CORS for its origin, and a JSON reason.
    assert response.headers["Access-Control-Allow-Origin"] == COLAB_ORIGIN
    assert "token" in json.loads(response.body)["message"]
    assert refusal_logged(server_log)


async def test_direct_mode_preflight_still_answered(jp_serverapp: Any, fetch: Any) -> None:
    """The preflight only says what the page may send; the request itself is refused."""
    response = await fetch(
        "api/contents",
        method="OPTIONS",
        headers={"Origin": COLAB_ORIGIN, "Access-Control-Request-Method": "GET"},
    )
    assert response.code == 204


async def test_scripts_are_served_as_jupyter_server_serves_them(
    jp_serverapp: Any, fetch: Any, jp_root_dir: Any
) -> None:
    (jp_root_dir / "mine.txt").write_text("mine")
    response = await fetch("api/contents/mine.txt?content=1")
    assert response.code == 200
    assert json.loads(response.body)["content"] == "mine"


async def test_server_keeps_serving_after_refusals(url: Any, fetch: Any) -> None:
    for _ in range(3):
        assert await handshake_status(url(token=None)) == 403
    assert (await fetch("api/status")).code == 200


async def test_banner_says_colab_needs_a_token(bridge_app: Any, server_log: Any) -> None:
    await bridge_app._log_banner()
    text = server_log.text()
    assert "JUPYTER_TOKEN" in text
    assert "c.IdentityProvider.token" in text


def test_doctor_says_how_to_set_a_token() -> None:
    target = Target.parse("http://localhost:8888/")
    local = RunningServer(
        "http://localhost:8888/", "http", "localhost", "localhost", 8888, "/", "", 1, "/", "", "2"
    )
    cause, fix = explain_refused_handshake(target, local, token_alone_opens=False)
    assert "no token" in cause
    assert "JUPYTER_TOKEN" in fix
    assert "c.IdentityProvider.token" in fix
