"""The tables printed at the end of a run, and the machine it ran on."""

from __future__ import annotations

import os
import platform
from collections.abc import Sequence
from typing import Any

Row = tuple[str, str, str, str, str]


def _row(
    label: str,
    bridge: float,
    direct: float,
    fmt: str,
    target: str,
    ok: bool,
    show_ratio: bool = True,
) -> Row:
    ratio = f"{bridge / direct:.2f}x" if direct and show_ratio else "-"
    verdict = f"{target} {'met' if ok else 'MISSED'}"
    return (label, format(bridge, fmt), format(direct, fmt), ratio, verdict)


def _measure_rows(r: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    if "a" in r:
        a = r["a"]
        bridge, direct = a["bridge"], a["direct"]
        rows += [
            _row(
                "a) GET api/status median ms",
                bridge["median_ms"],
                direct["median_ms"],
                ".3f",
                "<=1.0x",
                bridge["median_ms"] <= direct["median_ms"],
            ),
            _row("a) GET api/status p95 ms", bridge["p95_ms"], direct["p95_ms"], ".3f", "", True),
        ]
    if "b" in r:
        bridge, direct = r["b"]["bridge"], r["b"]["direct"]
        rows += [
            _row(
                f"b) req/s, {int(bridge['requests'])} GETs 64 in flight",
                bridge["req_per_s"],
                direct["req_per_s"],
                ".0f",
                ">=1.0x",
                bridge["req_per_s"] >= direct["req_per_s"],
            ),
            _row(
                "b) server CPU us per request",
                bridge["server_cpu_us_per_request"],
                direct["server_cpu_us_per_request"],
                ".0f",
                "",
                True,
            ),
        ]
    if "c" in r:
        bridge, direct = r["c"]["bridge"], r["c"]["direct"]
        rows += [
            _row(
                "c) download MB/s",
                bridge["mb_per_s"],
                direct["mb_per_s"],
                ".1f",
                ">=0.3x",
                bridge["mb_per_s"] >= 0.3 * direct["mb_per_s"],
            ),
            _row(
                "c) server CPU s per download",
                bridge["server_cpu_s_per_download"],
                direct["server_cpu_s_per_download"],
                ".3f",
                "",
                True,
            ),
            _row(
                "c) server peak RSS growth MB",
                bridge["rss_growth_mb"],
                direct["rss_growth_mb"],
                ".1f",
                "<=16 MB",
                bridge["rss_growth_mb"] <= 16,
                show_ratio=False,
            ),
        ]
    if "d" in r:
        bridge, direct, zmq = r["d"]["bridge"], r["d"]["direct"], r["d"]["zmq"]
        rows += [
            _row(
                "d) execute round trip median ms (vs ws)",
                bridge["median_ms"],
                direct["median_ms"],
                ".3f",
                "",
                True,
            ),
            _row(
                "d) execute round trip median ms (vs ZMQ)",
                bridge["median_ms"],
                zmq["median_ms"],
                ".3f",
                "<=1.3x",
                bridge["median_ms"] <= 1.3 * zmq["median_ms"],
            ),
            _row(
                "d) execute round trip p95 ms (vs ZMQ)",
                bridge["p95_ms"],
                zmq["p95_ms"],
                ".3f",
                "",
                True,
            ),
        ]
    if "e" in r:
        bridge, direct = r["e"]["bridge"], r["e"]["direct"]
        rows.append(
            _row(
                "e) kernel output MB/s",
                bridge["mb_per_s"],
                direct["mb_per_s"],
                ".1f",
                ">=0.9x",
                bridge["mb_per_s"] >= 0.9 * direct["mb_per_s"],
            )
        )
    return rows


def aligned(head: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A Markdown table with padded columns."""
    widths = [max(len(x[i]) for x in [head, *rows]) for i in range(len(head))]
    lines = [
        "| " + " | ".join(h.ljust(w) for h, w in zip(head, widths)) + " |",
        "|" + "|".join("-" * (w + 2) for w in widths) + "|",
    ]
    lines += ["| " + " | ".join(v.ljust(w) for v, w in zip(row, widths)) + " |" for row in rows]
    return lines


def table(r: dict[str, Any]) -> str:
    """The table of measures a) to e), and the sweep's tables when it ran."""
    lines = aligned(("measure", "bridge", "direct", "ratio", "target"), _measure_rows(r))
    if "sweep" in r:
        lines += [
            "",
            "| body size | bridge ms | direct ms | bridge MB/s | direct MB/s | ratio |",
            "|---|---|---|---|---|---|",
        ]
        for size, v in r["sweep"]["size"].items():
            lines.append(
                f"| {int(size):,} B | {v['bridge_median_ms']:.3f} | "
                f"{v['direct_median_ms']:.3f} | {v['bridge_mb_per_s']:.1f} | "
                f"{v['direct_mb_per_s']:.1f} | "
                f"{v['bridge_median_ms'] / v['direct_median_ms']:.2f}x |"
            )
        lines += ["", "| in flight | bridge req/s | direct req/s | ratio |", "|---|---|---|---|"]
        for k, v in r["sweep"]["in_flight"].items():
            lines.append(
                f"| {k} | {v['bridge_req_per_s']:.0f} | {v['direct_req_per_s']:.0f} | "
                f"{v['bridge_req_per_s'] / v['direct_req_per_s']:.2f}x |"
            )
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    import jupyter_server
    import tornado

    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "jupyter_server": jupyter_server.__version__,
        "tornado": tornado.version,
        "platform": platform.platform(),
    }
