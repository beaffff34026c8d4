"""Direct mode's CORS scope is judged on the raw path that tornado routes (issue 16, finding 1).

A browser sends ``..%2F`` as it is (it is no dot segment), and tornado routes
on the raw path: ``/lab/tree/..%2F..%2Fapi/x`` is JupyterLab's HTML page,
whose ``jupyter-config-data`` holds the server's token. Only a request whose
raw path is itself under ``api/`` or ``files/`` may be read by a page.

JupyterLab is loaded into the test server (its routes ``lab``, ``lab/tree``,
``doc/tree``), under pytest-jupyter's ``base_url`` ``/a%40b/``.
"""

from __future__ import annotations

from typing import Any

import pytest

from jupyter_colab_bridge.protocol.paths import in_cors_scope
from tests.helpers.bridge_client import COLAB_ORIGIN, login_cookies

ENCODED_ESCAPES = [
    "lab/tree/..%2F..%2Fapi/x",
    "lab/..%2Fapi/x",
    "lab/tree/..%2F..%2Ffiles/x",
    "doc/tree/..%2F..%2Fapi/x",
    "lab/tree/..%2f..%2fapi/kernels",
    "lab/tree/%2E%2E%2F%2E%2E%2Fapi/x",
]
CORS_HEADERS = ("Access-Control-Allow-Origin", "Access-Control-Allow-Credentials")


@pytest.fixture
def jp_server_config(bridge_config: dict[str, Any], token: str) -> dict[str, Any]:
    return {
        "ServerApp": {"jpserver_extensions": {"jupyter_colab_bridge": True, "jupyterlab": True}},
        "IdentityProvider": {"token": token},
        "ColabBridge": dict(bridge_config),
    }


def page_fetch(cookie: str | None = None) -> dict[str, str]:
    """The headers of Colab's page fetching with ``fetch(url, {credentials: 'include'})``."""
    headers = {"Origin": COLAB_ORIGIN, "Sec-Fetch-Mode": "cors"}
    if cookie is not None:
        headers["Cookie"] = cookie
    return headers


@pytest.mark.parametrize("path", ENCODED_ESCAPES)
async def test_encoded_escape_to_api_gets_no_cors(
    fetch: Any, token: str, path: str, server_log: Any
) -> None:
    response = await fetch(f"{path}?token={token}", headers=page_fetch())
    assert not [h for h in CORS_HEADERS if h in response.headers], (
        response.code,
        response.headers.get("Content-Type"),
    )
    assert "Set-Cookie" not in response.headers
    # The server keeps serving the page's real API calls.
    status = await fetch(f"api/status?token={token}", headers=page_fetch())
    assert status.code == 200
    assert status.headers["Access-Control-Allow-Origin"] == COLAB_ORIGIN


async def test_lab_page_is_what_the_escape_reached(fetch: Any, token: str) -> None:
    """The probe is real: the raw path is JupyterLab's page, with the token in it."""
    response = await fetch(f"lab/tree/..%2F..%2Fapi/x?token={token}", headers=page_fetch())
    assert response.code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert b"jupyter-config-data" in response.body
    assert "Access-Control-Allow-Origin" not in response.headers


async def test_encoded_preflight_to_lab_is_not_answered(fetch: Any) -> None:
    response = await fetch(
        "lab/tree/..%2F..%2Fapi/x",
        "OPTIONS",
        {"Origin": COLAB_ORIGIN, "Access-Control-Request-Method": "GET"},
    )
    assert response.code != 204
    assert not [h for h in CORS_HEADERS if h in response.headers]


class TestCookieOnly:
    """With ``allow_cookie_auth``, the cookie alone must not buy the page holding the token."""

    @pytest.fixture
    def bridge_config(self) -> dict[str, Any]:
        return {"allow_cookie_auth": True}

    async def test_cookie_cannot_read_the_lab_page(self, fetch: Any, token: str) -> None:
        cookies = await login_cookies(fetch, token)
        response = await fetch("lab/tree/..%2F..%2Fapi/x", headers=page_fetch(cookie=cookies))
        assert response.code == 200  # the page, as for any cookie holder
        assert not [h for h in CORS_HEADERS if h in response.headers]
        api = await fetch("api/status", headers=page_fetch(cookie=cookies))
        assert api.code == 200 and api.headers["Access-Control-Allow-Origin"] == COLAB_ORIGIN


@pytest.mark.parametrize(
    ("path", "in_scope"),
    [
        ("/a%40b/api/status", True),
        ("/a%40b/files/x.bin", True),
        ("/a%40b/api/contents/a%2Fb.ipynb", True),
        ("/a%40b/lab/tree/..%2F..%2Fapi/x", False),
        ("/a%40b/lab/..%2Fapi/x", False),
        ("/a%40b/api/..%2Flogin", False),
        ("/a%40b/api/../login", False),
        ("/a%40b/%61pi/status", False),
        ("/a@b/api/status", False),
        ("/a%40b/lab", False),
    ],
)
def test_in_cors_scope_judges_the_raw_path(path: str, in_scope: bool) -> None:
    assert in_cors_scope(path, "/a%40b/") is in_scope
