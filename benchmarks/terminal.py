"""Benchmark: Colab's terminal, colab/tty (not part of the test run).

Run from the repository root::

    .venv/bin/python benchmarks/terminal.py [--echoes 200] [--cat-mb 20] [--stall-mb 50]
                                            [--json out.json]

It starts a real jupyter_server with the bridge as a subprocess (the
``bridge_bench`` package's ``Server``) and measures from this process, on the
one shell that both sockets reach (the named terminal ``colab``):

a) echo latency: one keystroke sent, until the shell's echo of it comes back
   (median and 95th percentile of ``--echoes``), on colab/tty directly, on
   colab/tty through ``proxied_ws`` (the tunnel's way in), and on the
   reference, jupyter_server_terminals' own socket to the same shell
   (``terminals/websocket/colab``, terminado's frames, no flow control);
b) throughput of a large ``cat`` (``--cat-mb`` MB of output through the pty),
   with a client that acks at once, against the same on the reference socket;
c) the server's memory while ``--stall-mb`` MB are written to the shell and
   the client does not keep up: on colab/tty a client that reads but never
   acks, and one that reads nothing at all; on the reference socket a client
   that reads nothing. Peak RSS growth of the server process (VmHWM), and the
   output that reached the client before it stopped.

Figures of a shared machine drift: compare within one run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import Any, Callable

from tornado.httpclient import HTTPRequest
from tornado.websocket import WebSocketClientConnection, websocket_connect

sys.path.insert(0, str(Path(__file__).parent))

from bridge_bench.common import COLAB_ORIGIN, MB
from bridge_bench.process import PeakRss
from bridge_bench.server import Server

#: Seconds without output after which a stalled client is taken to have stopped.
QUIET_SECONDS = 1.0

#: Characters of output kept to find markers in.
TAIL_CHARS = 4096

#: Seconds the reference's non-reading client leaves the server to buffer output.
STALL_SECONDS = 5.0


class Shell:
    """One socket to the shell: colab/tty's JSON frames, or terminado's lists.

    Output is counted, and only its tail kept for markers: appending megabytes
    to one string would cost this client more than the server's work.
    """

    def __init__(self, ws: WebSocketClientConnection, colab: bool, ack: bool = True) -> None:
        self.ws = ws
        self.colab = colab
        self.ack = ack
        self.received = 0  # characters of output since the last reset
        self.tail = ""
        self.asked = 0

    @classmethod
    async def open(cls, server: Server, path: str, colab: bool = True) -> Shell:
        origin = {"Origin": COLAB_ORIGIN} if colab else {}
        url = f"ws://127.0.0.1:{server.port}/{path}?token={server.token}"
        ws = await websocket_connect(HTTPRequest(url, headers=origin, request_timeout=60))
        shell = cls(ws, colab)
        await shell.run("echo ready-$((6*7))", "ready-42")
        return shell

    def reset(self) -> None:
        self.received = 0
        self.tail = ""

    def keys(self, data: str) -> None:
        frame: Any = {"data": data} if self.colab else ["stdin", data]
        self.ws.write_message(json.dumps(frame))

    async def read(self, timeout: float = 60.0) -> bool:
        """One frame's output counted and its end kept; False once closed."""
        message = await asyncio.wait_for(self.ws.read_message(), timeout)
        if message is None:
            return False
        frame = json.loads(message)
        if self.colab:
            data = frame["data"]
            if frame.get("ack"):
                self.asked += 1
                if self.ack:
                    self.ws.write_message('{"ack": true}')
        elif frame[0] == "stdout":
            data = frame[1]
        else:
            return True
        self.received += len(data)
        self.tail = (self.tail + data)[-TAIL_CHARS:]
        return True

    async def until(self, text: str) -> None:
        """Read until ``text`` has been output since the last reset."""
        while text not in self.tail:
            if not await self.read():
                raise ConnectionError(f"closed before {text!r}")

    async def run(self, command: str, marker: str) -> None:
        self.reset()
        self.keys(command + "\r")
        await self.until(marker)


def progress(text: str) -> None:
    print(f"... {text}", file=sys.stderr, flush=True)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def echo_latency(shell: Shell, echoes: int) -> dict[str, float]:
    """Milliseconds from one keystroke to its echo, ``echoes`` times (the line then cleared)."""
    times = []
    for i in range(echoes):
        char = "abcdefghij"[i % 10]
        shell.reset()
        start = time.perf_counter()
        shell.keys(char)
        await shell.until(char)
        times.append((time.perf_counter() - start) * 1000)
        if i % 50 == 49:
            shell.keys("\x15")  # Ctrl-U: clear the typed line
    shell.keys("\x15")
    await shell.run("echo cleared-$((1+1))", "cleared-2")
    return {"median_ms": statistics.median(times), "p95_ms": percentile(times, 0.95)}


def cat_command(size: int, marker: str) -> str:
    return f"head -c {size} /dev/zero | tr '\\0' x; echo; echo {marker}-$((6*7))"


async def throughput(shell: Shell, size: int) -> float:
    """MB/s of ``size`` characters of output through the pty to this client."""
    start = time.perf_counter()
    await shell.run(cat_command(size, "cat-done"), "cat-done-42")
    return size / MB / (time.perf_counter() - start)


async def quiet(shell: Shell) -> None:
    """Read until no frame has come for QUIET_SECONDS."""
    while True:
        try:
            if not await shell.read(timeout=QUIET_SECONDS):
                return
        except asyncio.TimeoutError:
            return


async def stalled(
    server: Server, shell: Shell, size: int, wait: Callable[[], Awaitable[None]]
) -> dict[str, float]:
    """The server's peak RSS growth while ``size`` characters meet a client that stalls."""
    shell.reset()
    with PeakRss(server.pid) as rss:
        shell.keys(cat_command(size, "stall-done") + "\r")
        await wait()
    reached = shell.received
    shell.ack = True
    for _ in range(shell.asked):
        shell.ws.write_message('{"ack": true}')
    await shell.until("stall-done-42")  # drain, so the next measure starts idle
    return {"server_rss_growth_mb": rss.growth_mb, "reached_client_mb": reached / MB}


async def measure(server: Server, args: argparse.Namespace) -> dict[str, Any]:
    paths = {
        "colab/tty": ("colab/tty", True),
        "proxied_ws/colab/tty": ("http_over_websocket/proxied_ws/colab/tty", True),
        "reference: terminals/websocket/colab": ("terminals/websocket/colab", False),
    }
    results: dict[str, Any] = {"echo": {}, "cat": {}, "stall": {}}
    for name, (path, colab) in paths.items():
        progress(f"echo and cat on {name}")
        shell = await Shell.open(server, path, colab)
        results["echo"][name] = await echo_latency(shell, args.echoes)
        results["cat"][name] = {"mb_per_s": await throughput(shell, int(args.cat_mb * MB))}
        shell.ws.close()
    stall = int(args.stall_mb * MB)

    progress("stall: colab/tty, reads, never acks")
    shell = await Shell.open(server, "colab/tty")
    shell.ack = False
    results["stall"]["colab/tty, reads, never acks"] = await stalled(
        server, shell, stall, lambda: quiet(shell)
    )
    shell.ws.close()

    progress("stall: colab/tty, reads nothing")
    shell = await Shell.open(server, "colab/tty")
    shell.ack = False
    results["stall"]["colab/tty, reads nothing"] = await stalled(
        server, shell, stall, lambda: asyncio.sleep(STALL_SECONDS)
    )
    shell.ws.close()

    progress("stall: the reference, reads nothing")
    shell = await Shell.open(server, "terminals/websocket/colab", colab=False)
    results["stall"]["reference: terminado socket, reads nothing"] = await stalled(
        server, shell, stall, lambda: asyncio.sleep(STALL_SECONDS)
    )
    shell.ws.close()
    return results


def report(results: dict[str, Any], args: argparse.Namespace) -> None:
    print(f"a) echo latency, {args.echoes} keystrokes (ms)")
    reference = results["echo"]["reference: terminals/websocket/colab"]["median_ms"]
    for name, figures in results["echo"].items():
        ratio = figures["median_ms"] / reference
        print(
            f"   {name:40} median {figures['median_ms']:6.2f}  p95 {figures['p95_ms']:6.2f}"
            f"  x{ratio:.2f} of the reference"
        )
    print(f"b) throughput of a {args.cat_mb:g} MB cat (MB/s)")
    reference = results["cat"]["reference: terminals/websocket/colab"]["mb_per_s"]
    for name, figures in results["cat"].items():
        ratio = figures["mb_per_s"] / reference
        print(f"   {name:40} {figures['mb_per_s']:7.1f}  x{ratio:.2f} of the reference")
    print(f"c) a {args.stall_mb:g} MB cat to a client that stalls")
    for name, figures in results["stall"].items():
        print(
            f"   {name:44} server RSS +{figures['server_rss_growth_mb']:6.1f} MB, "
            f"{figures['reached_client_mb']:6.2f} MB read by the client"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--echoes", type=int, default=200)
    parser.add_argument("--cat-mb", type=float, default=20.0)
    parser.add_argument("--stall-mb", type=float, default=50.0)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(Path(tmp))
        server.start()
        try:
            results = asyncio.run(measure(server, args))
        finally:
            server.stop()
    report(results, args)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
