"""Benchmark: what routing an allowed page's request costs (not part of the test run).

Run from the repository root::

    .venv/bin/python benchmarks/page_routing.py [--calls 20000]

It initializes a real jupyter_server with the bridge in this process (no
listening socket, a temporary root_dir) and times the server's own routing,
``web_app.find_handler``, for the same request as another client sends it
(the reference: no ``Origin``) and as an allowed page's direct request
(Colab's ``Origin`` and a token: the bridge's front door judges it once,
records its verdict and lets direct mode's gate look at it; the kernel map
and the missing-route line run later, in the handler's life). The two take
turns in blocks, so drift of a shared machine hits both alike; it prints
microseconds per lookup and the ratio page/reference.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from typing import Any

from jupyter_server.serverapp import ServerApp
from tornado import httputil

from jupyter_colab_bridge.server.verdict import verdict_of

BLOCK = 500
PATHS = (("GET", "api/status"), ("GET", "api/contents/x.ipynb"), ("POST", "api/sessions"))


def make_server(root: str) -> Any:
    app = ServerApp()
    app.initialize(
        argv=[
            f"--ServerApp.root_dir={root}",
            "--ServerApp.open_browser=False",
            "--ServerApp.jpserver_extensions={'jupyter_colab_bridge': True}",
            "--ColabBridge.kernel_map=python3=python3",
            "--IdentityProvider.token=bench",
        ],
        find_extensions=False,
        new_httpserver=False,
    )
    return app


class _Connection:
    context = None

    def set_close_callback(self, callback: Any) -> None:
        pass


def request(method: str, path: str, page: bool) -> httputil.HTTPServerRequest:
    headers = httputil.HTTPHeaders({"Host": "127.0.0.1", "Authorization": "token bench"})
    if page:
        headers["Origin"] = "https://colab.research.google.com"
    return httputil.HTTPServerRequest(
        start_line=httputil.RequestStartLine(method, f"/{path}", "HTTP/1.1"),
        headers=headers,
        connection=_Connection(),  # type: ignore[arg-type]
    )


def time_block(web_app: Any, method: str, path: str, page: bool) -> float:
    start = time.perf_counter()
    for _ in range(BLOCK):
        web_app.find_handler(request(method, path, page))
    return (time.perf_counter() - start) / BLOCK * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20000, help="lookups of each kind per path")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        web_app = make_server(root).web_app
        judged = request("POST", "api/sessions", True)
        web_app.find_handler(judged)
        assert verdict_of(judged).from_allowed_page, "the bridge's front door did not run"
        print(f"{'request':28} {'reference us':>13} {'page us':>9} {'ratio':>6}")
        for method, path in PATHS:
            ref: list[float] = []
            page: list[float] = []
            for _ in range(max(1, args.calls // BLOCK)):
                ref.append(time_block(web_app, method, path, False))
                page.append(time_block(web_app, method, path, True))
            r, p = statistics.median(ref), statistics.median(page)
            print(f"{method + ' ' + path:28} {r:13.1f} {p:9.1f} {p / r:6.2f}")


if __name__ == "__main__":
    main()
