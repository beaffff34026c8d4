"""Direct mode's ``?token=`` never reaches the server's log (issue 16, finding 3).

Colab's page sends ``?token=`` on every fetch in direct mode. jupyter_server
and tornado log an error with its request summary (method, the whole URI,
the peer): a 404, an XSRF refusal, a path outside the root. Once the gate has
taken the query's token as the page's credential, no log line at any level
holds it, and the token still authenticates.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest

from tests.helpers.bridge_client import COLAB_ORIGIN

PAGE = {"Origin": COLAB_ORIGIN, "Sec-Fetch-Mode": "cors"}


def assert_not_logged(server_log: Any, secret: str) -> None:
    text = server_log.text()
    for form in {secret, quote(secret, safe=""), quote(quote(secret, safe=""), safe="")}:
        assert form not in text, [
            r.getMessage() for r in server_log.records if form in r.getMessage()
        ]


async def test_not_found_does_not_log_the_token(fetch: Any, token: str, server_log: Any) -> None:
    response = await fetch(f"api/contents/no-such.ipynb?token={token}", headers=PAGE)
    assert response.code == 404
    assert any(
        "No such file or directory: no-such.ipynb" in r.getMessage() for r in server_log.records
    ), "nothing logged"
    assert_not_logged(server_log, token)


async def test_outside_root_does_not_log_the_token(fetch: Any, token: str, server_log: Any) -> None:
    response = await fetch(f"api/contents/..%2F..%2F..%2Fetc?token={token}", headers=PAGE)
    assert response.code == 404
    assert any("outside root" in r.getMessage() for r in server_log.records), "nothing logged"
    assert_not_logged(server_log, token)


async def test_xsrf_refusal_does_not_log_the_token(fetch: Any, token: str, server_log: Any) -> None:
    """A wrong token is refused by the XSRF check of a write; neither token is logged."""
    wrong = "wr0ng-t0ken-of-the-page"
    response = await fetch(f"api/kernels?token={wrong}", "POST", PAGE, "{}")
    assert response.code == 403
    assert any("xsrf" in r.getMessage().lower() for r in server_log.records), "nothing logged"
    assert_not_logged(server_log, wrong)
    assert_not_logged(server_log, token)


async def test_query_token_still_authenticates(fetch: Any, token: str, server_log: Any) -> None:
    status = await fetch(f"api/status?token={token}", headers=PAGE)
    assert status.code == 200
    started = await fetch(f"api/kernels?token={token}", "POST", PAGE, "{}")
    assert started.code == 201
    kernel = json.loads(started.body)["id"]
    gone = await fetch(f"api/kernels/{kernel}?token={token}", "DELETE", PAGE)
    assert gone.code == 204
    assert_not_logged(server_log, token)


async def test_script_query_is_left_as_it_is(fetch: Any, token: str, server_log: Any) -> None:
    """No ``Origin``: jupyter_server's own handling (its access log masks the token)."""
    response = await fetch(f"api/status?token={token}")
    assert response.code == 200


async def test_encoded_parameter_name_is_taken_too(fetch: Any, token: str, server_log: Any) -> None:
    """``%74oken=`` is ``token`` to tornado's parser, so it is taken (and hidden) as well."""
    response = await fetch(f"api/contents/gone.ipynb?a=1&%74oken={token}&b=%20", headers=PAGE)
    assert response.code == 404  # authenticated: the contents handler answered
    assert any("gone.ipynb?a=1&b=%20" in r.getMessage() for r in server_log.records)
    assert_not_logged(server_log, token)


@pytest.mark.parametrize(
    ("query", "left"),
    [
        ("token=T", ""),
        ("a=1&token=T&b=2", "a=1&b=2"),
        ("%74oken=T&x=%2F", "x=%2F"),
        ("token&tokens=1&xtoken=2", "tokens=1&xtoken=2"),
        ("a=%ZZ&token=T", "a=%ZZ"),
        ("", ""),
    ],
)
def test_query_without(query: str, left: str) -> None:
    from jupyter_colab_bridge.protocol.paths import query_without

    assert query_without(query, "token") == left
