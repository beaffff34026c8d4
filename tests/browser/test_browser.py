"""Headless Chromium runs JupyterLab's client library against the server, both ways in.

The page is served from ``http://localhost:<port>``, another site than the
server on ``127.0.0.1``, and made to count as a public page
(``--ip-address-space-overrides``), as Colab's is; the test grants Chromium's
``local-network-access`` permission as a user clicking "Allow" would.

* bridge: REST over HTTP-over-WebSocket frames, kernel channels through
  ``proxied_ws``, authenticated by the auth URL;
* direct: ``ServerConnection.makeSettings`` with the server's URL and token
  (CORS, credentialed).

Each test prints a table of its steps (pass/fail, seconds) and, on failure,
saves a screenshot and the page's console under tests/browser/artifacts/.
"""

from __future__ import annotations

from typing import Any, Callable

import pytest

from tests.helpers.browser_page import (
    FILE_BYTES,
    OUTPUT_BYTES,
    WAYS,
    StepTable,
    expect,
    open_page,
    open_session,
    read_404_and_shut_down,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]


@pytest.mark.parametrize("way", WAYS)
async def test_both_ways(
    way: str,
    http_server: Any,
    jp_http_port: int,
    jp_base_url: str,
    token: str,
    page_servers: Any,
    page_origins: dict[str, str],
    chromium_path: str,
    playwright_api: Any,
    artifacts: Callable[[str], Any],
    capsys: Any,
) -> None:
    server_url = f"http://127.0.0.1:{jp_http_port}{jp_base_url}"
    page_url = f"{page_origins['allowed']}/index.html"
    public_port = int(page_origins["allowed"].rsplit(":", 1)[1])
    table = StepTable(f"{way} way, page {page_origins['allowed']}", f"both-ways-{way}")
    async with open_page(
        playwright_api, chromium_path, page_url, public_port, True, table, artifacts, capsys
    ) as steps:
        config = {"way": way, "serverUrl": server_url, "token": token}
        await open_session(steps, config, page_origins["allowed"], FILE_BYTES)
        await steps.run(
            "receive 2 MB output",
            "bigOutput",
            OUTPUT_BYTES,
            check=lambda r: expect(r["intact"], f"{r['length']:,} chars"),
        )
        await steps.run(
            "interrupt kernel",
            "interrupt",
            check=lambda r: expect(r["interrupted"], f"{r['status']} {r.get('ename')}"),
        )
        await steps.run(
            "restart kernel",
            "restart",
            check=lambda r: expect(
                r["before"] == "True" and r["after"] == "False 42", f"{r['before']} -> {r['after']}"
            ),
        )
        await read_404_and_shut_down(steps)


@pytest.mark.parametrize("way", WAYS)
async def test_disallowed_origin_is_refused(
    way: str,
    http_server: Any,
    jp_http_port: int,
    jp_base_url: str,
    token: str,
    page_servers: Any,
    page_origins: dict[str, str],
    chromium_path: str,
    playwright_api: Any,
    artifacts: Callable[[str], Any],
    capsys: Any,
    caplog: Any,
) -> None:
    server_url = f"http://127.0.0.1:{jp_http_port}{jp_base_url}"
    page_url = f"{page_origins['other']}/index.html"
    public_port = int(page_origins["other"].rsplit(":", 1)[1])
    table = StepTable(f"{way} way, disallowed page {page_origins['other']}", f"disallowed-{way}")
    async with open_page(
        playwright_api, chromium_path, page_url, public_port, True, table, artifacts, capsys
    ) as steps:
        await steps.run("setup", "setup", {"way": way, "serverUrl": server_url, "token": token})

        def refused(r: dict[str, Any]) -> str:
            assert r["error"] is not None, "the page was served"
            assert r["error"].startswith("NetworkError"), r
            if way == "bridge":
                # 403 at the handshake: the browser reports only code 1006.
                assert r["closes"] and {c["code"] for c in r["closes"]} == {1006}, r
            return f"{r['error']}"[:80]

        await steps.run("refused", "refused", check=refused)
        console = "\n".join(steps.console)
    if way == "bridge":
        refusals = [
            r.getMessage() for r in caplog.records if "refused a WebSocket" in r.getMessage()
        ]
        assert refusals and all(page_origins["other"] in m for m in refusals), refusals
    else:
        # Refused by CORS (the preflight), not by Local Network Access.
        assert "No 'Access-Control-Allow-Origin' header" in console, console
        assert "address space" not in console, console


@pytest.mark.parametrize("way", WAYS)
async def test_local_network_access_needs_the_users_permission(
    way: str,
    http_server: Any,
    jp_http_port: int,
    jp_base_url: str,
    token: str,
    page_servers: Any,
    page_origins: dict[str, str],
    chromium_path: str,
    playwright_api: Any,
    artifacts: Callable[[str], Any],
    capsys: Any,
) -> None:
    """A public page (like Colab) reaches the server only once the user clicks "Allow".

    The same allowed page as in test_both_ways, without the
    ``local-network-access`` permission: Chromium blocks both ways in itself.
    """
    server_url = f"http://127.0.0.1:{jp_http_port}{jp_base_url}"
    page_url = f"{page_origins['allowed']}/index.html"
    public_port = int(page_origins["allowed"].rsplit(":", 1)[1])
    table = StepTable(f"{way} way, public page without permission", f"no-permission-{way}")
    async with open_page(
        playwright_api, chromium_path, page_url, public_port, False, table, artifacts, capsys
    ) as steps:
        await steps.run("setup", "setup", {"way": way, "serverUrl": server_url, "token": token})
        await steps.run(
            "blocked by the browser",
            "refused",
            check=lambda r: expect(r["error"] is not None, f"{r['error']}"[:80]),
        )
        console = "\n".join(steps.console)
    marker = "LOCAL_NETWORK_ACCESS" if way == "bridge" else "`loopback` address space"
    assert marker in console, console
