"""Remote kernels: jupyter_server with ``--gateway-url`` pointing at a Kernel Gateway.

This is how kernels scale past one machine (Enterprise Gateway on Kubernetes
speaks the same protocol). Both processes run here on 127.0.0.1: the gateway
owns the kernels; the user's server forwards kernel calls to it, and its
kernel WebSocket connection class becomes ``GatewayWebSocketConnection``,
which the bridge's in-process kernel channels must use as they are.
"""

from __future__ import annotations

import importlib.util
import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers.bridge_client import (
    KERNEL_SUBPROTOCOL,
    BridgeClient,
    KernelChannel,
    connect,
    connected,
    ws_url,
)
from tests.helpers.servers import Server, kernel_gateway, running

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("kernel_gateway") is None,
    reason="jupyter_kernel_gateway is not installed (pip install -e '.[test]' brings it)",
)


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Server]]:
    """(gateway, user's server pointed at it)."""
    tmp = tmp_path_factory.mktemp("gateway")
    with kernel_gateway(tmp) as gateway:
        args = [
            f"--gateway-url=http://127.0.0.1:{gateway.port}",
            f"--GatewayClient.auth_token={gateway.token}",
        ]
        with running(tmp, args=args) as server:
            yield gateway, server


def gateway_kernel_ids(gateway: Server) -> set[str]:
    """Kernel ids the gateway itself reports (asked directly, not through the server)."""
    request = urllib.request.Request(
        f"{gateway.url}api/kernels", headers={"Authorization": f"token {gateway.token}"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return {k["id"] for k in json.load(response)}


def bridge_url(server: Server, endpoint: str = "http_over_websocket", **kwargs: Any) -> str:
    return ws_url(server.port, server.base_url, endpoint, token=server.token, **kwargs)


@pytest.mark.parametrize("subprotocols", [[KERNEL_SUBPROTOCOL], None])
async def test_colab_session_on_gateway_kernel(
    servers: tuple[Server, Server], subprotocols: list[str] | None, sockets: list[Any]
) -> None:
    gateway, server = servers
    sockets.append(await connect(bridge_url(server, params={"min_version": "0.0.7"})))
    client = BridgeClient(sockets[-1])
    specs = await client.request("GET", "/api/kernelspecs")
    assert specs.status == 200 and "python3" in specs.json()["kernelspecs"]

    body = {"path": "remote.ipynb", "type": "notebook", "name": "", "kernel": {"name": "python3"}}
    created = await client.request("POST", "/api/sessions", body=json.dumps(body))
    assert created.status == 201, created.body
    session = created.json()
    kernel_id = session["kernel"]["id"]
    assert kernel_id in gateway_kernel_ids(gateway), "the kernel must live on the gateway"

    async with connected(
        bridge_url(
            server,
            f"http_over_websocket/proxied_ws/api/kernels/{kernel_id}/channels",
            params={"session_id": session["id"]},
        ),
        subprotocols=subprotocols,
    ) as ws:
        kernel = KernelChannel(ws)
        stdout, reply, _ = await kernel.execute("import os; print(6*7, os.getpid())")
        assert reply["status"] == "ok"
        answer, pid = stdout.split()
        assert answer == "42"
        stdout2, _, _ = await kernel.execute("print(os.getpid())")
        assert stdout2.strip() == pid, "both cells ran in the same remote kernel"

    deleted = await client.request("DELETE", f"/api/sessions/{session['id']}")
    assert deleted.status == 204
    assert kernel_id not in gateway_kernel_ids(gateway)


async def test_unknown_gateway_kernel_closes_404(servers: tuple[Server, Server]) -> None:
    _, server = servers
    async with connected(
        bridge_url(server, "http_over_websocket/proxied_ws/api/kernels/no-such-kernel/channels")
    ) as ws:
        assert await ws.read_message() is None
        assert ws.close_code == 404


def test_runtime_api_leaves_gateway_kernels_out(servers: tuple[Server, Server]) -> None:
    """A gateway kernel has no process here: api/colab/resources lists no memory for it."""
    gateway, server = servers
    headers = {"Authorization": f"token {server.token}", "Content-Type": "application/json"}

    def call(method: str, path: str, body: bytes | None = None) -> bytes:
        request = urllib.request.Request(
            f"{server.url}{path}", data=body, method=method, headers=headers
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            return bytes(response.read())

    kernel_id = json.loads(call("POST", "api/kernels", b"{}"))["id"]
    try:
        assert kernel_id in gateway_kernel_ids(gateway)
        body = call("GET", "api/colab/resources")
        assert body.startswith(b")]}'\n")
        memory = json.loads(body[5:])["memory"]
        assert memory["kernels"] == []
        assert memory["totalBytes"] > 0
    finally:
        call("DELETE", f"api/kernels/{kernel_id}")
