"""Benchmark: the Colab bridge against direct calls on the same jupyter_server.

Run from the repository root (not part of the test run)::

    .venv/bin/python benchmarks/bench.py [--quick] [--sweep] [--repeat N] [--json out.json]
                                         [--only abcde] [--profile DIR]

It starts a real jupyter_server with the bridge as a subprocess (random port,
a token, a temporary root_dir, iopub rate limits lifted) and a real kernel,
and measures from this process (the client):

a) sequential ``GET api/status``: bridge (auth-URL flow) vs HTTP keep-alive;
b) ``GET api/status`` with 64 in flight: one bridge socket vs 64 keep-alive
   HTTP connections;
c) a file download (``GET files/x.bin``): MB/s and the server's peak RSS growth;
d) sequential ``execute_request`` round trips: proxied_ws vs the direct kernel
   WebSocket vs the kernel's own ZMQ channels (jupyter_client);
e) kernel output until idle: proxied_ws vs the direct kernel WebSocket.

``--sweep`` adds a) and c) across body sizes and b) across requests in flight;
``--repeat N`` runs all measures N times and reports each figure's median.
``--profile DIR`` records each measure of the server with py-spy (collapsed
stacks, one file per measure). Every measure stops at its own deadline.

The code lives in the package ``bridge_bench`` next to this file (one module
per concern; see benchmarks/README.md).
"""

from __future__ import annotations

import sys

from bridge_bench.cli import main

if __name__ == "__main__":
    sys.exit(main())
