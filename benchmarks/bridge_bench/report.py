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


def measure_table(r: dict[str, Any]) -> str:
    """The table of measures a) to e): bridge, direct, ratio and target."""
    return "\n".join(aligned(("measure", "bridge", "direct", "ratio", "target"), _measure_rows(r)))


def size_table(r: dict[str, Any]) -> str:
    """The sweep across body sizes (sequential ``GET files/<n bytes>``)."""
    lines = [
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
    return "\n".join(lines)


def in_flight_table(r: dict[str, Any]) -> str:
    """The sweep across requests in flight (``GET api/status``)."""
    lines = ["| in flight | bridge req/s | direct req/s | ratio |", "|---|---|---|---|"]
    for k, v in r["sweep"]["in_flight"].items():
        lines.append(
            f"| {k} | {v['bridge_req_per_s']:.0f} | {v['direct_req_per_s']:.0f} | "
            f"{v['bridge_req_per_s'] / v['direct_req_per_s']:.2f}x |"
        )
    return "\n".join(lines)


def table(r: dict[str, Any]) -> str:
    """The table of measures a) to e), and the sweep's tables when it ran."""
    parts = [measure_table(r)]
    if "sweep" in r:
        parts += [size_table(r), in_flight_table(r)]
    return "\n\n".join(parts)


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


def _ms_cell(figures: dict[str, Any] | None, spread: str = "p95") -> str:
    if figures is None:
        return "-"
    if "n/a" in figures:
        return str(figures["n/a"])
    if spread == "p95":
        return f"{figures['median_ms']:.2f} (p95 {figures['p95_ms']:.2f})"
    return f"{figures['median_ms']:.0f} ({figures['min_ms']:.0f}-{figures['max_ms']:.0f})"


def _ratio(direct: dict[str, Any] | None, bridge: dict[str, Any] | None, key: str) -> str:
    if not direct or not bridge or key not in direct or key not in bridge or not bridge[key]:
        return "-"
    return f"{direct[key] / bridge[key]:.2f}x"


def browser_table(r: dict[str, Any]) -> str:
    """The browser benchmark's table: median ms (p95 or min-max), ratio direct/bridge."""
    rows: list[Sequence[str]] = []
    labels = {
        "execute": ("execute `1`, ms (p95)", "ZMQ"),
        "status": ("GET api/status, ms (p95)", "Python HTTP"),
        "status_plain": ("GET api/status, plain fetch ?token=, ms (p95)", ""),
        "resources": ("GET api/colab/resources, ms (p95)", "Python HTTP"),
    }
    for measure, (label, ref_name) in labels.items():
        sides = r.get(measure)
        if not sides:
            continue
        bridge, direct, ref = sides.get("bridge"), sides.get("direct"), sides.get("reference")
        if measure == "status_plain":  # the ratio is against the bridge's library GETs
            bridge = None
            ratio = _ratio(direct, r["status"].get("bridge"), "median_ms")
        else:
            ratio = _ratio(direct, bridge, "median_ms")
        reference = f"{ref_name} {_ms_cell(ref)}" if ref else "-"
        rows.append((label, _ms_cell(bridge), _ms_cell(direct), ratio, reference))
    if "output" in r:
        out = r["output"]
        bridge, direct, ref = out.get("bridge"), out.get("direct"), out.get("reference")
        size = f"{(bridge or direct or ref or {}).get('bytes', 0) / (1 << 20):.0f} MiB"
        rows.append(
            (
                f"{size} output until idle, ms (min-max)",
                _ms_cell(bridge, "range"),
                _ms_cell(direct, "range"),
                _ratio(direct, bridge, "median_ms"),
                f"ZMQ {_ms_cell(ref, 'range')}" if ref else "-",
            )
        )
        rows.append(
            (
                f"{size} output, MB/s at the median",
                f"{bridge['mb_per_s']:.1f}" if bridge else "-",
                f"{direct['mb_per_s']:.1f}" if direct else "-",
                _ratio(direct, bridge, "mb_per_s"),
                f"ZMQ {ref['mb_per_s']:.1f}" if ref else "-",
            )
        )
    return "\n".join(aligned(("measure", "bridge", "direct", "direct/bridge", "reference"), rows))
