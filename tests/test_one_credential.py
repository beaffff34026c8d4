"""One credential per socket, however it is repeated (fourth security review, C1, issue 23).

The review: ``Authorization: token <bad>`` with ``?token=x&token=<good>``
got 101, because jupyter_server takes the last ``token`` value while the
bridge's check saw "no single token"; every tunnelled request then carried
the bad header and got 403. The auth-URL variant mixed credentials the same
way. Chosen fix: **refuse** (not "forward what jupyter_server accepted"):

- a handshake that repeats a credential (``token`` or
  ``jupyter_http_over_ws_auth_url`` twice in the query, two
  ``Authorization`` headers) gets **400**;
- a handshake whose credentials differ (``?token=``, the auth URL's token,
  ``Authorization``) gets **403**, as before for header against query;

both with a JSON body ``{"message", "reason"}`` and a log line, neither
holding a token. Every bridge socket is covered: the tunnel, ``proxied_ws``
relayed, and a kernel's channels attached in-process. A direct-mode request
that repeats ``?token=`` is refused with 400 too: the gate takes a single
token out of the URI, so a repeated one would stay there, where log lines
quote it. The same token sent twice in different ways is one credential.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest
from tornado.httpclient import HTTPClientError

from tests.helpers.bridge_client import COLAB_ORIGIN, BridgeClient, connect, handshake_status
from tests.helpers.cases import KERNEL, MAIN, RELAY, WRONG
from tests.helpers.probes import raw_handshake_status

ENDPOINTS = [
    pytest.param(MAIN, id="tunnel"),
    pytest.param(RELAY, id="proxied_ws"),
    pytest.param(KERNEL, id="kernel-channels"),
]


def auth_url(srv: Any, token: str) -> str:
    """Colab's auth URL for this server carrying ``token``, quoted for a query."""
    return quote(f"http://127.0.0.1:{srv.port}{srv.base}?token={quote(token)}", safe="")


async def refusal(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    """The handshake's refusal: status and JSON body (fails if it opens)."""
    try:
        ws = await connect(url, headers=headers)
    except HTTPClientError as e:
        assert e.response is not None
        return e.code, json.loads(e.response.body)
    ws.close()
    raise AssertionError("the handshake was accepted (101)")


def assert_logged_without_tokens(server_log: Any, words: str, *tokens: str) -> None:
    text = server_log.text()
    assert words in text, text[-2000:]
    bridge_lines = [m for m in text.splitlines() if m.startswith("Colab bridge")]
    for token in tokens:
        assert not [m for m in bridge_lines if token in m], f"a log line holds {token!r}"


@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_repeated_query_token_with_a_bad_header_is_refused(
    srv: Any, token: str, server_log: Any, endpoint: str
) -> None:
    """The review's probe: ``Authorization: token <bad>``, ``?token=x&token=<good>``."""
    url = f"{srv.url(endpoint, token=None)}?token=x&token={quote(token)}"
    status, body = await refusal(url, {"Authorization": f"token {WRONG}"})
    assert status == 400
    assert "more than once" in body["message"] and body["reason"] == "repeated credential"
    assert token not in json.dumps(body) and WRONG not in json.dumps(body)
    assert_logged_without_tokens(server_log, "more than once", token, WRONG)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_same_query_token_twice_is_refused(
    srv: Any, token: str, server_log: Any, endpoint: str
) -> None:
    url = f"{srv.url(endpoint, token=None)}?token={quote(token)}&token={quote(token)}"
    assert (await refusal(url))[0] == 400


@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_two_authorization_headers_are_refused(
    srv: Any, token: str, server_log: Any, endpoint: str
) -> None:
    headers = [
        ("Origin", COLAB_ORIGIN),
        ("Authorization", f"token {WRONG}"),
        ("Authorization", f"token {token}"),
    ]
    assert await raw_handshake_status(srv, endpoint, None, headers) == 400
    assert_logged_without_tokens(server_log, "more than once", token, WRONG)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_repeated_auth_url_is_refused(
    srv: Any, token: str, server_log: Any, endpoint: str
) -> None:
    base = srv.url(endpoint, token=None)
    url = (
        f"{base}?jupyter_http_over_ws_auth_url={auth_url(srv, WRONG)}"
        f"&jupyter_http_over_ws_auth_url={auth_url(srv, token)}"
    )
    assert (await refusal(url))[0] == 400
    assert_logged_without_tokens(server_log, "more than once", token, WRONG)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_bad_auth_url_token_with_good_query_token_is_refused(
    srv: Any, token: str, server_log: Any, endpoint: str
) -> None:
    """Two credentials that differ: the auth URL's (refused by the server) and ``?token=``."""
    url = f"{srv.url(endpoint, token=WRONG)}&token={quote(token)}"
    status, body = await refusal(url)
    assert status == 403 and body["reason"] == "conflicting credentials"
    assert_logged_without_tokens(server_log, "conflicting credentials", token, WRONG)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_good_header_with_bad_auth_url_token_is_refused(
    srv: Any, token: str, server_log: Any, endpoint: str
) -> None:
    status, body = await refusal(
        srv.url(endpoint, token=WRONG), {"Authorization": f"token {token}"}
    )
    assert status == 403 and body["reason"] == "conflicting credentials"
    assert_logged_without_tokens(server_log, "conflicting credentials", token, WRONG)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_good_auth_url_with_other_query_token_is_refused(
    srv: Any, token: str, endpoint: str
) -> None:
    """Already refused before the review; kept with the others."""
    assert await handshake_status(f"{srv.url(endpoint)}&token={WRONG}") == 403


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
    srv: Any, token: str, jp_base_url: str, how: str, query: str | None, header: str | None
) -> None:
    """Legitimate use is unchanged: one token, sent one way or the same token twice."""
    url = srv.url(MAIN, token=token if how.startswith("auth-url") else None)
    if query:
        url += f"{'&' if '?' in url else '?'}token={quote(token)}"
    headers = {"Authorization": f"token {token}"} if header else None
    ws = await connect(url, headers=headers)
    try:
        reply = await BridgeClient(ws).request("GET", f"{jp_base_url}api/status")
        assert reply.status == 200
    finally:
        ws.close()


async def test_direct_request_repeating_the_token_is_refused(
    fetch: Any, token: str, server_log: Any
) -> None:
    """Direct mode: a repeated ``?token=`` would stay in the URI, so it is refused too."""
    page = {"Origin": COLAB_ORIGIN, "Sec-Fetch-Mode": "cors"}
    response = await fetch(f"api/status?token={WRONG}&token={quote(token)}", headers=page)
    assert response.code == 400
    body = json.loads(response.body)
    assert body["reason"] == "repeated credential" and "more than once" in body["message"]
    assert response.headers.get("Access-Control-Allow-Origin") == COLAB_ORIGIN  # readable
    assert_logged_without_tokens(server_log, "more than once", token, WRONG)
    # One token, as Colab sends it, still works; the server keeps serving.
    assert (await fetch(f"api/status?token={quote(token)}", headers=page)).code == 200
