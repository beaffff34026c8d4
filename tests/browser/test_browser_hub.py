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
from hub_fixtures import HubUser
from hub_server import Hub
from test_browser import WAYS, StepTable, expect, open_page

pytestmark = [pytest.mark.browser, pytest.mark.hub, pytest.mark.timeout(300)]

FILE_BYTES = 1024 * 1024


@pytest.fixture
def alice_for_page(hub: Hub, page_origins: dict[str, str]) -> Iterator[HubUser]:
    """Alice's server, started for this test with the test page's origin allowed."""
    origins = ["https://colab.research.google.com", page_origins["allowed"]]
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
        await steps.run(
            "setup",
            "setup",
            {"way": way, "serverUrl": alice.url, "token": alice.token},
            check=lambda r: expect(r == page_origins["allowed"], f"page origin {r}"),
        )
        await steps.run(
            "list kernelspecs",
            "kernelspecs",
            check=lambda r: expect("python3" in r["names"], f"{r['names']}"),
        )
        await steps.run(
            "start session",
            "startSession",
            check=lambda r: expect(r["status"] == "connected", f"kernel {r['kernel'][:8]}"),
        )
        await steps.run(
            "execute print(6*7)",
            "execute",
            "print(6*7)",
            check=lambda r: expect(
                r["status"] == "ok" and r["stdout"] == "42\n", repr(r["stdout"])
            ),
        )
        await steps.run(
            "save+read 1 MB binary",
            "saveAndRead",
            FILE_BYTES,
            check=lambda r: expect(
                r["identical"] and r["read"] == FILE_BYTES and r["saved"] == FILE_BYTES,
                f"{r['read']:,} bytes identical",
            ),
        )
        await steps.run(
            "read a 404",
            "notFound",
            check=lambda r: expect(
                r["status"] == 404 and "no-such-file.txt" in r["body"], f"404 {r['body'][:40]!r}"
            ),
        )
        await steps.run(
            "shut session down",
            "shutdown",
            check=lambda r: expect(
                not r["sessionListed"] and not r["kernelListed"], "session and kernel gone"
            ),
        )
