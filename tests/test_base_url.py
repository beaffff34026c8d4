"""A JupyterHub-style ``base_url`` (``/user/alice/``): endpoints, auth URL, proxied_ws.

JupyterHub starts each user's server under ``/user/<name>/``; the bridge's
endpoints, request paths, auth-URL check and proxied sockets must all live
under it, and a URL of another user's server must not authenticate.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest

from tests.helpers.bridge_client import (
    KERNEL_SUBPROTOCOL,
    BridgeClient,
    KernelChannel,
    connected,
    handshake_status,
    ws_url,
)

BASE = "/user/alice/"


@pytest.fixture
def jp_base_url() -> str:
    return BASE


def auth_url(port: int, path: str, token: str) -> dict[str, str]:
    return {"jupyter_http_over_ws_auth_url": f"http://127.0.0.1:{port}{path}?token={quote(token)}"}


async def test_server_runs_under_base_url(jp_serverapp: Any) -> None:
    assert jp_serverapp.base_url == BASE


@pytest.mark.parametrize("path", [BASE, "/user/alice", "/user/alice/tree/x.ipynb"])
async def test_auth_url_under_base_url_accepted(
    url: Any, jp_http_port: int, token: str, path: str
) -> None:
    async with connected(url(token=None, params=auth_url(jp_http_port, path, token))) as ws:
        client = BridgeClient(ws)
        reply = await client.request("GET", f"{BASE}api/status")
        assert reply.status == 200 and "started" in reply.json()


@pytest.mark.parametrize("path", ["/", "/user/bob/", "/user/alicex/", "/user/", "/hub/"])
async def test_auth_url_under_other_base_url_refused(
    url: Any, jp_http_port: int, token: str, path: str
) -> None:
    """Another user's (or the hub's) URL never authenticates, even with the right token."""
    status = await handshake_status(url(token=None, params=auth_url(jp_http_port, path, token)))
    assert status == 403


async def test_endpoints_not_served_outside_base_url(
    jp_http_port: int, http_server_client: Any, token: str
) -> None:
    for endpoint in ("http_over_websocket", "http_over_websocket/diagnose"):
        status = await handshake_status(ws_url(jp_http_port, "/", endpoint, token=token))
        assert status == 404


async def test_diagnose_under_base_url(url: Any) -> None:
    async with connected(
        url("http_over_websocket/diagnose", params={"min_version": "0.0.7"})
    ) as ws:
        ws.write_message("m1")
        reply = json.loads(await ws.read_message())  # type: ignore[arg-type]
        assert reply["message_id"] == "m1" and reply["is_outdated_extension"] is False


async def test_request_paths_must_carry_base_url(open_bridge: Any) -> None:
    client = await open_bridge()
    inside, outside, escape = await client.wait(
        client.send("GET", f"{BASE}api/kernelspecs"),
        client.send("GET", "/api/kernelspecs"),
        client.send("GET", f"{BASE}../bob/api/kernelspecs"),
    )
    assert inside.status == 200 and "python3" in inside.json()["kernelspecs"]
    assert outside.status == 400 and BASE in (outside.status_text or "")
    assert escape.status == 400


@pytest.mark.parametrize("subprotocols", [[KERNEL_SUBPROTOCOL], None])
async def test_kernel_through_proxied_ws(
    url: Any, subprotocols: list[str] | None, open_bridge: Any
) -> None:
    client = await open_bridge(params={"min_version": "0.0.7"})
    body = json.dumps({"name": "python3"})
    started = await client.request("POST", f"{BASE}api/kernels", body=body)
    assert started.status == 201, started.body
    kernel_id = started.json()["id"]
    async with connected(
        url(f"http_over_websocket/proxied_ws/api/kernels/{kernel_id}/channels"),
        subprotocols=subprotocols,
    ) as ws:
        assert ws.selected_subprotocol == (subprotocols[0] if subprotocols else None)
        stdout, reply, _ = await KernelChannel(ws).execute("print(6*7)")
        assert stdout == "42\n" and reply["status"] == "ok"
    deleted = await client.request("DELETE", f"{BASE}api/kernels/{kernel_id}")
    assert deleted.status == 204


async def test_relayed_socket_under_base_url(url: Any, open_bridge: Any) -> None:
    """A non-kernel socket is relayed to ``/user/alice/<path>`` on this server."""
    async with connected(url("http_over_websocket/proxied_ws/api/events/subscribe")) as events:
        client = await open_bridge()
        saved = await client.request(
            "PUT",
            f"{BASE}api/contents/alice.txt",
            body=json.dumps({"type": "file", "format": "text", "content": "hub"}),
        )
        assert saved.status == 201, saved.body
        actions = []
        while "save" not in actions:
            message = await events.read_message()
            assert isinstance(message, str), message
            event = json.loads(message)
            if event.get("path") == "alice.txt":
                actions.append(event["action"])
