"""Direct mode's CORS headers: only API and files responses are readable by a page.

HTML pages get no CORS headers; a credentialed response never sets a
cookie; every API response varies on Origin (docs/protocol.md section 5).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers.bridge_client import (
    COLAB_ORIGIN,
)
from tests.helpers.cases import (
    DEV_PAGE,
)


@pytest.fixture
def bridge_config() -> dict[str, Any]:
    """Colab and a developer's page (an origin users add) are allowed."""
    return {"allowed_origins": [COLAB_ORIGIN, DEV_PAGE]}


@pytest.mark.parametrize(
    "path", ["login", "logout", "lab", "tree", "notebooks/x.ipynb", "api/../login"]
)
async def test_html_pages_are_not_cors_readable(fetch: Any, token: str, path: str) -> None:
    """From the first security review (issue 12); it failed before the fix."""
    for suffix in ("", f"?token={token}"):
        response = await fetch(path + suffix, headers={"Origin": COLAB_ORIGIN})
        assert "Access-Control-Allow-Origin" not in response.headers, (path, response.code)
        assert "Access-Control-Allow-Credentials" not in response.headers
    preflight = await fetch(
        path, "OPTIONS", {"Origin": COLAB_ORIGIN, "Access-Control-Request-Method": "GET"}
    )
    assert "Access-Control-Allow-Origin" not in preflight.headers


async def test_no_set_cookie_beside_allow_credentials(fetch: Any, token: str) -> None:
    """From the first security review (issue 12); it failed before the fix."""
    for path in (
        f"api/kernelspecs?token={token}",
        f"api/contents/none.txt?token={token}",
        "api/kernelspecs?token=wrong",
        f"files/none.txt?token={token}",
    ):
        response = await fetch(path, headers={"Origin": COLAB_ORIGIN, "Sec-Fetch-Mode": "cors"})
        assert response.headers.get("Access-Control-Allow-Credentials") == "true", path
        assert "Set-Cookie" not in response.headers, (path, response.headers.get_list("Set-Cookie"))


@pytest.mark.parametrize("origin", [None, COLAB_ORIGIN, "https://evil.example"])
async def test_vary_origin_on_every_api_response(fetch: Any, token: str, origin: str) -> None:
    """From the first security review (issue 12); it failed before the fix."""
    headers = {"Origin": origin} if origin else {}
    for path in (f"api/kernelspecs?token={token}", "api/kernelspecs", f"files/x?token={token}"):
        response = await fetch(path, headers=headers)
        assert "origin" in response.headers.get("Vary", "").lower(), (path, origin)
