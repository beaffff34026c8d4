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
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import http.client
import itertools
import json
import os
import platform
import random
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Callable
from urllib.parse import quote, urlencode

from tornado.speedups import websocket_mask  # type: ignore[import-not-found]

try:  # the client's own decoding must not be what is measured: fastest available
    from pybase64 import b64decode as _b64decode
except ImportError:  # pragma: no cover
    from base64 import b64decode as _b64decode
try:
    from orjson import dumps as _dumps
    from orjson import loads as _loads
except ImportError:  # pragma: no cover
    _loads = json.loads

    def _dumps(obj: Any) -> bytes:
        return json.dumps(obj).encode()

COLAB_ORIGIN = "https://colab.research.google.com"
KERNEL_SUBPROTOCOL = "v1.kernel.websocket.jupyter.org"
MB = 1_000_000
MIB = 1 << 20


# -- helpers -------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary_ms(seconds: list[float]) -> dict[str, Any]:
    ms = [s * 1000 for s in seconds]
    return {"n": len(ms), "median_ms": statistics.median(ms), "p95_ms": pct(ms, 0.95)}


class Deadline:
    """A measure's time budget."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    @property
    def left(self) -> float:
        return max(0.05, self.end - time.monotonic())

    @property
    def passed(self) -> bool:
        return time.monotonic() >= self.end


# -- the server ----------------------------------------------------------------------
class Server:
    """jupyter_server with the bridge, in a subprocess."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.port = free_port()
        self.token = uuid.uuid4().hex
        self.root = tmp / "root"
        self.runtime = tmp / "runtime"
        self.root.mkdir()
        self.runtime.mkdir()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = tmp / "server.log"

    def start(self) -> None:
        config = {
            "ServerApp": {
                "jpserver_extensions": {"jupyter_colab_bridge": True},
                "port": self.port,
                "port_retries": 0,
                "ip": "127.0.0.1",
                "open_browser": False,
                "root_dir": str(self.root),
                "allow_root": True,
                "log_level": "WARN",
            },
            "IdentityProvider": {"token": self.token},
            "ZMQChannelsWebsocketConnection": {
                "iopub_msg_rate_limit": 0.0,
                "iopub_data_rate_limit": 0.0,
            },
        }
        config_path = self.tmp / "jupyter_server_config.json"
        config_path.write_text(json.dumps(config))
        env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(self.runtime), PYTHONUNBUFFERED="1")
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "jupyter_server", f"--config={config_path}"],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=str(self.tmp),
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_path.read_text()[-3000:]}")
            try:
                status, _ = http_get(self.port, "/api/status", self.headers)
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("server did not start within 60 s")

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
            conn.request("POST", "/api/shutdown", headers=self.headers)
            conn.getresponse().read()
        except OSError:
            pass
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def http_get(port: int, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def server_cpu_seconds(pid: int) -> float:
    """CPU time (user + system) the process has used so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- memory --------------------------------------------------------------------------
def _proc_status_kb(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


class PeakRss:
    """Peak resident memory of a process during a measure, above its level before.

    Uses the kernel's high-water mark (VmHWM, reset through ``clear_refs``)
    where allowed, else samples RSS every 2 ms (psutil or /proc).
    """

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.mode = "hwm"
        self.before = 0
        self.peak = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _rss(self) -> int:
        try:
            import psutil

            return int(psutil.Process(self.pid).memory_info().rss)
        except ImportError:
            return _proc_status_kb(self.pid, "VmRSS") * 1024

    def __enter__(self) -> PeakRss:
        self.before = self._rss()
        try:
            with open(f"/proc/{self.pid}/clear_refs", "w") as f:
                f.write("5")
            _proc_status_kb(self.pid, "VmHWM")
        except (OSError, KeyError):
            self.mode = "sampled"
            self.peak = self.before
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.002):
            self.peak = max(self.peak, self._rss())

    def __exit__(self, *exc: Any) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
        else:
            self.peak = _proc_status_kb(self.pid, "VmHWM") * 1024

    @property
    def growth_mb(self) -> float:
        return max(0, self.peak - self.before) / MB


# -- profiling -----------------------------------------------------------------------
class Profiler:
    """py-spy on the server process, one collapsed-stack file per measure."""

    def __init__(self, directory: str | None, pid: int) -> None:
        self.dir = Path(directory) if directory else None
        self.pid = pid
        self.exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))

    def run(self, name: str) -> _ProfileRun:
        return _ProfileRun(self, name)


class _ProfileRun:
    def __init__(self, profiler: Profiler, name: str) -> None:
        self.profiler = profiler
        self.name = name
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> None:
        p = self.profiler
        if p.dir is None:
            return
        p.dir.mkdir(parents=True, exist_ok=True)
        out = p.dir / f"{self.name}.txt"
        self.proc = subprocess.Popen(
            [p.exe, "record", "--pid", str(p.pid), "--format", "raw", "--rate", "500",
             "--nonblocking", "--output", str(out)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(0.5)

    def __exit__(self, *exc: Any) -> None:
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# -- direct HTTP client --------------------------------------------------------------
class RawHttp:
    """A minimal HTTP/1.1 keep-alive client on asyncio streams (the direct baseline)."""

    def __init__(self, port: int, headers: dict[str, str]) -> None:
        self.port = port
        self.extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def connect(self) -> RawHttp:
        self.reader, self.writer = await asyncio.open_connection(
            "127.0.0.1", self.port, limit=1 << 20
        )
        sock = self.writer.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return self

    async def get(self, path: str) -> tuple[int, int]:
        """GET ``path``; return status and body length (the body is read and dropped)."""
        assert self.reader is not None and self.writer is not None
        self.writer.write(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n{self.extra}\r\n".encode()
        )
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        if "content-length" in headers:
            return status, await self._drain(int(headers["content-length"]))
        if headers.get("transfer-encoding", "").lower() == "chunked":
            total = 0
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                total += await self._drain(size)
                await self.reader.readexactly(2)
                if size == 0:
                    return status, total
        return status, 0

    async def _drain(self, n: int) -> int:
        assert self.reader is not None
        left = n
        while left:
            chunk = await self.reader.read(min(left, 1 << 20))
            if not chunk:
                raise ConnectionError("connection closed mid-body")
            left -= len(chunk)
        return n

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


# -- bridge client -------------------------------------------------------------------
@dataclass
class _Pending:
    future: asyncio.Future[_Pending]
    status: int | None = None
    nbytes: int = 0
    frames: int = 0
    max_chunk: int = 0


class BridgeConn:
    """One ``http_over_websocket`` socket.

    ``concurrent``: a reader task hands each reply to its waiter, so many
    requests may be in flight. Otherwise :meth:`call` sends one request and
    reads its reply inline, as the direct client does (no extra task hop).
    """

    def __init__(self, ws: RawWebSocket, concurrent: bool) -> None:
        self.ws = ws
        self.pending: dict[str, _Pending] = {}
        self._ids = itertools.count()
        self._reader = asyncio.ensure_future(self._read()) if concurrent else None

    @classmethod
    async def open(cls, server: Server, concurrent: bool = True) -> BridgeConn:
        auth = f"http://127.0.0.1:{server.port}/?token={quote(server.token)}"
        query = urlencode({"min_version": "0.0.7", "jupyter_http_over_ws_auth_url": auth})
        url = f"ws://127.0.0.1:{server.port}/http_over_websocket?{query}"
        ws = await _ws_connect(url)
        return cls(ws, concurrent)

    def _absorb(self, message: str | bytes) -> _Pending | None:
        """Account one reply frame; return its request's state once it is done."""
        frame = _loads(message)
        p = self.pending[frame["message_id"]]
        p.frames += 1
        if "status" in frame:
            p.status = frame["status"]
        data = frame.get("data")
        if data is not None:
            raw = _b64decode(data)
            p.nbytes += len(raw)
            p.max_chunk = max(p.max_chunk, len(raw))
        if frame["done"]:
            del self.pending[frame["message_id"]]
            return p
        return None

    async def _read(self) -> None:
        while True:
            message = await self.ws.read_message()
            if message is None:
                error = ConnectionError(f"bridge socket closed: {self.ws.close_code}")
                for p in self.pending.values():
                    if not p.future.done():
                        p.future.set_exception(error)
                return
            done = self._absorb(message)
            if done is not None:
                done.future.set_result(done)

    def request(self, method: str, path: str) -> asyncio.Future[_Pending]:
        """Send a request; its future resolves with the whole reply (concurrent mode)."""
        assert self._reader is not None
        mid = str(next(self._ids))
        future: asyncio.Future[_Pending] = asyncio.get_running_loop().create_future()
        self.pending[mid] = _Pending(future)
        self.ws.write_message(_dumps({"message_id": mid, "method": method, "path": path}))
        return future

    async def call(self, method: str, path: str) -> _Pending:
        """Send one request and read its reply inline (sequential mode)."""
        assert self._reader is None
        mid = str(next(self._ids))
        self.pending[mid] = _Pending(None)  # type: ignore[arg-type]
        self.ws.write_message(_dumps({"message_id": mid, "method": method, "path": path}))
        while True:
            message = await self.ws.read_message()
            if message is None:
                raise ConnectionError(f"bridge socket closed: {self.ws.close_code}")
            done = self._absorb(message)
            if done is not None:
                return done

    def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
        self.ws.close()


class RawWebSocket:
    """A minimal RFC 6455 client on asyncio streams, like :class:`RawHttp`.

    The same I/O machinery as the direct baseline, so the comparison measures
    the server, not two different client libraries. No fragmentation (the
    server sends none); pings are answered; text frames come back as str.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 subprotocol: str | None) -> None:
        self.reader = reader
        self.writer = writer
        self.selected_subprotocol = subprotocol
        self.close_code: int | None = None
        self.close_reason: str | None = None

    @classmethod
    async def connect(cls, url: str, subprotocols: list[str] | None,
                      headers: dict[str, str]) -> RawWebSocket:
        rest = url.split("://", 1)[1]
        hostport, _, path = rest.partition("/")
        host, _, port = hostport.partition(":")
        reader, writer = await asyncio.open_connection(host, int(port), limit=1 << 24)
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [f"GET /{path} HTTP/1.1", f"Host: {hostport}", "Upgrade: websocket",
                 "Connection: Upgrade", f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
        if subprotocols:
            lines.append(f"Sec-WebSocket-Protocol: {', '.join(subprotocols)}")
        lines += [f"{k}: {v}" for k, v in headers.items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)).decode("latin-1")
        status = int(head.split()[1])
        if status != 101:
            raise ConnectionError(f"WebSocket handshake answered {status}")
        chosen = None
        for line in head.split("\r\n")[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "sec-websocket-protocol":
                chosen = value.strip()
        return cls(reader, writer, chosen)

    def write_message(self, message: str | bytes, binary: bool = False) -> None:
        """Send a frame: text unless ``binary`` (bytes are sent as they are)."""
        data = message.encode() if isinstance(message, str) else message
        opcode = 0x2 if binary else 0x1
        n = len(data)
        if n < 126:
            header = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
        elif n < 65536:
            header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
        mask = random.getrandbits(32).to_bytes(4, "big")
        self.writer.write(header + mask + websocket_mask(mask, data))

    async def read_message(self) -> str | bytes | None:
        read = self.reader.readexactly
        while True:
            try:
                b0, b1 = await read(2)
            except (asyncio.IncompleteReadError, ConnectionError):
                return None
            n = b1 & 0x7F
            if n == 126:
                (n,) = struct.unpack("!H", await read(2))
            elif n == 127:
                (n,) = struct.unpack("!Q", await read(8))
            payload = await read(n) if n else b""
            opcode = b0 & 0x0F
            if opcode == 0x1:
                return payload.decode()
            if opcode == 0x2:
                return payload
            if opcode == 0x8:
                if len(payload) >= 2:
                    self.close_code = struct.unpack("!H", payload[:2])[0]
                    self.close_reason = payload[2:].decode(errors="replace")
                self.close()
                return None
            if opcode == 0x9:
                self._control(0xA, payload)

    def _control(self, opcode: int, payload: bytes) -> None:
        mask = os.urandom(4)
        self.writer.write(bytes([0x80 | opcode, 0x80 | len(payload)]) + mask
                          + websocket_mask(mask, payload))

    def close(self) -> None:
        if not self.writer.is_closing():
            try:
                self._control(0x8, struct.pack("!H", 1000))
            except Exception:
                pass
            self.writer.close()


async def _ws_connect(url: str, subprotocols: list[str] | None = None,
                      headers: dict[str, str] | None = None) -> Any:
    all_headers = {"Origin": COLAB_ORIGIN, **(headers or {})}
    return await RawWebSocket.connect(url, subprotocols, all_headers)


# -- kernel clients ------------------------------------------------------------------
def _pack(obj: Any) -> bytes:
    from jupyter_client.jsonutil import json_default

    return json.dumps(obj, default=json_default).encode()


EXECUTE_CONTENT = {"silent": False, "store_history": False, "user_expressions": {},
                   "allow_stdin": False, "stop_on_error": True}


class WsKernel:
    """The kernel WebSocket protocol (v1, binary) on a socket: bridge or direct."""

    def __init__(self, ws: RawWebSocket) -> None:
        from jupyter_client.session import Session

        assert ws.selected_subprotocol == KERNEL_SUBPROTOCOL, ws.selected_subprotocol
        self.ws = ws
        self.session = Session(session=uuid.uuid4().hex, key=b"")

    async def execute(self, code: str, timeout: float) -> int:
        """Run ``code`` until its reply and idle status; return stdout characters seen."""
        from jupyter_server.services.kernels.connection.base import (
            deserialize_msg_from_ws_v1,
            serialize_msg_to_ws_v1,
        )

        msg = self.session.msg("execute_request", content={"code": code, **EXECUTE_CONTENT})
        msg_id = msg["header"]["msg_id"]
        self.ws.write_message(serialize_msg_to_ws_v1(msg, "shell", _pack), binary=True)
        reply = idle = False
        out = 0
        end = time.monotonic() + timeout
        while not (reply and idle):
            left = max(0.05, end - time.monotonic())
            message = await asyncio.wait_for(self.ws.read_message(), left)
            if message is None:
                raise ConnectionError(f"kernel socket closed: {self.ws.close_code}")
            assert isinstance(message, bytes)
            _, parts = deserialize_msg_from_ws_v1(message)
            parent = json.loads(parts[1])
            if parent.get("msg_id") != msg_id:
                continue
            msg_type = json.loads(parts[0])["msg_type"]
            if msg_type == "execute_reply":
                reply = True
            elif msg_type == "status":
                idle = idle or json.loads(parts[3])["execution_state"] == "idle"
            elif msg_type == "stream":
                out += len(json.loads(parts[3])["text"])
        return out

    def close(self) -> None:
        self.ws.close()


class ZmqKernel:
    """The kernel's own ZMQ channels (jupyter_client): the physical limit."""

    def __init__(self, connection_file: Path) -> None:
        from jupyter_client.asynchronous import AsyncKernelClient

        self.kc = AsyncKernelClient()
        self.kc.load_connection_file(str(connection_file))
        self.kc.start_channels()

    async def execute(self, code: str, timeout: float) -> int:
        msg_id = self.kc.execute(code, **{k: v for k, v in EXECUTE_CONTENT.items()
                                          if k not in ("user_expressions",)})
        reply = idle = False
        out = 0
        end = time.monotonic() + timeout
        while not reply:
            msg = await self.kc.get_shell_msg(timeout=max(0.05, end - time.monotonic()))
            reply = msg["parent_header"].get("msg_id") == msg_id
        while not idle:
            msg = await self.kc.get_iopub_msg(timeout=max(0.05, end - time.monotonic()))
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "status":
                idle = msg["content"]["execution_state"] == "idle"
            elif msg["msg_type"] == "stream":
                out += len(msg["content"]["text"])
        return out

    def close(self) -> None:
        self.kc.stop_channels()


# -- the measures --------------------------------------------------------------------
@dataclass
class Sizes:
    a_requests: int = 300
    b_requests: int = 2000
    in_flight: int = 64
    c_bytes: int = 50 * MB
    d_round_trips: int = 200
    e_bytes: int = 20 * MIB
    budget: float = 60.0  # seconds per side of a measure


QUICK = Sizes(a_requests=100, b_requests=600, c_bytes=10 * MB, d_round_trips=60,
              e_bytes=4 * MIB, budget=10.0)


class Bench:
    def __init__(self, server: Server, sizes: Sizes, profiler: Profiler) -> None:
        self.server = server
        self.sizes = sizes
        self.profiler = profiler
        self.kernel_id = ""
        self.results: dict[str, Any] = {}

    async def _timed_loop(self, n: int, deadline: Deadline,
                          once: Callable[[], Awaitable[Any]]) -> list[float]:
        times = []
        for _ in range(n):
            if deadline.passed:
                break
            t0 = time.perf_counter()
            await asyncio.wait_for(once(), deadline.left)
            times.append(time.perf_counter() - t0)
        return times

    # a) --------------------------------------------------------------------------
    async def latency(self, path: str, n: int, tag: str) -> dict[str, Any]:
        srv = self.server
        bridge = await BridgeConn.open(srv, concurrent=False)
        raw = await RawHttp(srv.port, srv.headers).connect()
        sync = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
        sync.connect()
        sync.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        async def via_bridge() -> None:
            reply = await bridge.call("GET", path)
            assert reply.status == 200, reply.status

        async def via_raw() -> None:
            status, _ = await raw.get(path)
            assert status == 200, status

        async def via_sync() -> None:
            sync.request("GET", path, headers=srv.headers)
            response = sync.getresponse()
            response.read()
            assert response.status == 200, response.status

        try:
            for once in (via_bridge, via_raw, via_sync):  # warm up
                for _ in range(min(20, n)):
                    await once()
            if self.profiler.dir is not None:  # one side at a time, each profiled
                with self.profiler.run(f"{tag}_bridge"):
                    b = await self._timed_loop(n, Deadline(self.sizes.budget), via_bridge)
                with self.profiler.run(f"{tag}_direct"):
                    r = await self._timed_loop(n, Deadline(self.sizes.budget), via_raw)
                s = await self._timed_loop(n, Deadline(self.sizes.budget), via_sync)
            else:  # interleaved, so drift of this machine hits all sides alike
                b, r, s = [], [], []
                deadline = Deadline(3 * self.sizes.budget)
                for i in range(n):
                    if deadline.passed:
                        break
                    sides = ((via_bridge, b), (via_raw, r), (via_sync, s))
                    for once, acc in sides if i % 2 else sides[::-1]:
                        t0 = time.perf_counter()
                        await asyncio.wait_for(once(), deadline.left)
                        acc.append(time.perf_counter() - t0)
        finally:
            bridge.close()
            raw.close()
            sync.close()
        raw_s, sync_s = summary_ms(r), summary_ms(s)
        direct = min(raw_s, sync_s, key=lambda x: x["median_ms"])
        return {"bridge": summary_ms(b), "direct": direct,
                "direct_asyncio": raw_s, "direct_http_client": sync_s}

    # b) --------------------------------------------------------------------------
    async def throughput(self, path: str, n: int, in_flight: int, tag: str) -> dict[str, Any]:
        srv = self.server
        bridge = await BridgeConn.open(srv)
        conns = [await RawHttp(srv.port, srv.headers).connect() for _ in range(in_flight)]
        try:
            async def run_bridge(n: int) -> int:
                counter = itertools.count()
                deadline = Deadline(self.sizes.budget)

                async def worker() -> None:
                    while next(counter) < n and not deadline.passed:
                        reply = await asyncio.wait_for(bridge.request("GET", path), deadline.left)
                        assert reply.status == 200, reply.status

                await asyncio.gather(*(worker() for _ in range(in_flight)))
                return min(n, next(counter) - in_flight)

            async def run_direct(n: int) -> int:
                counter = itertools.count()
                deadline = Deadline(self.sizes.budget)

                async def worker(conn: RawHttp) -> None:
                    while next(counter) < n and not deadline.passed:
                        status, _ = await asyncio.wait_for(conn.get(path), deadline.left)
                        assert status == 200, status

                await asyncio.gather(*(worker(c) for c in conns))
                return min(n, next(counter) - in_flight)

            out = {}
            for side, run in (("bridge", run_bridge), ("direct", run_direct)):
                await run(2 * in_flight)  # warm up
                cpu0 = server_cpu_seconds(srv.pid)
                with self.profiler.run(f"{tag}_{side}"):
                    t0 = time.perf_counter()
                    done = await run(n)
                    elapsed = time.perf_counter() - t0
                cpu = server_cpu_seconds(srv.pid) - cpu0
                out[side] = {"requests": done, "seconds": elapsed, "req_per_s": done / elapsed,
                             "server_cpu_us_per_request": 1e6 * cpu / max(1, done)}
            return out
        finally:
            bridge.close()
            for c in conns:
                c.close()

    # c) --------------------------------------------------------------------------
    async def download(self, name: str, size: int, tag: str, repeat: int = 1) -> dict[str, Any]:
        """Best of ``repeat`` downloads a side, the sides taking turns (unless profiling)."""
        srv = self.server
        path = f"/files/{name}"
        bridge = await BridgeConn.open(srv, concurrent=False)
        raw = await RawHttp(srv.port, srv.headers).connect()
        deadline = Deadline(2 * self.sizes.budget)
        runs: dict[str, list[dict[str, Any]]] = {"bridge": [], "direct": []}

        async def once(side: str) -> None:
            cpu0 = server_cpu_seconds(srv.pid)
            with PeakRss(srv.pid) as mem:
                t0 = time.perf_counter()
                if side == "bridge":
                    reply = await asyncio.wait_for(bridge.call("GET", path), deadline.left)
                    status, nbytes = reply.status, reply.nbytes
                    assert reply.max_chunk <= 65536, reply.max_chunk
                else:
                    status, nbytes = await asyncio.wait_for(raw.get(path), deadline.left)
                elapsed = time.perf_counter() - t0
            assert status == 200 and nbytes == size, (status, nbytes)
            runs[side].append({"seconds": elapsed, "rss_growth_mb": mem.growth_mb,
                               "rss_mode": mem.mode,
                               "server_cpu_s": server_cpu_seconds(srv.pid) - cpu0})

        try:
            if self.profiler.dir is not None:
                for side in runs:
                    with self.profiler.run(f"{tag}_{side}"):
                        for _ in range(repeat):
                            await once(side)
            else:
                for i in range(repeat):
                    for side in ("bridge", "direct") if i % 2 == 0 else ("direct", "bridge"):
                        if not deadline.passed:
                            await once(side)
        finally:
            bridge.close()
            raw.close()
        out: dict[str, Any] = {}
        for side, done in runs.items():
            assert done, "no download finished in time"
            best = min(r["seconds"] for r in done)
            out[side] = {"seconds": best, "mb_per_s": size / MB / best, "downloads": len(done),
                         "rss_growth_mb": max(r["rss_growth_mb"] for r in done),
                         "rss_mode": done[0]["rss_mode"],
                         "server_cpu_s_per_download": sum(r["server_cpu_s"] for r in done)
                         / len(done)}
        return out

    # d), e) ----------------------------------------------------------------------
    async def kernel_socket(self, via_bridge: bool) -> WsKernel:
        srv = self.server
        session = uuid.uuid4().hex
        rel = f"api/kernels/{self.kernel_id}/channels?session_id={session}"
        if via_bridge:
            auth = f"http://127.0.0.1:{srv.port}/?token={quote(srv.token)}"
            url = (f"ws://127.0.0.1:{srv.port}/http_over_websocket/proxied_ws/{rel}&"
                   + urlencode({"jupyter_http_over_ws_auth_url": auth}))
            ws = await _ws_connect(url, [KERNEL_SUBPROTOCOL])
        else:
            url = f"ws://127.0.0.1:{srv.port}/{rel}"
            ws = await _ws_connect(url, [KERNEL_SUBPROTOCOL], headers=srv.headers)
        return WsKernel(ws)

    async def execute_rtt(self, rounds: int = 4) -> dict[str, Any]:
        """Blocks of round trips, the three sides taking turns (one socket open at a time)."""
        n = self.sizes.d_round_trips
        per_block = max(1, n // rounds)
        times: dict[str, list[float]] = {"bridge": [], "direct": [], "zmq": []}
        deadline = Deadline(3 * self.sizes.budget)
        for _ in range(rounds):
            for side in times:
                if side == "zmq":
                    client: Any = ZmqKernel(self.connection_file())
                else:
                    client = await self.kernel_socket(side == "bridge")
                try:
                    for _ in range(3):
                        await client.execute("pass", 30)
                    with self.profiler.run(f"d_{side}"):
                        times[side] += await self._timed_loop(
                            per_block, deadline, partial(client.execute, "pass", 30)
                        )
                finally:
                    client.close()
        return {side: summary_ms(t) for side, t in times.items()}

    async def output_rate(self, rounds: int = 3) -> dict[str, Any]:
        """Best of ``rounds`` a side, the sides taking turns."""
        chunk = 65536
        count = self.sizes.e_bytes // chunk
        code = (
            "import sys\n"
            f"_s = 'x' * {chunk - 1} + '\\n'\n"
            f"for _ in range({count}):\n"
            "    sys.stdout.write(_s); sys.stdout.flush()\n"
        )
        best: dict[str, float] = {}
        deadline = Deadline(2 * self.sizes.budget)
        for i in range(rounds):
            for side in ("bridge", "direct") if i % 2 == 0 else ("direct", "bridge"):
                if deadline.passed and side in best:
                    continue
                client = await self.kernel_socket(side == "bridge")
                try:
                    await client.execute("print('warm')", 30)
                    with self.profiler.run(f"e_{side}_{i}"):
                        t0 = time.perf_counter()
                        seen = await client.execute(code, deadline.left + 10)
                        elapsed = time.perf_counter() - t0
                    assert seen == count * chunk, (seen, count * chunk)
                    best[side] = min(best.get(side, elapsed), elapsed)
                finally:
                    client.close()
        return {side: {"seconds": t, "mb_per_s": count * chunk / MB / t, "rounds": rounds}
                for side, t in best.items()}

    def connection_file(self) -> Path:
        path = self.server.runtime / f"kernel-{self.kernel_id}.json"
        deadline = time.monotonic() + 30
        while not path.exists():
            if time.monotonic() > deadline:
                raise RuntimeError(f"no connection file {path}")
            time.sleep(0.05)
        return path

    # -- orchestration ----------------------------------------------------------------
    async def start_kernel(self) -> None:
        srv = self.server
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=60)
        conn.request("POST", "/api/kernels", body=json.dumps({"name": "python3"}),
                     headers={**srv.headers, "Content-Type": "application/json"})
        response = conn.getresponse()
        assert response.status == 201, response.status
        self.kernel_id = json.loads(response.read())["id"]
        conn.close()
        ws = await self.kernel_socket(False)
        await ws.execute("pass", 60)  # the kernel is ready
        ws.close()

    async def run_all(self, sweep: bool, only: str, repeat: int) -> dict[str, Any]:
        """``repeat`` rounds of the measures on one server and kernel; medians of each figure."""
        (self.server.root / "x.bin").write_bytes(os.urandom(self.sizes.c_bytes))
        await self.start_kernel()
        runs = []
        for i in range(repeat):
            if repeat > 1:
                print(f"-- round {i + 1} of {repeat}", flush=True)
            self.results = {}
            runs.append(await self.run(sweep, only))
        merged = median_of(runs)
        if repeat > 1:
            merged["rounds"] = runs
        return merged

    async def run(self, sweep: bool, only: str) -> dict[str, Any]:
        s = self.sizes
        r = self.results
        if "a" in only:
            print("a) latency ...", flush=True)
            r["a"] = await self.latency("/api/status", s.a_requests, "a")
        if "b" in only:
            print("b) throughput ...", flush=True)
            r["b"] = await self.throughput("/api/status", s.b_requests, s.in_flight, "b")
        if "c" in only:
            print("c) download ...", flush=True)
            r["c"] = await self.download("x.bin", s.c_bytes, "c", repeat=4)
        if "d" in only:
            print("d) execute round trips ...", flush=True)
            r["d"] = await self.execute_rtt()
        if "e" in only:
            print("e) kernel output ...", flush=True)
            r["e"] = await self.output_rate()
        if sweep:
            r["sweep"] = await self.sweep()
        return r

    async def sweep(self) -> dict[str, Any]:
        out: dict[str, Any] = {"size": {}, "in_flight": {}}
        sizes = [(1_000, 100), (64_000, 100), (1 * MB, 20), (10 * MB, 5)]
        for size, n in sizes:
            name = f"s{size}.bin"
            (self.server.root / name).write_bytes(os.urandom(size))
            print(f"sweep: {size} byte bodies ...", flush=True)
            lat = await self.latency(f"/files/{name}", n, f"sweep_a_{size}")
            out["size"][str(size)] = {
                "bridge_median_ms": lat["bridge"]["median_ms"],
                "direct_median_ms": lat["direct"]["median_ms"],
                "bridge_mb_per_s": size / MB / (lat["bridge"]["median_ms"] / 1000),
                "direct_mb_per_s": size / MB / (lat["direct"]["median_ms"] / 1000),
            }
        for k in (1, 8, 64):
            print(f"sweep: {k} in flight ...", flush=True)
            t = await self.throughput("/api/status", max(200, 25 * k), k, f"sweep_b_{k}")
            out["in_flight"][str(k)] = {"bridge_req_per_s": t["bridge"]["req_per_s"],
                                        "direct_req_per_s": t["direct"]["req_per_s"]}
        return out


def median_of(runs: list[Any]) -> Any:
    """The runs' figures merged: the median of each number, the first of anything else."""
    first = runs[0]
    if isinstance(first, dict):
        return {k: median_of([r[k] for r in runs if k in r]) for k in first}
    if isinstance(first, (int, float)) and not isinstance(first, bool):
        return statistics.median(runs)
    return first


# -- report --------------------------------------------------------------------------
def table(r: dict[str, Any]) -> str:
    rows: list[tuple[str, str, str, str, str]] = []

    def add(label: str, bridge: float, direct: float, fmt: str, target: str, ok: bool,
            show_ratio: bool = True) -> None:
        ratio = f"{bridge / direct:.2f}x" if direct and show_ratio else "-"
        rows.append((label, format(bridge, fmt), format(direct, fmt), ratio,
                     f"{target} {'met' if ok else 'MISSED'}"))

    if "a" in r:
        a = r["a"]
        add("a) GET api/status median ms", a["bridge"]["median_ms"], a["direct"]["median_ms"],
            ".3f", "<=1.0x", a["bridge"]["median_ms"] <= a["direct"]["median_ms"])
        add("a) GET api/status p95 ms", a["bridge"]["p95_ms"], a["direct"]["p95_ms"], ".3f", "",
            True)
    if "b" in r:
        b = r["b"]
        add(f"b) req/s, {int(b['bridge']['requests'])} GETs 64 in flight", b["bridge"]["req_per_s"],
            b["direct"]["req_per_s"], ".0f", ">=1.0x",
            b["bridge"]["req_per_s"] >= b["direct"]["req_per_s"])
        add("b) server CPU us per request", b["bridge"]["server_cpu_us_per_request"],
            b["direct"]["server_cpu_us_per_request"], ".0f", "", True)
    if "c" in r:
        c = r["c"]
        add("c) download MB/s", c["bridge"]["mb_per_s"], c["direct"]["mb_per_s"], ".1f", ">=0.3x",
            c["bridge"]["mb_per_s"] >= 0.3 * c["direct"]["mb_per_s"])
        add("c) server CPU s per download", c["bridge"]["server_cpu_s_per_download"],
            c["direct"]["server_cpu_s_per_download"], ".3f", "", True)
        add("c) server peak RSS growth MB", c["bridge"]["rss_growth_mb"],
            c["direct"]["rss_growth_mb"], ".1f", "<=16 MB", c["bridge"]["rss_growth_mb"] <= 16,
            show_ratio=False)
    if "d" in r:
        d = r["d"]
        add("d) execute round trip median ms (vs ws)", d["bridge"]["median_ms"],
            d["direct"]["median_ms"], ".3f", "", True)
        add("d) execute round trip median ms (vs ZMQ)", d["bridge"]["median_ms"],
            d["zmq"]["median_ms"], ".3f", "<=1.3x",
            d["bridge"]["median_ms"] <= 1.3 * d["zmq"]["median_ms"])
        add("d) execute round trip p95 ms (vs ZMQ)", d["bridge"]["p95_ms"], d["zmq"]["p95_ms"],
            ".3f", "", True)
    if "e" in r:
        e = r["e"]
        add("e) kernel output MB/s", e["bridge"]["mb_per_s"], e["direct"]["mb_per_s"], ".1f",
            ">=0.9x", e["bridge"]["mb_per_s"] >= 0.9 * e["direct"]["mb_per_s"])
    head = ("measure", "bridge", "direct", "ratio", "target")
    widths = [max(len(x[i]) for x in [head, *rows]) for i in range(5)]
    lines = ["| " + " | ".join(h.ljust(w) for h, w in zip(head, widths)) + " |",
             "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += ["| " + " | ".join(v.ljust(w) for v, w in zip(row, widths)) + " |" for row in rows]
    if "sweep" in r:
        lines += ["", "| body size | bridge ms | direct ms | bridge MB/s | direct MB/s | ratio |",
                  "|---|---|---|---|---|---|"]
        for size, v in r["sweep"]["size"].items():
            lines.append(f"| {int(size):,} B | {v['bridge_median_ms']:.3f} | "
                         f"{v['direct_median_ms']:.3f} | {v['bridge_mb_per_s']:.1f} | "
                         f"{v['direct_mb_per_s']:.1f} | "
                         f"{v['bridge_median_ms'] / v['direct_median_ms']:.2f}x |")
        lines += ["", "| in flight | bridge req/s | direct req/s | ratio |", "|---|---|---|---|"]
        for k, v in r["sweep"]["in_flight"].items():
            lines.append(f"| {k} | {v['bridge_req_per_s']:.0f} | {v['direct_req_per_s']:.0f} | "
                         f"{v['bridge_req_per_s'] / v['direct_req_per_s']:.2f}x |")
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    import jupyter_server
    import tornado

    return {"cpus": os.cpu_count(), "python": platform.python_version(),
            "jupyter_server": jupyter_server.__version__, "tornado": tornado.version,
            "platform": platform.platform()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, under a minute")
    parser.add_argument("--sweep", action="store_true", help="also sweep body sizes and in-flight")
    parser.add_argument("--json", metavar="PATH", help="write the figures as JSON")
    parser.add_argument("--profile", metavar="DIR", help="py-spy the server for each measure")
    parser.add_argument("--only", default="abcde", help="measures to run, e.g. 'ac' (default all)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="rounds of all measures; the table shows each figure's median")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else Sizes()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="colab-bridge-bench-") as tmp:
        server = Server(Path(tmp))
        server.start()
        try:
            bench = Bench(server, sizes, Profiler(args.profile, server.pid))
            results = asyncio.run(bench.run_all(args.sweep, args.only, args.repeat))
        finally:
            server.stop()
    results["machine"] = machine()
    results["mode"] = "quick" if args.quick else "full"
    results["repeat"] = args.repeat
    results["seconds"] = time.monotonic() - started
    print()
    print(table(results))
    print(f"\n{results['machine']}; {results['mode']} run, {args.repeat} round(s) "
          f"(medians), in {results['seconds']:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
