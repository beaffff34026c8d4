"""Headless Chromium runs JupyterLab's client library against a real JupyterHub, both ways in.

The machinery of test_browser.py (its page, ``open_page`` and ``Steps``)
against alice's server behind the Hub's proxy
(``http://127.0.0.1:<proxy port>/user/alice/``), authenticated by a Hub API
token of alice's: the bridge way through the auth URL, the direct way with
the token (``Authorization`` on fetches, ``?token=`` on the kernel socket, as
``@jupyterlab/services`` sends them). The page is the suite's allowed
``http://localhost:<port>`` page, so alice's server is started for each test
with that origin added to ``ColabBridge.allowed_origins``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Callable

import pytest

from tests.helpers.bridge_client import COLAB_ORIGIN
from tests.helpers.browser_page import (
    WAYS,
    StepTable,
    open_page,
    open_session,
    read_404_and_shut_down,
)
from tests.helpers.hub_fixtures import HubUser
from tests.helpers.hub_server import Hub

pytestmark = [pytest.mark.browser, pytest.mark.hub, pytest.mark.timeout(300)]

FILE_BYTES = 1024 * 1024


@pytest.fixture
def alice_for_page(hub: Hub, page_origins: dict[str, str]) -> Iterator[HubUser]:
    """Alice's server, started for this test with the test page's origin allowed."""
    origins = [COLAB_ORIGIN, page_origins["allowed"]]
    hub.start_server("alice", args=[f"--ColabBridge.allowed_origins={o}" for o in origins])
    try:
        yield HubUser("alice", hub.new_token("alice"), hub)
    finally:
        hub.stop_server("alice")


@pytest.mark.parametrize("way", WAYS)
async def test_both_ways_through_the_hub(
    way: str,
    alice_for_page: HubUser,
    page_servers: Any,
    page_origins: dict[str, str],
    chromium_path: str,
    playwright_api: Any,
    artifacts: Callable[[str], Any],
    capsys: Any,
) -> None:
    alice = alice_for_page
    page_url = f"{page_origins['allowed']}/index.html"
    public_port = int(page_origins["allowed"].rsplit(":", 1)[1])
    table = StepTable(f"{way} way through JupyterHub, page {page_origins['allowed']}", f"hub-{way}")
    async with open_page(
        playwright_api, chromium_path, page_url, public_port, True, table, artifacts, capsys
    ) as steps:
        config = {"way": way, "serverUrl": alice.url, "token": alice.token}
        await open_session(steps, config, page_origins["allowed"], FILE_BYTES)
        await read_404_and_shut_down(steps)
