"""Benchmark: do large tunnelled uploads stall other clients? (not part of the test run)

Run from the repository root::

    .venv/bin/python benchmarks/large_frames.py [--frame-mib 48] [--frames 5] [--contents]
                                                [--json out.json]

It starts a real jupyter_server with the bridge as a subprocess (the
``bridge_bench`` package's ``Server``) and measures from this process:

a) another client's worst ``GET api/status`` latency (HTTP keep-alive, one
   request at a time, as fast as it can) while ``--frames`` request frames of
   ``--frame-mib`` MiB arrive on one bridge socket, each a ``POST api/status``
   whose body carries a file in base64 (the handler answers 405 without
   reading it, so the figure is the transport's own cost; ``--contents``
   adds a real ``PUT api/contents/<file>`` save, where the handler's JSON
   parse and disk write dominate both ways); the same five requests as
   direct HTTP requests (five connections) are the reference, measured in
   the same run, and so is the idle server. Two frame
   shapes: the body as a JSON string (``body``, as Colab sends a contents
   save) and as base64 (``body_base64``, which the bridge cuts out of the
   JSON and decodes in a worker thread);
b) the server's peak RSS growth while one such upload is served, tunnel and
   direct, and its ratio to the upload's body size.

Figures of a shared machine drift: compare the ratios within one run.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).parent))

from bridge_bench.common import MIB
from bridge_bench.http_client import RawHttp
from bridge_bench.process import PeakRss
from bridge_bench.server import Server
from bridge_bench.websocket import RawWebSocket, ws_connect


def contents_body(raw_bytes: int, name: str) -> str:
    """The JSON body of ``PUT api/contents/<name>`` saving ``raw_bytes`` random bytes."""
    content = base64.b64encode(os.urandom(raw_bytes)).decode()
    return json.dumps({"type": "file", "format": "base64", "content": content, "name": name})


def frame_for(target: str, shape: str, frame_bytes: int, index: int) -> str:
    """A request frame of about ``frame_bytes`` characters."""
    name = f"{shape}-{index}.bin"
    method, path = (
        ("PUT", f"/api/contents/{name}") if target == "contents" else ("POST", "/api/status")
    )
    head = {"message_id": name, "method": method, "path": path}
    if shape == "body":  # the contents JSON escaped once more: ~4/3 of the file
        return json.dumps({**head, "body": contents_body(frame_bytes * 3 // 4, name)})
    body = contents_body(frame_bytes * 9 // 16, name)  # base64 twice: ~16/9 of the file
    return json.dumps({**head, "body_base64": base64.b64encode(body.encode()).decode()})


class Prober:
    """Another client: ``GET api/status`` in a loop; the worst latency seen."""

    def __init__(self, server: Server) -> None:
        self.http = RawHttp(server.port, server.headers)
        self.latencies: list[float] = []
        self._stop = asyncio.Event()

    async def run(self) -> None:
        await self.http.connect()
        while not self._stop.is_set():
            t0 = time.perf_counter()
            status, _ = await self.http.get("/api/status")
            assert status == 200, status
            self.latencies.append(time.perf_counter() - t0)
            await asyncio.sleep(0.001)

    async def during(self, work: Any) -> float:
        """Worst latency (ms) while ``work`` (a coroutine) runs."""
        task = asyncio.ensure_future(self.run())
        await asyncio.sleep(0.2)
        self.latencies.clear()
        await work
        self._stop.set()
        await task
        self.http.close()
        return max(self.latencies) * 1000


async def bridge_socket(server: Server) -> RawWebSocket:
    auth = f"http://127.0.0.1:{server.port}/?token={server.token}"
    query = urlencode({"min_version": "0.0.7", "jupyter_http_over_ws_auth_url": auth})
    return await ws_connect(f"ws://127.0.0.1:{server.port}/http_over_websocket?{query}")


async def tunnel_uploads(server: Server, frames: list[str]) -> None:
    ws = await bridge_socket(server)
    for frame in frames:
        ws.write_message(frame)
    await ws.writer.drain()
    done = 0
    while done < len(frames):
        message = await ws.read_message()
        assert isinstance(message, str), message
        reply = json.loads(message)
        assert reply.get("status", 200) in (200, 201, 405), reply
        done += bool(reply["done"])
    ws.close()


async def direct_request(server: Server, method: str, path: str, body: bytes) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
        f"Authorization: token {server.token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    writer.write(head.encode() + body)
    await writer.drain()
    status = int((await reader.readline()).split()[1])
    assert status in (200, 201, 405), status
    await reader.read()
    writer.close()


async def direct_uploads(server: Server, frames: list[str]) -> None:
    requests = []
    for frame in frames:
        parsed = json.loads(frame)
        body = (
            parsed["body"].encode() if "body" in parsed else base64.b64decode(parsed["body_base64"])
        )
        requests.append(direct_request(server, parsed["method"], parsed["path"], body))
    await asyncio.gather(*requests)


async def idle() -> None:
    await asyncio.sleep(1.0)


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    frame_bytes = int(args.frame_mib * MIB)
    results: dict[str, Any] = {"frame_mib": args.frame_mib, "frames": args.frames}
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(Path(tmp), bridge={"max_message_bytes": 2 * frame_bytes})
        server.start()
        try:
            results["idle_worst_ms"] = await Prober(server).during(idle())
            targets = ["status", "contents"] if args.contents else ["status"]
            for target, shape in [(t, s) for t in targets for s in ("body", "body_base64")]:
                frames = [frame_for(target, shape, frame_bytes, i) for i in range(args.frames)]
                tunnel = await Prober(server).during(tunnel_uploads(server, frames))
                direct = await Prober(server).during(direct_uploads(server, frames))
                one = frames[:1]
                body_mb = len(json.loads(one[0]).get("body", "")) or len(
                    base64.b64decode(json.loads(one[0])["body_base64"])
                )
                with PeakRss(server.pid) as tunnel_rss:
                    await tunnel_uploads(server, one)
                with PeakRss(server.pid) as direct_rss:
                    await direct_uploads(server, one)
                results[f"{target}/{shape}"] = {
                    "tunnel_worst_ms": round(tunnel, 1),
                    "direct_worst_ms": round(direct, 1),
                    "tunnel_over_direct": round(tunnel / direct, 2),
                    "body_mb": round(body_mb / 1e6, 1),
                    "tunnel_peak_rss_mb": round(tunnel_rss.growth_mb, 1),
                    "direct_peak_rss_mb": round(direct_rss.growth_mb, 1),
                    "tunnel_rss_over_body": round(tunnel_rss.growth_mb * 1e6 / body_mb, 2),
                    "direct_rss_over_body": round(direct_rss.growth_mb * 1e6 / body_mb, 2),
                }
                del frames
        finally:
            server.stop()
    results["idle_worst_ms"] = round(results["idle_worst_ms"], 1)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frame-mib", type=float, default=48.0)
    parser.add_argument("--frames", type=int, default=5)
    parser.add_argument("--contents", action="store_true", help="also real contents saves")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    results = asyncio.run(measure(args))
    print(json.dumps(results, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
