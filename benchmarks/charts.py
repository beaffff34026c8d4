"""Draw the docs' benchmark charts and tables from the JSON results (matplotlib, Agg).

Run from the repository root after a benchmark run::

    .venv/bin/python benchmarks/charts.py

It reads ``benchmarks/results.json`` and ``benchmarks/results-browser.json`` and
rewrites ``docs/_static/charts/*.svg`` and, in ``docs/explanation/performance.md``,
the tables of exact numbers beside each chart (between their markers).
``--results``, ``--browser-results``, ``--charts`` and ``--page`` change the paths.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bridge_bench.charts import draw

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results.json")
    parser.add_argument(
        "--browser-results", type=Path, default=ROOT / "benchmarks" / "results-browser.json"
    )
    parser.add_argument("--charts", type=Path, default=ROOT / "docs" / "_static" / "charts")
    parser.add_argument(
        "--page", type=Path, default=ROOT / "docs" / "explanation" / "performance.md"
    )
    args = parser.parse_args()
    for path in draw(args.results, args.browser_results, args.charts, args.page):
        print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
