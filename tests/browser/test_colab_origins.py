"""The page at Colab's own origins, with the server's default allowlist.

Playwright's ``context.route`` serves the suite's page (JupyterLab's client
library and the harness) at ``https://colab.research.google.com`` and at
``https://colab.google.com``, the two origins Colab serves notebooks from
(docs/protocol.md section 4); the server keeps its DEFAULT
``ColabBridge.allowed_origins`` (this module's ``bridge_config`` sets nothing,
unlike the suite's). The context holds Chromium's ``local-network-access``
permission for the origin, as a user clicking "Allow" would. Both ways in:
setup, kernelspecs, a session, ``print(6*7)``, a small binary file saved and
read back, shutdown.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

import pytest

from tests.helpers.bridge_client import COLAB_ORIGINS
from tests.helpers.browser_page import (
    INDEX,
    WAYS,
    Steps,
    StepTable,
    open_page,
    open_session,
    read_404_and_shut_down,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

FILE_BYTES = 4096


@pytest.fixture
def bridge_config() -> dict[str, Any]:
    """Nothing: the server's default ``ColabBridge.allowed_origins``."""
    return {}


@asynccontextmanager
async def routed_page(
    playwright_api: Any,
    chromium_path: str,
    origin: str,
    bundle: Path,
    table: StepTable,
    artifacts: Callable[[str], Any],
    capsys: Any,
) -> AsyncIterator[Steps]:
    """Chromium with the page served at ``origin`` by ``context.route``, LNA granted."""
    files = {
        "/index.html": (INDEX.read_bytes(), "text/html; charset=utf-8"),
        "/harness.js": (bundle.read_bytes(), "text/javascript; charset=utf-8"),
    }

    async def serve(route: Any) -> None:
        found = files.get(urlsplit(route.request.url).path)
        if found is None:
            await route.fulfill(status=404, body=b"")
            return
        body, content_type = found
        headers = {"Content-Type": content_type, "Cache-Control": "no-store"}
        await route.fulfill(status=200, body=body, headers=headers)

    async with open_page(
        playwright_api,
        chromium_path,
        f"{origin}/index.html",
        None,
        True,
        table,
        artifacts,
        capsys,
        serve=serve,
    ) as steps:
        yield steps


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("origin", COLAB_ORIGINS)
async def test_colab_origin_default_allowlist(
    origin: str,
    way: str,
    http_server: Any,
    jp_http_port: int,
    jp_base_url: str,
    token: str,
    harness_bundle: Path,
    chromium_path: str,
    playwright_api: Any,
    artifacts: Callable[[str], Any],
    capsys: Any,
) -> None:
    server_url = f"http://127.0.0.1:{jp_http_port}{jp_base_url}"
    host = urlsplit(origin).hostname
    table = StepTable(f"{way} way, page at {origin}, default allowlist", f"colab-{host}-{way}")
    async with routed_page(
        playwright_api, chromium_path, origin, harness_bundle, table, artifacts, capsys
    ) as steps:
        config = {"way": way, "serverUrl": server_url, "token": token}
        await open_session(steps, config, origin, FILE_BYTES)
        await read_404_and_shut_down(steps)
