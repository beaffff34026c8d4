"""Charts of the benchmark figures for the docs, drawn with matplotlib from the JSON results.

``benchmarks/charts.py`` runs :func:`draw`: it reads ``results.json`` (``bench.py --sweep
--json``) and ``results-browser.json`` (``bench.py --browser --json``) and writes, for
the docs' performance page, one SVG per chart under ``docs/_static/charts/``, and the
exact numbers beside each as a Markdown table into the page itself, between markers
``<!-- benchmarks/charts.py: NAME -->`` and ``<!-- end NAME -->`` (plain Markdown, so
the page reads the same on GitHub and in the built site).
The output is deterministic for given results (no dates, fixed SVG ids), so
regenerating unchanged results changes no file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from . import report

BRIDGE, DIRECT, REFERENCE = "#1f77b4", "#ff7f0e", "#7f7f7f"

#: measures a) to e): (title, JSON measure, key, unit, higher is better)
MEASURES = [
    ("a) GET api/status, sequential (median)", "a", "median_ms", "ms", False),
    ("b) GET api/status, 64 in flight", "b", "req_per_s", "req/s", True),
    ("c) 50 MB download", "c", "mb_per_s", "MB/s", True),
    ("c) server CPU per download", "c", "server_cpu_s_per_download", "s", False),
    ("d) execute_request round trip (median)", "d", "median_ms", "ms", False),
    ("e) 20 MiB of kernel output", "e", "mb_per_s", "MB/s", True),
]

#: the browser's measures: (title, JSON measure, what the reference is)
BROWSER_MEASURES = [
    ("25 executes of 1", "execute", "ZMQ"),
    ("40 GET api/status", "status", "Python\nHTTP"),
    ("20 GET api/colab/resources", "resources", "Python\nHTTP"),
    ("20 MiB output until idle", "output", "ZMQ"),
]


def _style() -> None:
    plt.rcParams.update(
        {
            "svg.hashsalt": "jupyter_colab_bridge",  # stable ids: same results, same file
            "svg.fonttype": "none",  # text stays text (searchable, small)
            "font.size": 9,
            "axes.spines.top": False,
            "axes.spines.right": False,
        }
    )


def _save(fig: Figure, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, format="svg", metadata={"Date": None, "Creator": None})
    plt.close(fig)


def _bars(ax: Axes, labels: list[str], values: list[float], colors: list[str], unit: str) -> None:
    bars = ax.bar(labels, values, color=colors)
    ax.bar_label(bars, labels=[f"{v:,.0f}" if v >= 100 else f"{v:.3g}" for v in values], padding=2)
    ax.set_ylabel(unit)
    ax.margins(y=0.2)


def measures_chart(r: dict[str, Any], path: Path) -> None:
    """Bridge against direct, one panel per measure (each in its own unit)."""
    fig, axes = plt.subplots(2, 3, figsize=(9, 5.2))
    for ax, (title, measure, key, unit, higher) in zip(axes.flat, MEASURES):
        sides = r[measure]
        _bars(
            ax,
            ["bridge", "direct"],
            [sides["bridge"][key], sides["direct"][key]],
            [BRIDGE, DIRECT],
            unit,
        )
        ax.set_title(f"{title}\n({'higher' if higher else 'lower'} is better)", fontsize=9)
    fig.suptitle("The bridge against direct calls on the same server", fontsize=10)
    _save(fig, path)


def size_chart(r: dict[str, Any], path: Path) -> None:
    """Time and throughput of sequential ``GET files/<n bytes>`` across body sizes."""
    sweep = r["sweep"]["size"]
    sizes = [int(s) for s in sweep]
    fig, (time_ax, rate_ax) = plt.subplots(1, 2, figsize=(9, 3.6))
    for side, color in (("bridge", BRIDGE), ("direct", DIRECT)):
        time_ax.plot(
            sizes, [v[f"{side}_median_ms"] for v in sweep.values()], "o-", color=color, label=side
        )
        rate_ax.plot(
            sizes, [v[f"{side}_mb_per_s"] for v in sweep.values()], "o-", color=color, label=side
        )
    for ax, unit in ((time_ax, "median ms per request"), (rate_ax, "MB/s")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("body size (bytes)")
        ax.set_ylabel(unit)
        ax.legend()
    time_ax.set_title("Time per request (lower is better)", fontsize=9)
    rate_ax.set_title("Throughput (higher is better)", fontsize=9)
    _save(fig, path)


def in_flight_chart(r: dict[str, Any], path: Path) -> None:
    """Requests per second of ``GET api/status`` across requests in flight."""
    sweep = r["sweep"]["in_flight"]
    counts = [int(k) for k in sweep]
    fig, ax = plt.subplots(figsize=(5, 3.4))
    for side, color in (("bridge", BRIDGE), ("direct", DIRECT)):
        ax.plot(
            counts, [v[f"{side}_req_per_s"] for v in sweep.values()], "o-", color=color, label=side
        )
    ax.set_xscale("log", base=2)
    ax.set_xticks(counts, [str(c) for c in counts])
    ax.set_xlabel("requests in flight")
    ax.set_ylabel("req/s (higher is better)")
    ax.set_ylim(bottom=0)
    ax.legend()
    ax.set_title("GET api/status: one bridge socket vs keep-alive HTTP", fontsize=9)
    _save(fig, path)


def browser_chart(r: dict[str, Any], path: Path) -> None:
    """What Colab's page sees in Chromium: median ms, bridge, direct and a reference."""
    present = [(t, m, ref) for t, m, ref in BROWSER_MEASURES if m in r]
    fig, axes = plt.subplots(1, len(present), figsize=(9, 3.6), squeeze=False)
    for ax, (title, measure, reference) in zip(axes.flat, present):
        labels, values, colors = [], [], []
        for side, color in (("bridge", BRIDGE), ("direct", DIRECT), ("reference", REFERENCE)):
            if side in r[measure]:
                labels.append(reference if side == "reference" else side)
                values.append(r[measure][side]["median_ms"])
                colors.append(color)
        _bars(ax, labels, values, colors, "median ms (lower is better)")
        ax.set_title(title, fontsize=9)
    fig.suptitle(
        "In Chromium, through @jupyterlab/services (grey: the same from Python)", fontsize=10
    )
    _save(fig, path)


def tables(r: dict[str, Any], rb: dict[str, Any]) -> dict[str, str]:
    """The page's generated blocks, by marker name: the exact numbers of each chart."""
    return {
        "machine": _machine_line(r, rb),
        "measures": report.measure_table(r),
        "body-size": report.size_table(r),
        "in-flight": report.in_flight_table(r),
        "browser": report.browser_table(rb),
    }


_BLOCK = re.compile(r"(<!-- benchmarks/charts\.py: ([\w-]+) -->\n)(.*?)(<!-- end \2 -->)", re.S)


def fill(page: str, blocks: dict[str, str]) -> str:
    """``page`` with each marked block replaced by its text; every block must be marked."""
    found = {m[1] for m in _BLOCK.findall(page)}
    missing = sorted(set(blocks) - found)
    if missing:
        raise ValueError(f"the page has no marker for: {', '.join(missing)}")
    return _BLOCK.sub(lambda m: f"{m[1]}\n{blocks[m[2]]}\n\n{m[4]}", page)


def _machine_line(r: dict[str, Any], rb: dict[str, Any]) -> str:
    m = r["machine"]
    browser = rb.get("browser", {})
    chromium = browser.get("chromium", "?") if isinstance(browser, dict) else browser
    return (
        f"Server benchmark: {r['repeat']} rounds (medians), {m['cpus']} CPUs, Python "
        f"{m['python']}, jupyter_server {m['jupyter_server']}, tornado {m['tornado']}. "
        f"Browser benchmark: {rb['repeat']} rounds (medians), Chromium {chromium}."
    )


CHARTS: dict[str, tuple[str, Callable[[dict[str, Any], Path], None]]] = {
    "measures.svg": ("server", measures_chart),
    "body-size.svg": ("server", size_chart),
    "in-flight.svg": ("server", in_flight_chart),
    "browser.svg": ("browser", browser_chart),
}


def draw(results: Path, browser_results: Path, charts_dir: Path, page: Path) -> list[Path]:
    """Write every chart, and every table into ``page``; return the paths written."""
    _style()
    r = json.loads(results.read_text())
    rb = json.loads(browser_results.read_text())
    charts_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, (which, chart) in CHARTS.items():
        chart(r if which == "server" else rb, charts_dir / name)
        written.append(charts_dir / name)
    page.write_text(fill(page.read_text(encoding="utf-8"), tables(r, rb)), encoding="utf-8")
    written.append(page)
    return written
