"""ColabBridge.kernel_map on a Kernel Gateway: the names come from the gateway's kernels.

A Kernel Gateway with a kernel only it has (``gwonly``), and the user's
server pointed at it with a map to that kernel; both on 127.0.0.1.
"""

from __future__ import annotations

import importlib.util
import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers.bridge_client import BridgeClient, connect, install_kernelspec, ws_url
from tests.helpers.servers import Server, kernel_gateway, running

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("kernel_gateway") is None,
    reason="jupyter_kernel_gateway is not installed (pip install -e '.[test]' brings it)",
)


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Server]]:
    """(gateway, user's server pointed at it, mapping python3 to the gateway's own kernel)."""
    tmp = tmp_path_factory.mktemp("gateway-map")
    kernels = tmp / "kernel-gateway-home" / "data" / "kernels"
    kernels.mkdir(parents=True)
    install_kernelspec(str(kernels), "gwonly")
    with kernel_gateway(tmp) as gateway:
        args = [
            f"--gateway-url=http://127.0.0.1:{gateway.port}",
            f"--GatewayClient.auth_token={gateway.token}",
            "--ColabBridge.kernel_map=python3=gwonly",
            "--ColabBridge.kernel_map=ir=nowhere",
        ]
        with running(tmp, args=args) as server:
            yield gateway, server


def gateway_kernels(gateway: Server) -> dict[str, str]:
    """Kernel id -> name, as the gateway itself reports them."""
    request = urllib.request.Request(
        f"{gateway.url}api/kernels", headers={"Authorization": f"token {gateway.token}"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return {k["id"]: k["name"] for k in json.load(response)}


async def test_page_gets_the_gateways_mapped_kernel(
    servers: tuple[Server, Server], sockets: list[Any]
) -> None:
    gateway, server = servers
    sockets.append(await connect(ws_url(server.port, server.base_url, token=server.token)))
    client = BridgeClient(sockets[-1])
    body = {"path": "g.ipynb", "type": "notebook", "name": "", "kernel": {"name": "python3"}}
    created = await client.request("POST", "/api/sessions", body=json.dumps(body))
    assert created.status == 201, created.body
    session = created.json()
    assert session["kernel"]["name"] == "gwonly"
    assert gateway_kernels(gateway)[session["kernel"]["id"]] == "gwonly"

    missing = await client.request("POST", "/api/kernels", body=json.dumps({"name": "ir"}))
    assert missing.status == 501
    message = missing.json()["message"]
    assert "'nowhere'" in message and "gwonly" in message and "c.ColabBridge.kernel_map" in message

    deleted = await client.request("DELETE", f"/api/sessions/{session['id']}")
    assert deleted.status == 204
    log = server.log.read_text()
    assert "kernel map for Colab's pages: ir -> nowhere, python3 -> gwonly" in log
    assert "sends 'ir' to 'nowhere', which this server does not have" in log
