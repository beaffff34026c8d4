"""How long ``jupyter colab-bridge`` takes to start, against importing jupyter_server.

Each measure is a fresh interpreter (``python -c`` / ``python -m``), timed
from spawn to exit, the median of ``--repeat`` runs, interleaved so that a
busy machine slows both alike. The reference is
``python -c "import jupyter_server.serverapp"``, measured in the same run;
the figure is the ratio (the issue's target: ``--help`` a small fraction).

    .venv/bin/python benchmarks/cli_startup.py [--repeat 7] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

MEASURES = {
    "import jupyter_server.serverapp (reference)": ["-c", "import jupyter_server.serverapp"],
    "jupyter colab-bridge --help": ["-m", "jupyter_colab_bridge.cli", "--help"],
    "jupyter colab-bridge --version": ["-m", "jupyter_colab_bridge.cli", "--version"],
    "jupyter colab-bridge settings": ["-m", "jupyter_colab_bridge.cli", "settings"],
    "python -c pass (interpreter alone)": ["-c", "pass"],
}


def run_once(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, *args], check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--json", help="also write the figures to this file")
    options = parser.parse_args()
    times: dict[str, list[float]] = {name: [] for name in MEASURES}
    for args in MEASURES.values():
        run_once(args)  # warm the file cache
    for _ in range(options.repeat):
        for name, args in MEASURES.items():
            times[name].append(run_once(args))
    medians = {name: statistics.median(values) for name, values in times.items()}
    reference = medians["import jupyter_server.serverapp (reference)"]
    print(f"{'command':48} {'median s':>9} {'x reference':>12}")
    for name, median in medians.items():
        print(f"{name:48} {median:9.3f} {median / reference:12.2f}")
    if options.json:
        with open(options.json, "w", encoding="utf-8") as f:
            json.dump({"median_s": medians, "reference": reference}, f, indent=2)


if __name__ == "__main__":
    main()
