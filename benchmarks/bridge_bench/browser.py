"""The real-browser benchmark: Chromium at Colab's origin, both ways in, and the kernel's ZMQ.

Headless Debian Chromium loads the browser suite's page (JupyterLab's client
library, ``tests/browser``) at ``https://colab.research.google.com`` (see
:mod:`.browser_page`) and drives a real jupyter_server with the bridge (its
default allowlist) and a real ipykernel, in both ways Colab's page comes in:

* ``bridge``: REST calls as ``http_over_websocket`` frames, kernel channels
  through ``http_over_websocket/proxied_ws/...`` (auth-URL flow);
* ``direct``: cross-origin fetches (CORS, token) and jupyter_server's own
  kernel WebSocket ``api/kernels/<id>/channels``.

Beside them, for reference, this process talks to the same server and kernel:
the kernel's own ZMQ channels (jupyter_client on its connection file) for the
kernel measures, a keep-alive HTTP client for the GETs. All sides use one
kernel, one connection to it at a time. The page times each step itself
(``performance.now()``), so Playwright's own round trip is not in the figures.

Measures (medians): 25 sequential executes of ``1`` (request until reply and
idle); 40 sequential ``GET api/status``; 20 sequential ``GET
api/colab/resources`` ("n/a (HTTP 404)" while the server has no such
endpoint); a cell printing 20 MiB (320 flushed writes of 64 KiB, as bench.py's
e), until idle, MB/s). It is a benchmark, not a test: it asserts nothing about
speed.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from .browser_page import ColabPage, colab_page
from .common import MB, MIB
from .context import QUICK, BenchContext
from .http_client import RawHttp
from .kernel import output_code, start_kernel
from .kernel_clients import ZmqKernel
from .profiling import Profiler
from .server import Server
from .stats import median_of, spread_ms

WAYS = ("bridge", "direct")
EXECUTES = 25
STATUS_GETS = 40
RESOURCES_GETS = 20
OUTPUT_BYTES = 20 * MIB
XSSI_PREFIX = ")]}'\n"


def _not_found(status: int) -> dict[str, Any]:
    return {"status": status, "n/a": f"n/a (HTTP {status})"}


def _output_figures(runs_ms: list[float], total: int) -> dict[str, Any]:
    figures = spread_ms(runs_ms)
    figures["bytes"] = total
    figures["mb_per_s"] = total / MB / (figures["median_ms"] / 1000)
    return figures


async def _page_requests(page: ColabPage, path: str, n: int, how: str) -> dict[str, Any]:
    """``n`` timed GETs of ``path`` in the page after a few untimed ones."""
    probe = await page.call("timeRequest", path, 3, how)
    if probe["status"] != 200:
        return _not_found(probe["status"])
    timed = await page.call("timeRequest", path, n, how)
    figures = spread_ms(timed["ms"])
    figures["statuses"] = sorted(set(timed["statuses"]))
    figures["xssi_prefix"] = timed["bodyStart"].startswith(XSSI_PREFIX)
    return figures


async def _resources(page: ColabPage) -> dict[str, Any]:
    """``api/colab/resources`` (being added to the server): figures, or why there are none."""
    try:
        return await _page_requests(page, "api/colab/resources", RESOURCES_GETS, "library")
    except Exception as e:  # a broken endpoint must not end the benchmark
        text = str(e).strip().splitlines()
        return {"status": 0, "n/a": f"n/a ({type(e).__name__}: {text[0] if text else ''})"[:80]}


async def measure_way(
    page: ColabPage, server: Server, kernel_id: str, way: str, output_runs: int
) -> dict[str, Any]:
    """All measures through the page, one way in."""
    config = {"way": way, "serverUrl": server.url, "token": server.token}
    out: dict[str, Any] = {}
    await page.call("setup", config)
    await page.call("connectKernel", kernel_id)
    try:
        await page.call("timeExecute", "1", 3)
        timed = await page.call("timeExecute", "1", EXECUTES)
        assert set(timed["statuses"]) == {"ok"}, timed["statuses"]
        out["execute"] = spread_ms(timed["ms"])
        out["status"] = await _page_requests(page, "api/status", STATUS_GETS, "library")
        if way == "direct":
            out["status_plain"] = await _page_requests(page, "api/status", STATUS_GETS, "plain")
        out["resources"] = await _resources(page)
        code, total = output_code(OUTPUT_BYTES)
        await page.call("timeOutput", "print('warm')")
        runs = []
        for _ in range(output_runs):
            result = await page.call("timeOutput", code, timeout=300.0)
            assert result["chars"] == total and result["status"] == "ok", result
            runs.append(result["ms"])
        out["output"] = _output_figures(runs, total)
    finally:
        await page.call("disconnectKernel")
    return out


async def _python_requests(server: Server, path: str, n: int) -> dict[str, Any]:
    client = await RawHttp(server.port, server.headers).connect()
    try:
        for _ in range(3):
            status, _ = await client.get(f"/{path}")
        if status != 200:
            return _not_found(status)
        ms = []
        for _ in range(n):
            t0 = time.perf_counter()
            status, _ = await client.get(f"/{path}")
            ms.append(1000 * (time.perf_counter() - t0))
        return spread_ms(ms)
    finally:
        client.close()


async def measure_reference(server: Server, kernel_id: str, output_runs: int) -> dict[str, Any]:
    """The kernel's own ZMQ channels and a Python keep-alive HTTP client, same server."""
    out: dict[str, Any] = {}
    kernel = ZmqKernel(server.connection_file(kernel_id))
    try:
        for _ in range(3):
            await kernel.execute("1", 30)
        ms = []
        for _ in range(EXECUTES):
            t0 = time.perf_counter()
            await kernel.execute("1", 30)
            ms.append(1000 * (time.perf_counter() - t0))
        out["execute"] = spread_ms(ms)
        code, total = output_code(OUTPUT_BYTES)
        await kernel.execute("print('warm')", 30)
        runs = []
        for _ in range(output_runs):
            t0 = time.perf_counter()
            seen = await kernel.execute(code, 300)
            runs.append(1000 * (time.perf_counter() - t0))
            assert seen == total, (seen, total)
        out["output"] = _output_figures(runs, total)
    finally:
        kernel.close()
    out["status"] = await _python_requests(server, "api/status", STATUS_GETS)
    out["resources"] = await _python_requests(server, "api/colab/resources", RESOURCES_GETS)
    return out


def _by_measure(sides: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``{side: {measure: figures}}`` turned into ``{measure: {side: figures}}``."""
    out: dict[str, Any] = {}
    for side, measures in sides.items():
        for measure, figures in measures.items():
            out.setdefault(measure, {})[side] = figures
    return out


async def run_browser(server: Server, quick: bool, repeat: int) -> dict[str, Any]:
    """``repeat`` rounds, the sides taking turns in a rotating order; medians of each figure."""
    ctx = BenchContext(server, QUICK, Profiler(None, server.pid))
    await start_kernel(ctx)
    output_runs = 1 if quick else 3
    sides = [*WAYS, "reference"]
    rounds = []
    async with colab_page() as page:
        for i in range(repeat):
            if repeat > 1:
                print(f"-- round {i + 1} of {repeat}", flush=True)
            result: dict[str, dict[str, Any]] = {}
            for side in sides[i % 3 :] + sides[: i % 3]:
                print(f"browser: {side} ...", flush=True)
                if side == "reference":
                    result[side] = await measure_reference(server, ctx.kernel_id, output_runs)
                else:
                    result[side] = await measure_way(page, server, ctx.kernel_id, side, output_runs)
            rounds.append(_by_measure({s: result[s] for s in sides}))
        info = {"chromium": page.browser_version, "origin": page.origin}
    merged: dict[str, Any] = median_of(rounds)
    if repeat > 1:
        merged["rounds"] = rounds
    merged["browser"] = info
    return merged


def browser_main(server_tmp: Path, quick: bool, repeat: int) -> dict[str, Any]:
    """Start the server in ``server_tmp``, run the browser benchmark, stop the server."""
    server = Server(server_tmp)
    server.start()
    try:
        return asyncio.run(run_browser(server, quick, repeat))
    finally:
        server.stop()
