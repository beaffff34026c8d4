"""Chromium with the browser suite's page (``tests/browser``) at Colab's origin.

The page is JupyterLab's client library (``@jupyterlab/services``) and the
harness of ``tests/browser/src/harness.ts``, bundled by esbuild
(``scripts/setup-browser-tests``). Playwright's ``context.route`` serves it at
``https://colab.research.google.com`` from the local files, and the context
holds Chromium's ``local-network-access`` permission for that origin, as a
user who clicked "Allow" would. Debian's Chromium (``/usr/bin/chromium``),
never a downloaded browser build.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .common import COLAB_ORIGIN

PAGE_DIR = Path(__file__).resolve().parents[2] / "tests" / "browser"
BUNDLE = PAGE_DIR / "dist" / "harness.js"
INDEX = PAGE_DIR / "static" / "index.html"
CHROMIUM = os.environ.get("BROWSER_TESTS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SETUP_HINT = "run scripts/setup-browser-tests .venv"


class PageUnavailable(RuntimeError):
    """Chromium, Playwright or the page bundle is missing."""


def harness_bundle() -> Path:
    """The page's script; rebuilt when a source is newer and esbuild is installed."""
    esbuild = PAGE_DIR / "node_modules" / ".bin" / "esbuild"
    sources = list((PAGE_DIR / "src").glob("*.ts"))
    stale = not BUNDLE.exists() or any(s.stat().st_mtime > BUNDLE.stat().st_mtime for s in sources)
    if stale and esbuild.exists() and shutil.which("npm"):
        subprocess.run(["npm", "run", "--silent", "build"], cwd=PAGE_DIR, check=True, timeout=300)
    if not BUNDLE.exists():
        raise PageUnavailable(f"{BUNDLE} is not built; {SETUP_HINT}")
    return BUNDLE


def page_files() -> dict[str, tuple[bytes, str]]:
    """The page's files by path: body and content type."""
    return {
        "/": (INDEX.read_bytes(), "text/html; charset=utf-8"),
        "/index.html": (INDEX.read_bytes(), "text/html; charset=utf-8"),
        "/harness.js": (harness_bundle().read_bytes(), "text/javascript; charset=utf-8"),
    }


class ColabPage:
    """The harness page, loaded at ``origin``; :meth:`call` runs one harness step."""

    def __init__(self, page: Any, browser_version: str, origin: str) -> None:
        self.page = page
        self.browser_version = browser_version
        self.origin = origin
        self.console: list[str] = []
        page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: self.console.append(f"pageerror: {e}"))

    async def call(self, method: str, *args: Any, timeout: float = 180.0) -> Any:
        """``window.harness.call(method, args)`` in the page."""
        script = "([method, args]) => window.harness.call(method, args)"
        return await asyncio.wait_for(self.page.evaluate(script, [method, list(args)]), timeout)


@asynccontextmanager
async def colab_page(
    origin: str = COLAB_ORIGIN, keep_routes: bool = False
) -> AsyncIterator[ColabPage]:
    """Chromium with the harness page at ``origin`` (routed from the local files).

    The route is removed once the page has loaded (unless ``keep_routes``):
    while a route is set Playwright intercepts every request of the context,
    the server's included, which would add its own hop to what is measured.
    """
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        raise PageUnavailable(f"{CHROMIUM} not found (Debian package 'chromium'); {SETUP_HINT}")
    try:
        from playwright.async_api import async_playwright
    except ImportError as e:
        raise PageUnavailable(f"Playwright for Python is not installed; {SETUP_HINT}") from e
    files = page_files()

    async def serve(route: Any) -> None:
        found = files.get(urlsplit(route.request.url).path)
        if found is None:
            await route.fulfill(status=404, body=b"", headers={"Cache-Control": "no-store"})
            return
        body, content_type = found
        headers = {"Content-Type": content_type, "Cache-Control": "no-store"}
        await route.fulfill(status=200, body=body, headers=headers)

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            context = await browser.new_context()
            await context.grant_permissions(["local-network-access"], origin=origin)
            await context.route(f"{origin}/**", serve)
            page = await context.new_page()
            colab = ColabPage(page, browser.version, origin)
            await page.goto(f"{origin}/index.html")
            await page.wait_for_function("() => window.harness !== undefined", timeout=30_000)
            if not keep_routes:
                await context.unroute_all()
            yield colab
        finally:
            await browser.close()
