"""The page at Colab's own origins, with the server's default allowlist.

Playwright's ``context.route`` serves the suite's page (JupyterLab's client
library and the harness) at ``https://colab.research.google.com`` and at
``https://colab.google.com``, the two origins Colab serves notebooks from
(PROTOCOL.md section 4); the server keeps its DEFAULT
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
from conftest import INDEX
from test_browser import CHROMIUM_ARGS, WAYS, Steps, StepTable, expect

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

COLAB_ORIGINS = ["https://colab.research.google.com", "https://colab.google.com"]
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

    console: list[str] = []
    async with playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS
        )
        page = None
        try:
            context = await browser.new_context()
            await context.grant_permissions(["local-network-access"], origin=origin)
            await context.route(f"{origin}/**", serve)
            page = await context.new_page()
            page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
            page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
            await page.goto(f"{origin}/index.html")
            await page.wait_for_function("() => window.harness !== undefined", timeout=30_000)
            yield Steps(page, table, console)
        except BaseException:
            if page is not None:
                try:
                    await page.screenshot(path=str(artifacts(f"{table.slug}.png")), full_page=True)
                except Exception as e:  # the page may have crashed
                    console.append(f"(no screenshot: {e})")
            artifacts(f"{table.slug}.console.txt").write_text("\n".join(console) + "\n")
            raise
        finally:
            with capsys.disabled():
                print("\n" + table.render())
            artifacts(f"{table.slug}.steps.txt").write_text(table.render() + "\n")
            await browser.close()


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
        await steps.run(
            "setup",
            "setup",
            {"way": way, "serverUrl": server_url, "token": token},
            check=lambda r: expect(r == origin, f"page origin {r}"),
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
            "save+read small binary",
            "saveAndRead",
            FILE_BYTES,
            check=lambda r: expect(
                r["identical"] and r["read"] == FILE_BYTES and r["saved"] == FILE_BYTES,
                f"{r['read']:,} bytes identical",
            ),
        )
        await steps.run(
            "shut session down",
            "shutdown",
            check=lambda r: expect(
                not r["sessionListed"] and not r["kernelListed"], "session and kernel gone"
            ),
        )
