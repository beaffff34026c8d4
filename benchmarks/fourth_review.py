"""Benchmark: the fourth security review's D1 and R1, measured (not part of the test run).

Run from the repository root::

    .venv/bin/python benchmarks/fourth_review.py [--frames 300] [--json out.json]

D1, ``diagnose``'s ``min_version``: a real jupyter_server with the bridge in a
subprocess (``bridge_bench``'s ``Server``); another client in its own
process (``large_frames``' ``Prober``) sends ``GET api/status`` in a loop,
and its worst latency is the figure, while one diagnose socket sends
``--frames`` one-byte frames with no ``min_version``, with Colab's ``0.0.7``
and with the review's 60 KB value. The idle server, in the same run, is the
reference. Since the fix, the 60 KB value closes the socket at once (400),
and a frame costs the same whatever the query: the three worst latencies
should be alike.

R1, origin patterns, in this process: the time ``re`` takes on the review's
backtracking pattern for ``https://`` + ``a`` x n + ``.attacker.test`` (n up
to ``--max-a``: each further ``a`` doubles it), which the bridge now refuses at
start (its message is printed); and the time the allowlist takes to judge an
``Origin`` of 300 characters (the longest it judges) and of 60,000 (refused
by its length) against the docs' pattern, with Colab's exact origin as the
reference.

Figures of a shared machine drift: compare within one run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).parent))

from bridge_bench.server import Server
from bridge_bench.websocket import RawWebSocket, wire_frame, ws_connect
from large_frames import Prober

from jupyter_colab_bridge.protocol.origins import (
    COLAB_ORIGIN,
    OriginConfigError,
    OriginPolicy,
    compile_origin_pattern,
)

HUGE_MIN_VERSION = "0.0." + "7" * 60_000
REVIEW_PATTERN = r"https://([a-z0-9]+-?)+\.colab\.example\.com"
DOCS_PATTERN = r"https://[a-z0-9-]+\.colab\.example\.com"


async def diagnose_frames(server: Server, min_version: str | None, frames: int) -> str:
    """Send ``frames`` one-byte frames on one diagnose socket; how it ended."""
    query = urlencode({"min_version": min_version}) if min_version is not None else ""
    url = f"ws://127.0.0.1:{server.port}/http_over_websocket/diagnose"
    ws: RawWebSocket = await ws_connect(f"{url}?{query}" if query else url)
    payload = b"".join(wire_frame("m") for _ in range(frames))
    ws.write_wire(payload)
    answered = 0
    while answered < frames:
        message = await ws.read_message()
        if message is None:
            ws.close()
            return f"closed with {ws.close_code}: {ws.close_reason}"
        answered += 1
    ws.close()
    return f"{answered} answers"


async def d1(server: Server, frames: int) -> dict[str, Any]:
    prober = Prober(server)
    figures: dict[str, Any] = {"idle_ms": await prober.during(asyncio.sleep(1.0))}
    for name, value in (
        ("none", None),
        ("0.0.7", "0.0.7"),
        ("60KB", HUGE_MIN_VERSION),
    ):
        outcome: list[str] = []

        async def work(value: str | None = value, outcome: list[str] = outcome) -> None:
            outcome.append(await diagnose_frames(server, value, frames))

        worst = await prober.during(work())
        figures[name] = {"worst_ms": worst, "outcome": outcome[0]}
    return figures


def timed(call: Any, repeat: int = 3) -> float:
    """Best of ``repeat`` wall times of ``call()``, in milliseconds."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - t0)
    return best * 1000


def r1(max_a: int) -> dict[str, Any]:
    review = re.compile(REVIEW_PATTERN)
    backtracking = {
        n: timed(lambda n=n: review.fullmatch(f"https://{'a' * n}.attacker.test"), repeat=1)
        for n in range(max_a - 4, max_a + 1, 2)
    }
    try:
        compile_origin_pattern(REVIEW_PATTERN)
        refused = "accepted"
    except OriginConfigError as e:
        refused = str(e)
    policy = OriginPolicy([COLAB_ORIGIN], [DOCS_PATTERN])
    near_miss = "https://" + "a" * (300 - len("https://.attacker.test")) + ".attacker.test"
    huge = "https://" + "a" * 60_000 + ".attacker.test"
    calls = 2000
    return {
        "review_pattern_ms_by_a": backtracking,
        "review_pattern_at_start": refused,
        "allows_colab_us": timed(lambda: [policy.allows(COLAB_ORIGIN) for _ in range(calls)])
        * 1000
        / calls,
        "allows_300_chars_us": timed(lambda: [policy.allows(near_miss) for _ in range(calls)])
        * 1000
        / calls,
        "allows_60000_chars_us": timed(lambda: [policy.allows(huge) for _ in range(calls)])
        * 1000
        / calls,
    }


async def main_async(frames: int, max_a: int) -> dict[str, Any]:
    results: dict[str, Any] = {"r1": r1(max_a)}
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(Path(tmp))
        server.start()
        try:
            results["d1"] = await d1(server, frames)
        finally:
            server.stop()
    return results


def report(results: dict[str, Any], frames: int) -> None:
    d = results["d1"]
    print(f"D1: another client's worst GET api/status latency (ms), {frames} diagnose frames")
    print(f"  idle server (reference)        {d['idle_ms']:8.1f}")
    for name in ("none", "0.0.7", "60KB"):
        ratio = d[name]["worst_ms"] / d["idle_ms"]
        print(
            f"  min_version={name:<6}  {d[name]['worst_ms']:8.1f}  x{ratio:5.1f}  "
            f"({d[name]['outcome'][:80]})"
        )
    r = results["r1"]
    print("R1: the review's pattern in re, ms by the number of 'a's (each +1 doubles it)")
    for n, ms in r["review_pattern_ms_by_a"].items():
        print(f"  {n:3d}  {ms:10.1f}")
    print(f"  at start: {r['review_pattern_at_start'][:160]}")
    print("R1: the allowlist's verdict on one Origin (us), docs' pattern and Colab's origins")
    print(f"  Colab's origin (reference)     {r['allows_colab_us']:8.2f}")
    print(f"  300 characters, near miss      {r['allows_300_chars_us']:8.2f}")
    print(f"  60,000 characters (too long)   {r['allows_60000_chars_us']:8.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--max-a", type=int, default=20, help="longest run of 'a' for R1")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()
    results = asyncio.run(main_async(args.frames, args.max_a))
    report(results, args.frames)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
