"""Percentiles, summaries and the median of several rounds."""

from __future__ import annotations

import statistics
from typing import Any


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary_ms(seconds: list[float]) -> dict[str, Any]:
    ms = [s * 1000 for s in seconds]
    return {"n": len(ms), "median_ms": statistics.median(ms), "p95_ms": pct(ms, 0.95)}


def median_of(runs: list[Any]) -> Any:
    """The runs' figures merged: the median of each number, the first of anything else."""
    first = runs[0]
    if isinstance(first, dict):
        return {k: median_of([r[k] for r in runs if k in r]) for k in first}
    if isinstance(first, (int, float)) and not isinstance(first, bool):
        return statistics.median(runs)
    return first


def spread_ms(ms: list[float]) -> dict[str, Any]:
    """Median, p95, min and max of figures already in milliseconds."""
    return {
        "n": len(ms),
        "median_ms": statistics.median(ms),
        "p95_ms": pct(ms, 0.95),
        "min_ms": min(ms),
        "max_ms": max(ms),
    }
