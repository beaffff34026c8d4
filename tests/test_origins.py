"""Who may open the bridge's sockets: the Origin and Host of the handshake.

Bad origins (and the legacy Sec-WebSocket-Origin, repeated Origin headers)
are refused with 403 on every endpoint and logged; without an Origin a
script needs credentials; a Host that is not local is refused (DNS
rebinding), and a forged local Host reaches nothing else (docs/protocol.md
section 4).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

from tests.helpers.bridge_client import (
    COLAB_ORIGIN,
    BridgeClient,
    connect,
    wait_closed,
)
from tests.helpers.cases import (
    DIAGNOSE,
    ENDPOINTS,
    MAIN,
    RELAY,
    SECRET,
)
from tests.helpers.probes import (
    Listener,
    raw_handshake_status,
)


@pytest.fixture
def token() -> str:
    """The server's token: one whose URL-encoded forms differ from the raw one."""
    return SECRET


BAD_ORIGINS = [
    "null",
    "colab.research.google.com",
    "https://colab.research.google.com.evil.example",
    "https://evilcolab.research.google.com",
    "http://colab.research.google.com",
    "https://colab.research.google.com:8443",
    "https://colab.research.google.com, https://evil.example",
]


# Each a way to present a bad origin at the handshake: "origin" sends it as the
# Origin header, "headers" adds a header beside Colab's Origin, "raw" sends the
# header lines byte for byte (repeated headers stay separate lines).
BAD_ORIGIN_CASES = [
    *(
        pytest.param("origin", [("Origin", origin)], id=f"origin-{label}")
        for origin, label in zip(
            BAD_ORIGINS,
            ["null", "no-scheme", "suffix", "prefix", "http", "port", "two-in-one"],
        )
    ),
    pytest.param(
        "headers", [("Sec-WebSocket-Origin", COLAB_ORIGIN)], id="legacy-colab-beside-origin"
    ),
    pytest.param(
        "headers",
        [("Sec-WebSocket-Origin", "https://evil.example")],
        id="legacy-evil-beside-origin",
    ),
    pytest.param("raw", [("Sec-WebSocket-Origin", COLAB_ORIGIN)], id="legacy-header-alone"),
    pytest.param(
        "raw", [("Origin", COLAB_ORIGIN), ("Origin", "https://evil.example")], id="two-origins"
    ),
    pytest.param("raw", [("Origin", COLAB_ORIGIN), ("Origin", COLAB_ORIGIN)], id="origin-twice"),
]


@pytest.mark.parametrize(("way", "headers"), BAD_ORIGIN_CASES)
@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("with_token", [True, False])
@pytest.mark.usefixtures("probe_routes")
async def test_bad_origins_refused_403_on_every_endpoint(
    url: Any,
    jp_http_port: int,
    endpoint: str,
    with_token: bool,
    way: str,
    headers: list[tuple[str, str]],
    server_log: Any,
) -> None:
    """A bad origin is refused with 403, token or not, and the refusal is logged once.

    From the adversarial tests (issue 3), where the twelve ways were one test.
    """
    token = SECRET if with_token else None
    if way == "raw":
        assert await raw_handshake_status(url, jp_http_port, endpoint, token, headers) == 403, (
            headers
        )
        assert (
            await raw_handshake_status(
                url, jp_http_port, endpoint, SECRET, [("Origin", COLAB_ORIGIN)]
            )
            == 101
        ), "the raw probe works"
    else:
        kwargs: dict[str, Any] = (
            {"origin": headers[0][1]} if way == "origin" else {"headers": dict(headers)}
        )
        with pytest.raises(HTTPClientError) as e:
            await connect(url(endpoint, token=token), **kwargs)
        assert e.value.code == 403, headers
    refusals = [
        r for r in server_log.records if "refused a WebSocket from origin" in r.getMessage()
    ]
    assert len(refusals) == 1, [r.getMessage() for r in refusals]


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.usefixtures("probe_routes")
async def test_no_origin_needs_credentials(
    url: Any, jp_base_url: str, sockets: list[Any], endpoint: str
) -> None:
    """From the adversarial tests (issue 3)."""
    with pytest.raises(HTTPClientError) as e:
        await connect(url(endpoint, token=None), origin=None)
    assert e.value.code == 403
    ws = await connect(
        url(endpoint, token=None), origin=None, headers={"Authorization": f"token {SECRET}"}
    )
    sockets.append(ws)
    if endpoint == MAIN:
        assert (await BridgeClient(ws).request("GET", f"{jp_base_url}api/status")).status == 200
    elif endpoint == DIAGNOSE:
        ws.write_message("1")
        assert json.loads(await ws.read_message())["message_id"] == "1"
    elif endpoint == RELAY:
        assert "host" in json.loads(await ws.read_message())
    else:
        assert (await wait_closed(ws))[0] == 404


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.usefixtures("probe_routes")
async def test_non_local_host_refused(url: Any, jp_http_port: int, endpoint: str) -> None:
    """From the adversarial tests (issue 3)."""
    for host in ("evil.example", f"evil.example:{jp_http_port}", "rebind.attacker.test:80"):
        with pytest.raises(HTTPClientError) as e:
            await connect(url(endpoint, auth_host=host), headers={"Host": host})
        assert e.value.code == 403


@pytest.mark.usefixtures("probe_routes")
async def test_forged_local_host_reaches_nothing_there(
    url: Any, jp_base_url: str, jp_http_port: int, sockets: list[Any], listener: Listener
) -> None:
    """From the adversarial tests (issue 3)."""
    forged = f"127.0.0.1:{listener.port}"
    # The auth URL matches the forged Host (as a rebinding page would make it): the token is
    # checked in-process and nothing is contacted.
    ws = await connect(url(MAIN, auth_host=forged), headers={"Host": forged})
    sockets.append(ws)
    client = BridgeClient(ws)
    echo = await client.request("GET", f"{jp_base_url}adv-headers")
    assert echo.status == 200
    hosts = [v for k, v in echo.json()["headers"] if k.lower() == "host"]
    assert hosts == [f"127.0.0.1:{jp_http_port}"]
    assert (await client.request("GET", f"{jp_base_url}api/status")).status == 200
    relay = await connect(url(RELAY, auth_host=forged), headers={"Host": forged})
    sockets.append(relay)
    assert json.loads(await relay.read_message())["host"] == f"127.0.0.1:{jp_http_port}"
    ws2 = await connect(
        url(MAIN, token=None), headers={"Host": forged, "Authorization": f"token {SECRET}"}
    )
    sockets.append(ws2)
    assert (await BridgeClient(ws2).request("GET", f"{jp_base_url}api/status")).status == 200
    assert listener.connections() == 0
