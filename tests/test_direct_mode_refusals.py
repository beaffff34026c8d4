"""Direct mode's refusals say why, in the log and in the JSON reply (issue 26, item 3).

A page on an allowed origin calling the REST API itself with a stale token, or
none, gets a 403 whose JSON says which (``"reason": "invalid token"`` or
``"no token"``) and what to do, and the server logs one line that says the
same, never with the token. A script without ``Origin`` gets jupyter_server's
own reply, and a page with the right token its answer; the server keeps
serving. (A server without authentication: ``test_no_auth_server.py``.)
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from jupyter_colab_bridge.protocol.refusals import (
    NO_TOKEN,
    WRONG_TOKEN,
    refusal_reply,
    why_refused,
)
from tests.helpers.bridge_client import COLAB_ORIGIN, handshake_status, ws_url

STALE = "stale-t0ken-from-yesterday"
PAGE = {"Origin": COLAB_ORIGIN, "Sec-Fetch-Mode": "cors"}


def refusal_lines(server_log: Any) -> list[str]:
    return [line for line in server_log.text().splitlines() if "Colab bridge: refused" in line]


@pytest.mark.parametrize(
    ("path", "headers", "expected"),
    [
        (f"api/colab/build-info?token={STALE}", {}, WRONG_TOKEN),
        ("api/colab/build-info", {"Authorization": f"token {STALE}"}, WRONG_TOKEN),
        (f"api/kernels?token={STALE}", {}, WRONG_TOKEN),
        ("api/colab/build-info", {}, NO_TOKEN),
        ("api/sessions", {}, NO_TOKEN),
    ],
)
async def test_a_page_is_told_why(
    fetch: Any, server_log: Any, token: str, path: str, headers: dict[str, str], expected: Any
) -> None:
    response = await fetch(path, headers={**PAGE, **headers})
    assert response.code == 403
    reply = json.loads(response.body)
    assert reply["reason"] == expected.reason
    assert reply["message"] == expected.message
    assert "jupyter colab-bridge url" in reply["message"]
    assert response.headers["Access-Control-Allow-Origin"] == COLAB_ORIGIN  # readable
    (line,) = refusal_lines(server_log)
    assert f"refused GET /a%40b/{path.partition('?')[0]} from {COLAB_ORIGIN}: " in line
    assert expected.log in line
    assert STALE not in server_log.text()
    # the server goes on serving the right token
    ok = await fetch("api/colab/build-info", headers={**PAGE, "Authorization": f"token {token}"})
    assert ok.code == 200


async def test_a_post_without_a_token_is_told_why(fetch: Any, server_log: Any) -> None:
    response = await fetch("api/sessions", "POST", headers=PAGE, body="{}")
    assert response.code == 403
    assert json.loads(response.body)["reason"] == "no token"
    assert len(refusal_lines(server_log)) == 1


async def test_a_script_gets_jupyter_servers_own_reply(fetch: Any, server_log: Any) -> None:
    response = await fetch(f"api/colab/build-info?token={STALE}")
    assert response.code == 403
    assert json.loads(response.body)["reason"] is None
    assert refusal_lines(server_log) == []


async def test_an_unauthenticated_route_is_not_refused(fetch: Any, server_log: Any) -> None:
    """``GET api`` lets anyone in: no user, but no refusal either."""
    response = await fetch(f"api?token={STALE}", headers=PAGE)
    assert response.code == 200
    assert refusal_lines(server_log) == []


async def test_a_direct_kernel_socket_with_a_stale_token(
    http_server_client: Any, jp_http_port: int, jp_base_url: str, server_log: Any
) -> None:
    url = ws_url(jp_http_port, jp_base_url, "api/events/subscribe", params={"token": STALE})
    assert await handshake_status(url) == 403
    (line,) = refusal_lines(server_log)
    assert WRONG_TOKEN.log in line and STALE not in server_log.text()


def test_why_refused_and_the_reply() -> None:
    assert why_refused(sent_token=True) is WRONG_TOKEN
    assert why_refused(sent_token=False) is NO_TOKEN
    body = json.dumps({"message": "Forbidden", "reason": None, "extra": 1}).encode()
    replaced = json.loads(refusal_reply(body, NO_TOKEN) or b"")
    assert replaced == {"message": NO_TOKEN.message, "reason": "no token", "extra": 1}
    assert refusal_reply(b"<html>403</html>", NO_TOKEN) is None
    assert refusal_reply(b"[1]", NO_TOKEN) is None


class _Provider:
    """An identity provider that answers at once (a custom one may) or later."""

    def __init__(self, user: Any, at_once: bool) -> None:
        self.user, self.at_once = user, at_once

    def get_user(self, handler: Any) -> Any:
        if self.at_once:
            return self.user

        async def later() -> Any:
            return self.user

        return later()


@pytest.mark.parametrize("at_once", [True, False])
@pytest.mark.parametrize("user", [None, "someone"])
async def test_the_note_keeps_the_providers_answer(at_once: bool, user: Any) -> None:
    from types import SimpleNamespace

    from tornado.httputil import HTTPHeaders, HTTPServerRequest, RequestStartLine

    from jupyter_colab_bridge.server.page_refusals import _REFUSAL, note_unauthenticated_pages
    from jupyter_colab_bridge.server.verdict import PageVerdict, record

    request = HTTPServerRequest(
        start_line=RequestStartLine("GET", "/api/x", "HTTP/1.1"),
        headers=HTTPHeaders({"Origin": COLAB_ORIGIN, "Host": "127.0.0.1:8888"}),
    )
    record(request, PageVerdict(COLAB_ORIGIN, 1, allowed=True))
    provider = _Provider(user, at_once)
    note_unauthenticated_pages(provider)
    found = provider.get_user(SimpleNamespace(request=request))
    assert (hasattr(found, "__await__")) is not at_once
    assert (found if at_once else await found) == user
    assert getattr(request, _REFUSAL, None) == (NO_TOKEN if user is None else None)
