"""The token, wrong tokens and cookies never reach the log, a reply or a close reason.

Every way in (auth URL, ?token=, Authorization, cookie, bad frames, refused
handshakes, direct mode's ``?token=`` on every fetch) is tried with a token
whose URL-encoded forms differ from the raw one; each form is searched for.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
from tornado.httpclient import HTTPClientError
from tornado.websocket import WebSocketClientConnection

from tests.helpers.bridge_client import (
    COLAB_ORIGIN,
    KERNEL_SUBPROTOCOL,
    BridgeClient,
    connect,
    wait_closed,
)
from tests.helpers.cases import (
    KERNEL,
    MAIN,
    RELAY,
    SECRET,
    SECRET_CORE,
    WRONG,
)
from tests.helpers.probes import until


@pytest.fixture
def token() -> str:
    """The server's token: one whose URL-encoded forms differ from the raw one."""
    return SECRET


def _forms(secret: str) -> list[str]:
    return sorted(
        {
            secret,
            quote(secret),
            quote(secret, safe=""),
            quote_plus(secret),
            quote(quote(secret, safe=""), safe=""),
            SECRET_CORE if secret == SECRET else secret,
        }
    )


@pytest.mark.usefixtures("probe_routes")
async def test_secrets_never_logged_replied_or_in_close_reasons(
    url: Any,
    jp_base_url: str,
    jp_http_port: int,
    bridge_app: Any,
    sockets: list[Any],
    server_log: Any,
    jp_fetch: Any,
    jp_root_dir: Any,
) -> None:
    """From the adversarial tests (issue 3)."""
    seen: list[str] = []  # every frame text and close reason the page got
    base = jp_base_url

    async def session(ws: WebSocketClientConnection, requests: list[tuple[str, str]]) -> None:
        sockets.append(ws)
        client = BridgeClient(ws)
        for method, path in requests:
            reply = await client.request(method, path)
            seen.extend(json.dumps(f) for f in reply.frames)

    ok = [
        ("GET", f"{base}api/status"),
        ("GET", f"{base}adv-fail"),
        ("GET", f"{base}api/contents/nope"),
        ("POST", f"{base}api/contents"),
        ("GET", f"{base}../x"),
        ("TRACE", f"{base}api/status"),
    ]
    await session(await connect(url(params={"min_version": "0.0.7"})), ok)
    await session(await connect(url(token=None, params={"token": SECRET})), ok)
    await session(await connect(url(token=None), headers={"Authorization": f"token {SECRET}"}), ok)
    response = await jp_fetch("api", "status")
    cookies = response.headers.get_list("Set-Cookie")
    login = next(c for c in cookies if c.startswith("username-")).split(";", 1)[0]
    cookie_value = login.split("=", 1)[1]
    bridge_app.allow_cookie_auth = True  # the original's cookie flow
    await session(await connect(url(token=None), headers={"Cookie": login}), ok)
    bridge_app.allow_cookie_auth = False
    # cross-domain auth URL with another credential: 500 replies
    await session(
        await connect(
            url(auth_host="evil.example:1"), headers={"Authorization": f"token {SECRET}"}
        ),
        ok,
    )
    # bad frames
    ws = await connect(url())
    sockets.append(ws)
    for frame in (
        "not json",
        "[]",
        json.dumps({"message_id": "m", "method": "GET", "body": SECRET}),
        json.dumps({"x": SECRET}),
    ):
        ws.write_message(frame)
        seen.append(await ws.read_message())
    # min_version close, on a socket that carries the token
    for version in ("9.9", "bad!"):
        ws = await connect(url(params={"min_version": version}))
        sockets.append(ws)
        code, reason = await wait_closed(ws)
        assert code == 400
        seen.append(str(reason))
    # proxied_ws: relay, unknown kernel, unknown path
    for endpoint in (RELAY, KERNEL, "http_over_websocket/proxied_ws/api/none"):
        ws = await connect(url(endpoint), subprotocols=[KERNEL_SUBPROTOCOL])
        sockets.append(ws)
        while (msg := await ws.read_message()) is not None:
            seen.append(str(msg))
            ws.close()
        seen.append(f"{ws.close_code} {ws.close_reason}")
    # failures: wrong tokens everywhere, cross-domain auth URLs without other credentials
    wrongs = [
        dict(url=url(token=WRONG)),
        dict(url=url(token=None, params={"token": WRONG})),
        dict(url=url(token=None), headers={"Authorization": f"token {WRONG}"}),
        dict(url=url(auth_host="evil.example")),
        dict(url=url(RELAY, token=WRONG)),
        dict(url=url(KERNEL, auth_host=f"127.0.0.1:{jp_http_port + 1}")),
        dict(url=url(MAIN), origin="https://evil.example"),
        dict(url=url(MAIN), headers={"Host": "evil.example"}),
    ]
    for case in wrongs:
        with pytest.raises(HTTPClientError) as e:
            await connect(case.pop("url"), **case)
        assert e.value.code == 403
        seen.append(str(e.value))
        if e.value.response is not None:
            seen.append((e.value.response.body or b"").decode("latin-1"))
    # Every socket closed and its handler gone: what closing logs is in the log too.
    for ws in sockets:
        ws.close()
    assert await until(
        lambda: not bridge_app.open_connections and not bridge_app.diagnose_connections
    )

    logged = server_log.text()
    assert "Uncaught exception" in logged or "deliberate failure" in logged, "the 500 was logged"
    assert "refusing the auth URL" in logged
    for secret in _forms(SECRET) + _forms(WRONG) + [cookie_value]:
        assert secret not in logged, f"{secret!r} in the server log"
        for text in seen:
            assert secret not in text, f"{secret!r} sent to the page: {text[:200]}"


# --------------------------------------------------------------------------------------
# -- Direct mode's ``?token=`` never reaches the server's log (issue 16, finding 3).
#
# Colab's page sends ``?token=`` on every fetch in direct mode. jupyter_server
# and tornado log an error with its request summary (method, the whole URI,
# the peer): a 404, an XSRF refusal, a path outside the root. Once the gate has
# taken the query's token as the page's credential, no log line at any level
# holds it, and the token still authenticates.
# (These tests were tests/test_token_in_logs.py.)
# --------------------------------------------------------------------------------------
PAGE = {"Origin": COLAB_ORIGIN, "Sec-Fetch-Mode": "cors"}


def q(token: str) -> str:
    """The token as a page puts it in a query (its ``+`` and ``/`` encoded)."""
    return quote(token, safe="")


def assert_not_logged(server_log: Any, secret: str) -> None:
    text = server_log.text()
    for form in {secret, quote(secret, safe=""), quote(quote(secret, safe=""), safe="")}:
        assert form not in text, [
            r.getMessage() for r in server_log.records if form in r.getMessage()
        ]


async def test_not_found_does_not_log_the_token(fetch: Any, token: str, server_log: Any) -> None:
    response = await fetch(f"api/contents/no-such.ipynb?token={q(token)}", headers=PAGE)
    assert response.code == 404
    assert any(
        "No such file or directory: no-such.ipynb" in r.getMessage() for r in server_log.records
    ), "nothing logged"
    assert_not_logged(server_log, token)


async def test_outside_root_does_not_log_the_token(fetch: Any, token: str, server_log: Any) -> None:
    response = await fetch(f"api/contents/..%2F..%2F..%2Fetc?token={q(token)}", headers=PAGE)
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
    status = await fetch(f"api/status?token={q(token)}", headers=PAGE)
    assert status.code == 200
    started = await fetch(f"api/kernels?token={q(token)}", "POST", PAGE, "{}")
    assert started.code == 201
    kernel = json.loads(started.body)["id"]
    gone = await fetch(f"api/kernels/{kernel}?token={q(token)}", "DELETE", PAGE)
    assert gone.code == 204
    assert_not_logged(server_log, token)


async def test_script_query_is_left_as_it_is(fetch: Any, token: str, server_log: Any) -> None:
    """No ``Origin``: jupyter_server's own handling (its access log masks the token)."""
    response = await fetch(f"api/status?token={q(token)}")
    assert response.code == 200


async def test_encoded_parameter_name_is_taken_too(fetch: Any, token: str, server_log: Any) -> None:
    """``%74oken=`` is ``token`` to tornado's parser, so it is taken (and hidden) as well."""
    response = await fetch(f"api/contents/gone.ipynb?a=1&%74oken={q(token)}&b=%20", headers=PAGE)
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
