"""One verdict per request, judged once at the front door (issue 24 item 1, issue 23 R1's "once").

The rule (exactly one ``Origin``, allowed, not the server's own) as pure
cases of :func:`judge`; then, on a real server, that each request's origin
is matched once, either way in, and that the bridge adds one rule to
tornado's router.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from tornado import httputil

from jupyter_colab_bridge.protocol.origins import OriginPolicy
from jupyter_colab_bridge.server.front_door import FrontDoor
from jupyter_colab_bridge.server.verdict import (
    NOT_JUDGED,
    Credentials,
    PageVerdict,
    judge,
    tunnelled,
)
from tests.helpers.bridge_client import COLAB_ORIGIN, BridgeClient, connect

POLICY = OriginPolicy([COLAB_ORIGIN, "http://127.0.0.1:8888"], [])


class _Connection:
    context = None

    def set_close_callback(self, callback: Any) -> None:
        """Nothing to close."""


def request(headers: list[tuple[str, str]], uri: str = "/api/status") -> httputil.HTTPServerRequest:
    fields = httputil.HTTPHeaders()
    fields.add("Host", "127.0.0.1:8888")
    for name, value in headers:
        fields.add(name, value)
    return httputil.HTTPServerRequest(
        start_line=httputil.RequestStartLine("GET", uri, "HTTP/1.1"),
        headers=fields,
        connection=_Connection(),  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("headers", "origin", "from_page", "cross_origin"),
    [
        ([("Origin", COLAB_ORIGIN)], COLAB_ORIGIN, True, True),
        ([], None, False, False),
        ([("Origin", "https://evil.example")], "https://evil.example", False, True),
        ([("Origin", COLAB_ORIGIN), ("Origin", COLAB_ORIGIN)], None, False, True),
        ([("Origin", "https://evil.example"), ("Origin", COLAB_ORIGIN)], None, False, True),
        # The server's own origin, even on the allowlist, is not "a page".
        ([("Origin", "http://127.0.0.1:8888")], "http://127.0.0.1:8888", False, False),
        ([("Origin", "null")], "null", False, True),
    ],
    ids=["colab", "none", "other", "twice", "two", "same-origin", "null"],
)
def test_the_rule(
    headers: list[tuple[str, str]], origin: str | None, from_page: bool, cross_origin: bool
) -> None:
    verdict = judge(request(headers), POLICY)
    assert verdict.origin == origin
    assert verdict.from_allowed_page is from_page
    assert verdict.direct_from_page is from_page
    assert verdict.cross_origin is cross_origin
    assert verdict.origin_headers == sum(1 for n, _ in headers if n == "Origin")


def test_credentials_are_what_the_request_carries() -> None:
    bare = judge(request([("Origin", COLAB_ORIGIN)]), POLICY)
    assert bare.credentials == Credentials() and not bare.credentials.token
    header = judge(request([("Authorization", "token x"), ("Cookie", "a=b")]), POLICY)
    assert header.credentials == Credentials(authorization=True, cookie=True)
    query = judge(request([], "/api/status?token=x"), POLICY)
    assert query.credentials == Credentials(query_token=True) and query.credentials.token


def test_a_tunnel_gives_its_requests_its_handshakes_record() -> None:
    handshake = judge(request([("Origin", COLAB_ORIGIN), ("Cookie", "a=b")], "/?token=t"), POLICY)
    record = tunnelled(handshake, {"Authorization": "token t", "Host": "127.0.0.1"})
    assert isinstance(record, PageVerdict)
    assert record.origin == COLAB_ORIGIN and record.from_allowed_page
    assert record.tunnelled and not record.direct_from_page  # no CORS, no gate
    assert record.credentials == Credentials(authorization=True)
    with pytest.raises(AttributeError):
        record.origin = "x"  # type: ignore[misc]  # frozen
    assert not NOT_JUDGED.from_allowed_page and not NOT_JUDGED.cross_origin


# -- on a real server ---------------------------------------------------------------


@pytest.fixture
def matches(bridge_app: Any, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every origin the server's policy is asked about (the real policy, watched)."""
    seen: list[str] = []
    policy = bridge_app.origin_policy
    allows = policy.allows

    def counted(origin: str) -> bool:
        seen.append(origin)
        return bool(allows(origin))

    monkeypatch.setattr(policy, "allows", counted)
    return seen


async def test_each_request_is_matched_once(
    fetch: Any, token: str, url: Any, jp_base_url: str, matches: list[str]
) -> None:
    page = {"Origin": COLAB_ORIGIN, "Authorization": f"token {token}"}
    # direct mode: a preflight, a read, a write (CORS, no-cookies, the origin check all ran)
    preflight = await fetch(
        "api/sessions",
        "OPTIONS",
        {"Origin": COLAB_ORIGIN, "Access-Control-Request-Method": "POST"},
    )
    assert preflight.code == 204
    assert (await fetch("api/status", headers=page)).code == 200
    assert (await fetch("api/contents", "POST", page, json.dumps({"type": "notebook"}))).code == 201
    assert matches == [COLAB_ORIGIN] * 3
    # a bridge socket: its handshake once; its tunnelled requests never
    client = BridgeClient(await connect(url()))
    for _ in range(3):
        assert (await client.request("GET", f"{jp_base_url}api/status")).status == 200
    assert matches == [COLAB_ORIGIN] * 4
    # a refused origin is matched once too
    other = await fetch("api/status", headers={**page, "Origin": "https://evil.example"})
    assert other.code in (200, 403, 404)
    assert matches[4:] == ["https://evil.example"]


def test_one_rule_in_tornados_router(jp_serverapp: Any) -> None:
    """The front door, first of all; nodelay's rule goes with the compat branch's set_nodelay."""
    rules = jp_serverapp.web_app.default_router.rules
    ours = [
        r.target
        for r in rules
        if type(r.target).__module__.startswith("jupyter_colab_bridge")
        and type(r.target).__name__ != "NoDelayForWebSockets"  # goes with compat's set_nodelay
    ]
    assert len(ours) == 1 and isinstance(ours[0], FrontDoor)
    assert isinstance(rules[0].target, FrontDoor)
