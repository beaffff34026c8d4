"""``jupyter lab`` (JupyterLab 4) and ``jupyter notebook`` (Notebook 7) serve the bridge too.

Both are jupyter_server applications that load server extensions; each is
started as a user would (subprocess, ``--no-browser``), then a Colab-like
client connects with the auth-URL flow, reads ``api/status`` and the
frontend's own page through the bridge.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from jupyter_colab_bridge.protocol.handshake import PROTOCOL_VERSION
from tests.helpers.bridge_client import BridgeClient, connected, ws_url
from tests.helpers.servers import running

FRONTENDS = [
    # (module run with python -m, minimum major version, its page, text on that page)
    ("jupyterlab", 4, "lab", "JupyterLab"),
    ("notebook", 7, "tree", "Jupyter Notebook"),
]


def _major(module: str) -> int:
    from importlib.metadata import version

    return int(version(module).split(".")[0])


@pytest.mark.parametrize(("module", "major", "page", "title"), FRONTENDS)
async def test_bridge_under_frontend(
    tmp_path: Path, module: str, major: int, page: str, title: str
) -> None:
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed (pip install -e '.[test]' brings it)")
    assert _major(module) >= major, f"{module} {major}+ expected"
    with running(tmp_path, app=module) as server:
        url = ws_url(server.port, "/", token=server.token, params={"min_version": "0.0.7"})
        assert "jupyter_http_over_ws_auth_url=http%3A%2F%2F127.0.0.1" in url
        async with connected(url) as ws:
            client = BridgeClient(ws)
            status, html = await client.wait(
                client.send("GET", "/api/status"), client.send("GET", f"/{page}")
            )
            assert status.status == 200 and "started" in status.json()
            assert html.status == 200, html.status_text
            assert html.headers["Content-Type"].startswith("text/html")
            assert title in html.body.decode()

        async with connected(ws_url(server.port, "/", "http_over_websocket/diagnose")) as diagnose:
            diagnose.write_message("d1")
            message = await diagnose.read_message()
            assert isinstance(message, str)
            assert json.loads(message)["extension_version"] == PROTOCOL_VERSION
