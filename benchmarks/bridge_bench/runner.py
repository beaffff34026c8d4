"""Runs the measures a) to e) (and the sweep) on one server and kernel."""

from __future__ import annotations

import os
from typing import Any

from .context import BenchContext
from .download import download
from .kernel import execute_rtt, output_rate, start_kernel
from .latency import latency
from .stats import median_of
from .sweep import sweep
from .throughput import throughput


async def run_all(ctx: BenchContext, with_sweep: bool, only: str, repeat: int) -> dict[str, Any]:
    """``repeat`` rounds of the measures on one server and kernel; medians of each figure."""
    (ctx.server.root / "x.bin").write_bytes(os.urandom(ctx.sizes.c_bytes))
    await start_kernel(ctx)
    runs = []
    for i in range(repeat):
        if repeat > 1:
            print(f"-- round {i + 1} of {repeat}", flush=True)
        runs.append(await run_round(ctx, with_sweep, only))
    merged: dict[str, Any] = median_of(runs)
    if repeat > 1:
        merged["rounds"] = runs
    return merged


async def run_round(ctx: BenchContext, with_sweep: bool, only: str) -> dict[str, Any]:
    """One round of the measures named in ``only`` (letters a to e)."""
    s = ctx.sizes
    r: dict[str, Any] = {}
    if "a" in only:
        print("a) latency ...", flush=True)
        r["a"] = await latency(ctx, "/api/status", s.a_requests, "a")
    if "b" in only:
        print("b) throughput ...", flush=True)
        r["b"] = await throughput(ctx, "/api/status", s.b_requests, s.in_flight, "b")
    if "c" in only:
        print("c) download ...", flush=True)
        r["c"] = await download(ctx, "x.bin", s.c_bytes, "c", repeat=4)
    if "d" in only:
        print("d) execute round trips ...", flush=True)
        r["d"] = await execute_rtt(ctx)
    if "e" in only:
        print("e) kernel output ...", flush=True)
        r["e"] = await output_rate(ctx)
    if with_sweep:
        r["sweep"] = await sweep(ctx)
    return r
