"""The command line of ``benchmarks/bench.py``."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

from .browser import browser_main
from .browser_page import PageUnavailable
from .context import QUICK, BenchContext, Sizes
from .profiling import Profiler
from .report import browser_table, machine, table
from .runner import run_all
from .server import Server

DESCRIPTION = "Benchmark: the Colab bridge against direct calls on the same jupyter_server."


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=DESCRIPTION)
    p.add_argument("--quick", action="store_true", help="smaller sizes, under a minute")
    p.add_argument("--sweep", action="store_true", help="also sweep body sizes and in-flight")
    p.add_argument("--json", metavar="PATH", help="write the figures as JSON")
    p.add_argument("--profile", metavar="DIR", help="py-spy the server for each measure")
    p.add_argument("--only", default="abcde", help="measures to run, e.g. 'ac' (default all)")
    p.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="rounds of all measures; the table shows each figure's median",
    )
    p.add_argument(
        "--browser",
        action="store_true",
        help="the real-browser benchmark instead (Chromium at Colab's origin, both ways in; "
        "--quick, --repeat and --json apply)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    if args.browser:
        if args.sweep or args.profile or args.only != "abcde":
            p.error("--browser runs its own measures: --sweep, --profile and --only do not apply")
        return browser_cli(args.quick, args.repeat, args.json)
    sizes = QUICK if args.quick else Sizes()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="colab-bridge-bench-") as tmp:
        server = Server(Path(tmp))
        server.start()
        try:
            ctx = BenchContext(server, sizes, Profiler(args.profile, server.pid))
            results = asyncio.run(run_all(ctx, args.sweep, args.only, args.repeat))
        finally:
            server.stop()
    results["machine"] = machine()
    results["mode"] = "quick" if args.quick else "full"
    results["repeat"] = args.repeat
    results["seconds"] = time.monotonic() - started
    print()
    print(table(results))
    print(
        f"\n{results['machine']}; {results['mode']} run, {args.repeat} round(s) "
        f"(medians), in {results['seconds']:.0f} s"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


def browser_cli(quick: bool, repeat: int, json_path: str | None) -> int:
    """``--browser``: the real-browser benchmark (see :mod:`.browser`)."""
    started = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix="colab-bridge-bench-") as tmp:
            results = browser_main(Path(tmp), quick, repeat)
    except PageUnavailable as e:
        print(f"browser benchmark cannot run: {e}", file=sys.stderr)
        return 2
    results["machine"] = machine()
    results["mode"] = "quick" if quick else "full"
    results["repeat"] = repeat
    results["seconds"] = time.monotonic() - started
    print()
    print(browser_table(results))
    browser = results["browser"]
    print(
        f"\nChromium {browser['chromium']}, page at {browser['origin']}; {results['machine']}; "
        f"{results['mode']} run, {repeat} round(s) (medians), in {results['seconds']:.0f} s"
    )
    if json_path:
        Path(json_path).write_text(json.dumps(results, indent=2))
    return 0
