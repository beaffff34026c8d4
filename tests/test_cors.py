"""Direct mode's CORS: its scope, judged on the raw path tornado routes, and its headers.

The scope (issue 16, finding 1): a browser sends ``..%2F`` as it is (it is
no dot segment), and tornado routes on the raw path: ``/lab/tree/..%2F..%2Fapi/x``
is JupyterLab's HTML page, whose ``jupyter-config-data`` holds the server's
token. Only a request whose raw path is itself under ``api/`` or ``files/``
may be read by a page. JupyterLab is loaded into this module's server (its
routes ``lab``, ``lab/tree``, ``doc/tree``), under pytest-jupyter's
``base_url`` ``/a%40b/``.

The headers: the pure functions of protocol/cors.py that the live answers
(test_direct_mode.py) are built from.
"""

from __future__ import annotations

from typing import Any

import pytest
from tornado.httputil import HTTPHeaders

from jupyter_colab_bridge.protocol.cors import (
    ALLOWED_HEADERS,
    ALLOWED_METHODS,
    PREFLIGHT_MAX_AGE,
    add_vary,
    allow_credentials,
    merged_tokens,
    preflight_headers,
)
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


# --------------------------------------------------------------------------------------
# -- Direct mode's CORS header arithmetic (protocol/cors.py), without a server.
#
# The live answers (a real server, preflights and credentialed replies) are in
# test_direct_mode.py; these pin the pure functions they are built from.
# (These tests were tests/test_cors_headers.py.)
# --------------------------------------------------------------------------------------
ORIGIN = "https://colab.research.google.com"


def test_add_vary_keeps_what_is_there_and_adds_no_repeats() -> None:
    headers = HTTPHeaders({"Vary": "Accept-Encoding"})
    add_vary(headers, "Origin", "accept-encoding")
    assert headers["Vary"] == "Accept-Encoding, Origin"
    add_vary(headers, "ORIGIN")
    assert headers["Vary"] == "Accept-Encoding, Origin"


def test_add_vary_on_empty_headers_and_with_nothing_to_add() -> None:
    headers = HTTPHeaders()
    add_vary(headers)
    assert "Vary" not in headers
    add_vary(headers, "Origin")
    assert headers["Vary"] == "Origin"


def test_add_vary_ignores_empty_items() -> None:
    headers = HTTPHeaders({"Vary": " , Cookie,, "})
    add_vary(headers, "Origin")
    assert headers["Vary"] == "Cookie, Origin"


def test_allow_credentials_names_the_exact_origin() -> None:
    headers = HTTPHeaders()
    allow_credentials(headers, ORIGIN)
    assert headers["Access-Control-Allow-Origin"] == ORIGIN
    assert headers["Access-Control-Allow-Credentials"] == "true"
    assert headers["Vary"] == "Origin"


def test_merged_tokens_adds_valid_names_once() -> None:
    assert merged_tokens(("GET", "PUT"), "put, X-Custom, x-custom") == "GET, PUT, X-Custom"


def test_merged_tokens_drops_what_is_not_an_http_token() -> None:
    requested = "bad name, x-a:b, ok-name, , <script>, caf\u00e9, x\r\ny"
    assert merged_tokens(("A",), requested) == "A, ok-name"


def test_preflight_answer() -> None:
    request = HTTPHeaders(
        {
            "Access-Control-Request-Method": "PATCH",
            "Access-Control-Request-Headers": "content-type, X-Extra",
        }
    )
    answer = preflight_headers(request, ORIGIN)
    assert answer["Access-Control-Allow-Origin"] == ORIGIN
    assert answer["Access-Control-Allow-Credentials"] == "true"
    assert answer["Access-Control-Allow-Methods"] == ", ".join(ALLOWED_METHODS)
    assert answer["Access-Control-Allow-Headers"] == ", ".join((*ALLOWED_HEADERS, "X-Extra"))
    assert answer["Access-Control-Max-Age"] == str(PREFLIGHT_MAX_AGE)
    assert "Access-Control-Allow-Private-Network" not in answer
    assert answer["Vary"] == (
        "Origin, Access-Control-Request-Method, Access-Control-Request-Headers, "
        "Access-Control-Request-Private-Network"
    )


def test_preflight_private_network_only_when_asked() -> None:
    asked = HTTPHeaders({"Access-Control-Request-Private-Network": "TRUE"})
    assert preflight_headers(asked, ORIGIN)["Access-Control-Allow-Private-Network"] == "true"
    other = HTTPHeaders({"Access-Control-Request-Private-Network": "yes"})
    assert "Access-Control-Allow-Private-Network" not in preflight_headers(other, ORIGIN)


def test_preflight_with_a_bad_method_allows_only_the_defaults() -> None:
    request = HTTPHeaders({"Access-Control-Request-Method": "GET POST"})
    answer = preflight_headers(request, ORIGIN)
    assert answer["Access-Control-Allow-Methods"] == ", ".join(ALLOWED_METHODS)
