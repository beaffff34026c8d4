"""Fixtures of the browser suite: Chromium, the page bundle, the page's own server.

Prerequisites come from ``scripts/setup-browser-tests``: Debian's
``chromium`` (never a downloaded browser build), Playwright for Python, and
the page bundle built with esbuild from ``@jupyterlab/services``. When one is
missing the tests fail with a clear message under CI (``CI=true``) and are
skipped with that message elsewhere.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any, Callable

import pytest
from tornado import httpserver, web
from tornado.testing import bind_unused_port

from tests.helpers.bridge_client import COLAB_ORIGIN
from tests.helpers.browser_page import ARTIFACTS, BUNDLE, INDEX

HERE = Path(__file__).parent
CHROMIUM = os.environ.get("BROWSER_TESTS_CHROMIUM", "/usr/bin/chromium")
SETUP_HINT = "run scripts/setup-browser-tests .venv (or scripts/run-tests, which does)"


def missing(reason: str) -> None:
    """Fail under CI, skip elsewhere, with the same clear reason."""
    message = f"browser suite cannot run: {reason}; {SETUP_HINT}"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Debian's Chromium."""
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        missing(f"{CHROMIUM} not found (Debian package 'chromium')")
    return CHROMIUM


@pytest.fixture(scope="session")
def playwright_api() -> Any:
    """``playwright.async_api``, or a clear skip/fail."""
    try:
        from playwright import async_api
    except ImportError:
        missing("the Python package 'playwright' is not installed")
    return async_api


@pytest.fixture(scope="session")
def harness_bundle() -> Path:
    """The page's script; built here if esbuild is installed but the bundle is not."""
    esbuild = HERE / "node_modules" / ".bin" / "esbuild"
    sources = list((HERE / "src").glob("*.ts"))
    stale = not BUNDLE.exists() or any(s.stat().st_mtime > BUNDLE.stat().st_mtime for s in sources)
    if stale and esbuild.exists() and shutil.which("node"):
        subprocess.run(["npm", "run", "--silent", "build"], cwd=HERE, check=True, timeout=300)
    if not BUNDLE.exists():
        missing(f"{BUNDLE.relative_to(HERE.parent.parent)} is not built (needs npm ci + esbuild)")
    return BUNDLE


class _PageHandler(web.RequestHandler):
    """Serves the test page and its script, never cached."""

    def initialize(self, files: dict[str, Path]) -> None:
        self.files = files

    def get(self, name: str) -> None:
        if name == "favicon.ico":
            self.set_status(204)
            return
        path = self.files.get(name or "index.html")
        if path is None:
            raise web.HTTPError(404)
        self.set_header("Cache-Control", "no-store")
        kind = "text/html" if path.suffix == ".html" else "text/javascript"
        self.set_header("Content-Type", f"{kind}; charset=utf-8")
        self.finish(path.read_bytes())


@pytest.fixture
def page_sockets() -> Any:
    """Two listening sockets on 127.0.0.1: the allowed page's and the disallowed page's."""
    bound = [bind_unused_port(), bind_unused_port()]
    yield bound
    for sock, _ in bound:
        sock.close()


@pytest.fixture
def page_origins(page_sockets: list[tuple[socket.socket, int]]) -> dict[str, str]:
    """The allowed and the disallowed page's origins (another site than 127.0.0.1)."""
    (_, allowed), (_, other) = page_sockets
    return {"allowed": f"http://localhost:{allowed}", "other": f"http://localhost:{other}"}


@pytest.fixture
def bridge_config(page_origins: dict[str, str]) -> dict[str, Any]:
    return {"allowed_origins": [COLAB_ORIGIN, page_origins["allowed"]]}


@pytest.fixture
def page_servers(
    jp_asyncio_loop: Any, harness_bundle: Path, page_sockets: list[tuple[socket.socket, int]]
) -> Any:
    """Serve the page on both page sockets, in the test's event loop."""
    files = {"index.html": INDEX, "harness.js": harness_bundle}
    app = web.Application([(r"/(.*)", _PageHandler, {"files": files})])

    async def start() -> httpserver.HTTPServer:
        server = httpserver.HTTPServer(app)
        for sock, _ in page_sockets:
            server.add_socket(sock)
        return server

    server = jp_asyncio_loop.run_until_complete(start())
    yield server
    server.stop()


@pytest.fixture
def artifacts() -> Callable[[str], Path]:
    """A path under tests/browser/artifacts/ (created on first use)."""

    def _path(name: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        return ARTIFACTS / name

    return _path
