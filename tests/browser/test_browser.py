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

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Callable

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

WAYS = ["bridge", "direct"]
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
STEP_TIMEOUT = 90.0
OUTPUT_BYTES = 2 * 1024 * 1024
FILE_BYTES = 3 * 1024 * 1024


@dataclass
class Row:
    name: str
    ok: bool
    seconds: float
    detail: str


@dataclass
class StepTable:
    """The steps of one test, printed as a table."""

    title: str
    slug: str
    rows: list[Row] = field(default_factory=list)

    def render(self) -> str:
        width = max([len(r.name) for r in self.rows] + [4])
        lines = [f"== {self.title}", f"{'step':<{width}}  result  seconds  detail"]
        for r in self.rows:
            verdict = "pass" if r.ok else "FAIL"
            lines.append(f"{r.name:<{width}}  {verdict:<6}  {r.seconds:7.2f}  {r.detail}")
        total = sum(r.seconds for r in self.rows)
        lines.append(f"{'total':<{width}}  {'':<6}  {total:7.2f}")
        return "\n".join(lines)


class Steps:
    """Runs harness calls in the page, timing and checking each."""

    def __init__(self, page: Any, table: StepTable, console: list[str]) -> None:
        self.page = page
        self.table = table
        self.console = console

    async def run(
        self, name: str, method: str, *args: Any, check: Callable[[Any], str] = lambda r: ""
    ) -> Any:
        started = time.perf_counter()
        try:
            result = await asyncio.wait_for(
                self.page.evaluate(
                    "([method, args]) => window.harness.call(method, args)", [method, list(args)]
                ),
                STEP_TIMEOUT,
            )
            detail = check(result)
        except BaseException as e:
            text = str(e).strip().splitlines()
            message = f"{type(e).__name__}: {text[0] if text else ''}"[:160]
            self.table.rows.append(Row(name, False, time.perf_counter() - started, message))
            raise
        self.table.rows.append(Row(name, True, time.perf_counter() - started, detail))
        return result


@asynccontextmanager
async def open_page(
    playwright_api: Any,
    chromium_path: str,
    page_url: str,
    public_port: int | None,
    grant: bool,
    table: StepTable,
    artifacts: Callable[[str], Any],
    capsys: Any,
    serve: Callable[[Any], Awaitable[None]] | None = None,
) -> AsyncIterator[Steps]:
    """Chromium with the page loaded; prints the table and keeps evidence of a failure.

    ``public_port``: the page's local port, made to count as a public address
    (as Colab's page is); None for a page that is public anyway. ``serve``: a
    Playwright route handler that serves the page's origin itself (a page
    "at" ``https://colab.research.google.com``, say), instead of a server.
    """
    origin = page_url.rsplit("/", 1)[0]
    args = list(CHROMIUM_ARGS)
    if public_port is not None:
        overrides = f"127.0.0.1:{public_port}=public,[::1]:{public_port}=public"
        args.append(f"--ip-address-space-overrides={overrides}")
    console: list[str] = []
    async with playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium_path, headless=True, args=args)
        page = None
        try:
            context = await browser.new_context()
            if grant:
                await context.grant_permissions(["local-network-access"], origin=origin)
            if serve is not None:
                await context.route(f"{origin}/**", serve)
            page = await context.new_page()
            page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
            page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
            await page.goto(page_url)
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


def expect(condition: bool, detail: str) -> str:
    assert condition, detail
    return detail


async def open_session(steps: Steps, config: dict[str, str], origin: str, file_bytes: int) -> None:
    """The steps every way in starts with.

    setup, list kernel specs, start a session, ``print(6*7)``, and save a
    binary file of ``file_bytes`` and read it back.
    """
    await steps.run(
        "setup",
        "setup",
        config,
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
        check=lambda r: expect(r["status"] == "ok" and r["stdout"] == "42\n", repr(r["stdout"])),
    )
    await steps.run(
        f"save+read {file_bytes:,} B binary",
        "saveAndRead",
        file_bytes,
        check=lambda r: expect(
            r["identical"] and r["read"] == file_bytes and r["saved"] == file_bytes,
            f"{r['read']:,} bytes identical",
        ),
    )


async def read_404_and_shut_down(steps: Steps) -> None:
    """The steps every way in ends with: a readable 404, then the session shut down."""
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
