"""The browser suite's page: its files, opening it in Chromium, and its step table.

Used by tests/browser (the page's own server is in tests/browser/conftest.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

BROWSER_DIR = Path(__file__).parent.parent / "browser"
BUNDLE = BROWSER_DIR / "dist" / "harness.js"
INDEX = BROWSER_DIR / "static" / "index.html"
ARTIFACTS = BROWSER_DIR / "artifacts"

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
