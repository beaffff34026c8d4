"""Benchmark: do large tunnelled uploads stall other clients? (not part of the test run)

Run from the repository root::

    .venv/bin/python benchmarks/large_frames.py [--frame-mib 48] [--frames 5] [--contents]
                                                [--sockets 100] [--json out.json]

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
   direct, and its ratio to the upload's body size (median of three uploads:
   the allocator may keep memory from the one before);
c) with ``--sockets N`` (100 by default, 0 to skip): the same prober's worst
   latency while N bridge sockets each download a 1 MiB file at once (the
   figure the main suite's 100-socket test printed; the test now asserts only
   that the server answered), against the idle server of the same run;
d) in this process, with ``tracemalloc``: the bridge's own peak allocation
   while it turns one frame into a request body, from tornado's raw bytes
   (``parse_text_frame_bytes``, what the bridge does) and, for reference,
   the way tornado's ``str`` of the frame would be parsed (its UTF-8 decode
   and ``parse_request_frame``), as ratios to the body size.

The prober runs in a process of its own, and every frame and request is
encoded (and masked) before the measured window: the uploading client's own
work must not count as the server's stall (in one process, masking and
buffering five 48 MiB frames stalled the prober by ~0.6 s on its own).

Figures of a shared machine drift: compare the ratios within one run.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import functools
import json
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).parent))

from bridge_bench.common import MIB
from bridge_bench.http_client import RawHttp
from bridge_bench.process import PeakRss
from bridge_bench.server import Server
from bridge_bench.websocket import RawWebSocket, wire_frame, ws_connect

from jupyter_colab_bridge.protocol.frames import parse_request_frame, parse_text_frame_bytes

#: Single-upload memory measures per figure (their median is reported).
RSS_REPEATS = 3

#: One direct upload: method, path and body.
DirectRequest = tuple[str, str, bytes]


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
    """Another client, in its own process: ``GET api/status`` in a loop; the worst latency.

    A separate process, so that the uploading client's own work (encoding,
    buffering 48 MiB writes) never counts as the server's stall. It reports
    each request's start and latency on the shared monotonic clock; the worst
    of those that overlap the measured window is the figure.
    """

    def __init__(self, server: Server) -> None:
        self.server = server

    async def during(self, work: Any) -> float:
        """Worst latency (ms) while ``work`` (a coroutine) runs."""
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--probe",
            json.dumps([self.server.port, self.server.headers]),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert proc.stdin is not None and proc.stdout is not None
        assert (await proc.stdout.readline()).strip() == b"ready"
        await asyncio.sleep(0.2)
        start = time.monotonic()
        await work
        end = time.monotonic()
        proc.stdin.write(b"stop\n")
        await proc.stdin.drain()
        samples = json.loads(await proc.stdout.read())
        await proc.wait()
        overlapping = [lat for t0, lat in samples if t0 + lat >= start and t0 <= end]
        return max(overlapping) * 1000


async def probe(port: int, headers: dict[str, str]) -> None:
    """The prober process: requests until a line arrives on stdin, then its samples as JSON."""
    http = RawHttp(port, headers)
    await http.connect()
    print("ready", flush=True)
    stop = asyncio.ensure_future(asyncio.to_thread(sys.stdin.readline))
    samples: list[tuple[float, float]] = []
    while not stop.done():
        t0 = time.monotonic()
        status, _ = await http.get("/api/status")
        assert status == 200, status
        samples.append((t0, time.monotonic() - t0))
        await asyncio.sleep(0.001)
    http.close()
    print(json.dumps(samples), flush=True)


async def bridge_socket(server: Server) -> RawWebSocket:
    auth = f"http://127.0.0.1:{server.port}/?token={server.token}"
    query = urlencode({"min_version": "0.0.7", "jupyter_http_over_ws_auth_url": auth})
    return await ws_connect(f"ws://127.0.0.1:{server.port}/http_over_websocket?{query}")


async def tunnel_uploads(server: Server, frames: list[bytes]) -> None:
    """Send frames prepared by :func:`wire_frame` on one bridge socket; wait for the replies."""
    ws = await bridge_socket(server)
    for frame in frames:
        ws.write_wire(frame)
    await ws.writer.drain()
    done = 0
    while done < len(frames):
        message = await ws.read_message()
        assert isinstance(message, str), message
        reply = json.loads(message)
        assert reply.get("status", 200) in (200, 201, 405), reply
        done += bool(reply["done"])
    ws.close()


async def many_downloads(server: Server, sockets: int, name: str) -> None:
    """``sockets`` bridge sockets, each downloading ``files/<name>`` at once; all replies read."""
    clients = await asyncio.gather(*(bridge_socket(server) for _ in range(sockets)))
    for ws in clients:
        ws.write_message(
            json.dumps({"message_id": "dl", "method": "GET", "path": f"/files/{name}"})
        )

    async def read_reply(ws: RawWebSocket) -> None:
        while True:
            message = await ws.read_message()
            assert isinstance(message, str), message
            reply = json.loads(message)
            assert reply.get("status", 200) == 200, reply
            if reply["done"]:
                break
        ws.close()

    await asyncio.gather(*(read_reply(ws) for ws in clients))


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


def direct_requests(frames: list[str]) -> list[DirectRequest]:
    """The requests the frames carry, as direct HTTP requests."""
    requests = []
    for frame in frames:
        parsed = json.loads(frame)
        body = (
            parsed["body"].encode() if "body" in parsed else base64.b64decode(parsed["body_base64"])
        )
        requests.append((parsed["method"], parsed["path"], body))
    return requests


async def direct_uploads(server: Server, requests: list[DirectRequest]) -> None:
    await asyncio.gather(*(direct_request(server, *request) for request in requests))


def traced_peak(parse: Any, data: bytes) -> int:
    """Peak bytes allocated by ``parse(data)`` (tracemalloc), beyond ``data`` itself."""
    tracemalloc.start()
    try:
        parse(data)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def parse_peaks(frame: str, body_bytes: int) -> dict[str, float]:
    """The bridge's own peak allocation turning one frame into a body, over the body's size."""
    data = frame.encode()
    from_bytes = traced_peak(parse_text_frame_bytes, data)
    from_text = traced_peak(lambda raw: parse_request_frame(raw.decode("utf-8")), data)
    return {
        "bridge_parse_peak_over_body": round(from_bytes / body_bytes, 2),
        "str_parse_peak_over_body": round(from_text / body_bytes, 2),
    }


async def median_rss_growth(server: Server, upload: Any) -> float:
    """Median peak RSS growth (MB) of ``RSS_REPEATS`` runs of ``upload()``."""
    growths = []
    for _ in range(RSS_REPEATS):
        with PeakRss(server.pid) as rss:
            await upload()
        growths.append(rss.growth_mb)
    return statistics.median(growths)


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
            if args.sockets:
                (server.root / "mid.bin").write_bytes(os.urandom(MIB))
                many_ms = await Prober(server).during(
                    many_downloads(server, args.sockets, "mid.bin")
                )
                results["many_sockets"] = {
                    "sockets": args.sockets,
                    "worst_ms": round(many_ms, 1),
                    "over_idle": round(many_ms / results["idle_worst_ms"], 2),
                }
            targets = ["status", "contents"] if args.contents else ["status"]
            for target, shape in [(t, s) for t in targets for s in ("body", "body_base64")]:
                frames = [frame_for(target, shape, frame_bytes, i) for i in range(args.frames)]
                wire = [wire_frame(frame) for frame in frames]
                direct = direct_requests(frames)
                body_mb = len(direct[0][2])
                tunnel_ms = await Prober(server).during(tunnel_uploads(server, wire))
                direct_ms = await Prober(server).during(direct_uploads(server, direct))
                tunnel_rss = await median_rss_growth(
                    server, functools.partial(tunnel_uploads, server, wire[:1])
                )
                direct_rss = await median_rss_growth(
                    server, functools.partial(direct_uploads, server, direct[:1])
                )
                results[f"{target}/{shape}"] = {
                    "tunnel_worst_ms": round(tunnel_ms, 1),
                    "direct_worst_ms": round(direct_ms, 1),
                    "tunnel_over_direct": round(tunnel_ms / direct_ms, 2),
                    "body_mb": round(body_mb / 1e6, 1),
                    "tunnel_peak_rss_mb": round(tunnel_rss, 1),
                    "direct_peak_rss_mb": round(direct_rss, 1),
                    "tunnel_rss_over_body": round(tunnel_rss * 1e6 / body_mb, 2),
                    "direct_rss_over_body": round(direct_rss * 1e6 / body_mb, 2),
                    **parse_peaks(frames[0], body_mb),
                }
                del frames, wire, direct
        finally:
            server.stop()
    results["idle_worst_ms"] = round(results["idle_worst_ms"], 1)
    return results


def main() -> int:
    if sys.argv[1:2] == ["--probe"]:
        port, headers = json.loads(sys.argv[2])
        asyncio.run(probe(port, headers))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frame-mib", type=float, default=48.0)
    parser.add_argument("--frames", type=int, default=5)
    parser.add_argument("--contents", action="store_true", help="also real contents saves")
    parser.add_argument(
        "--sockets", type=int, default=100, help="bridge sockets downloading 1 MiB each (0: skip)"
    )
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    results = asyncio.run(measure(args))
    print(json.dumps(results, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
