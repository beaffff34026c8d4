"""The tunnel under pressure: pages that close mid-reply, handlers that outlive
their timeout, non-finite ids, conflicting credentials (issue 20)."""

from __future__ import annotations

import asyncio
import base64
import gc
import json
import logging
from typing import Any

import pytest
from jupyter_server.base.handlers import JupyterHandler
from tornado import web

from jupyter_colab_bridge.protocol.frames import FrameError, parse_request_frame
from tests.helpers.bridge_client import BridgeClient, connect, handshake_status
from tests.helpers.probes import server_handler_for, until

IN_FLIGHT = 4
ABANDONED = 4


class SlowHandler(JupyterHandler):
    """Outlives any timeout the tests set; counts the handlers running at once."""

    running = 0
    peak = 0
    release: asyncio.Event | None = None

    @web.authenticated
    async def get(self) -> None:
        cls = SlowHandler
        cls.running += 1
        cls.peak = max(cls.peak, cls.running)
        try:
            assert cls.release is not None
            await cls.release.wait()
            self.finish("slow")
        finally:
            cls.running -= 1


@pytest.fixture
def bridge_config() -> dict[str, Any]:
    return {
        "max_requests_in_flight": IN_FLIGHT,
        "max_abandoned_requests": ABANDONED,
        "request_timeout": 0.3,
    }


@pytest.fixture
def slow(jp_serverapp: Any, jp_base_url: str) -> Any:
    SlowHandler.running = SlowHandler.peak = 0
    SlowHandler.release = asyncio.Event()
    jp_serverapp.web_app.add_handlers(".*$", [(f"{jp_base_url}test-slow", SlowHandler)])
    yield f"{jp_base_url}test-slow"
    SlowHandler.release.set()


def strict_loads(text: str) -> Any:
    def refuse(name: str) -> Any:
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


async def statuses(client: BridgeClient, ids: list[Any]) -> list[int | None]:
    return [r.status for r in await asyncio.wait_for(client.wait(*ids), 30)]


# -- 3. in-flight limits hold until the handler finishes ----------------------------
async def test_timed_out_requests_keep_their_place(url: Any, slow: str, server_log: Any) -> None:
    ws = await connect(url())
    client = BridgeClient(ws)
    first = [client.send("GET", slow) for _ in range(IN_FLIGHT)]
    assert await statuses(client, first) == [504] * IN_FLIGHT
    assert SlowHandler.running == IN_FLIGHT  # they run on
    again = [client.send("GET", slow) for _ in range(IN_FLIGHT)]
    assert await statuses(client, again) == [503] * IN_FLIGHT
    assert SlowHandler.peak == IN_FLIGHT
    assert "max_requests_in_flight" in client.replies[again[0]].status_text
    ws.close()


async def test_closed_sockets_cannot_multiply_the_work(
    url: Any, slow: str, jp_base_url: str, bridge_app: Any
) -> None:
    refused = 0
    for _ in range(3):
        ws = await connect(url())
        client = BridgeClient(ws)
        ids = [client.send("GET", slow) for _ in range(IN_FLIGHT)]
        got = await statuses(client, ids)
        refused += got.count(503)
        ws.close()
        assert await until(lambda: not bridge_app.open_connections)  # the server saw it
    assert SlowHandler.peak <= IN_FLIGHT + ABANDONED
    assert refused > 0
    # Other requests are still served while the budget is spent.
    ws = await connect(url())
    reply = await BridgeClient(ws).request("GET", f"{jp_base_url}api/status")
    assert reply.status in (200, 503)
    SlowHandler.release.set()  # type: ignore[union-attr]
    assert await until(lambda: SlowHandler.running == 0)
    assert (await BridgeClient(ws).request("GET", f"{jp_base_url}api/status")).status == 200
    ws.close()


# -- 2. a page that closes mid-download costs at most one log line --------------------
@pytest.mark.parametrize("bridge_config", [{}])
async def test_page_closing_mid_download_logs_one_line(
    url: Any, jp_base_url: str, jp_root_dir: Any, server_log: Any, bridge_app: Any
) -> None:
    (jp_root_dir / "big.bin").write_bytes(b"\x01" * (20 * 1024 * 1024))
    ws = await connect(url())
    client = BridgeClient(ws)
    client.send("GET", f"{jp_base_url}api/contents/big.bin?content=1&format=base64")
    await client.read_frame()  # the reply has started; stop reading
    handler = server_handler_for(bridge_app, ws)
    tasks = list(handler.tunnel.tasks)
    assert tasks, "the download runs on"
    before = len(server_log.records)
    ws.close()
    # The server has seen the close and ended the download; then what gc finds.
    assert await until(lambda: not bridge_app.open_connections)
    assert await until(lambda: all(t.done() for t in tasks))
    gc.collect()
    noisy = [
        r
        for r in server_log.records[before:]
        if r.levelno >= logging.WARNING or r.exc_info is not None
    ]
    assert len(noisy) <= 1, "\n".join(r.getMessage() for r in noisy[:5])
    ws = await connect(url())
    assert (await BridgeClient(ws).request("GET", f"{jp_base_url}api/status")).status == 200
    ws.close()


# -- 5. strict JSON both ways -------------------------------------------------------
@pytest.mark.parametrize("raw", ["NaN", "Infinity", "-Infinity", "1e400", "-1e400"])
def test_non_finite_message_id_is_refused(raw: str) -> None:
    frame = f'{{"message_id": {raw}, "method": "GET", "path": "/api/status"}}'
    with pytest.raises(FrameError) as e:
        parse_request_frame(frame)
    reply = strict_loads(e.value.reply())
    assert reply["status"] == 400
    assert "message_id" not in reply


@pytest.mark.parametrize("raw", ["NaN", "1e400"])
async def test_non_finite_message_id_live(url: Any, jp_base_url: str, raw: str) -> None:
    ws = await connect(url())
    await ws.write_message(
        f'{{"message_id": {raw}, "method": "GET", "path": "{jp_base_url}api/status"}}'
    )
    message = await ws.read_message()
    assert isinstance(message, str)
    assert strict_loads(message)["status"] == 400
    reply = await BridgeClient(ws).request("GET", f"{jp_base_url}api/status")
    assert reply.status == 200
    ws.close()


def test_finite_numeric_ids_still_echo() -> None:
    assert (
        parse_request_frame('{"message_id": 1.5, "method": "GET", "path": "/"}').message_id == 1.5
    )


# -- 6. one credential per socket ---------------------------------------------------
async def test_conflicting_credentials_refused_at_handshake(
    url: Any, jp_base_url: str, token: str, server_log: Any
) -> None:
    both = url(token=None, params={"token": token})
    assert await handshake_status(both, headers={"Authorization": "token wrong"}) == 403
    assert "conflicting credentials" in server_log.text()
    # The same token twice is one credential.
    ws = await connect(both, headers={"Authorization": f"token {token}"})
    reply = await BridgeClient(ws).request("GET", f"{jp_base_url}api/status")
    assert reply.status == 200
    ws.close()


async def test_auth_url_token_and_other_query_token_refused(
    url: Any, jp_base_url: str, token: str
) -> None:
    """The auth URL's token becomes the socket's Authorization: a different ?token= conflicts."""
    assert await handshake_status(url(params={"token": "other"})) == 403
    ws = await connect(url(params={"token": token}))
    assert (await BridgeClient(ws).request("GET", f"{jp_base_url}api/status")).status == 200
    ws.close()


@pytest.mark.parametrize("value", [0, -1])
def test_max_abandoned_requests_below_one_is_refused(value: int) -> None:
    from traitlets import TraitError

    from jupyter_colab_bridge.app import ColabBridge

    with pytest.raises(TraitError, match="max_abandoned_requests must be at least 1"):
        ColabBridge(max_abandoned_requests=value)


async def test_query_token_alone_is_forwarded(url: Any, jp_base_url: str, token: str) -> None:
    ws = await connect(url(token=None, params={"token": token}))
    reply = await BridgeClient(ws).request("GET", f"{jp_base_url}api/status")
    assert reply.status == 200
    ws.close()


def test_body_base64_survives_the_strict_parser() -> None:
    body = base64.b64encode(b"\x00\xff" * 10).decode()
    frame = json.dumps({"message_id": "a", "method": "POST", "path": "/", "body_base64": body})
    assert parse_request_frame(frame).body == b"\x00\xff" * 10
