"""Probes for the tests: test-only routes, a counting listener, raw sockets, waits.

The routes (``adv-*``) are added to a test's server by the ``probe_routes`` fixture
(tests/conftest.py); the rest reads the server from outside, as an attacker
or a page would, or from psutil for the resource checks.
"""

from __future__ import annotations

import asyncio
import base64
import inspect
import json
import os
import socket
import sys
import threading
import time
from typing import Any, ClassVar

import psutil
from tornado import web
from tornado.websocket import WebSocketClientConnection

from tests.helpers.bridge_client import COLAB_ORIGIN


# -- test-only handlers added to the server ----------------------------------------
class HeaderEcho(web.RequestHandler):
    """Answers with the request headers it received; sets a cookie."""

    def check_xsrf_cookie(self) -> None:  # a probe, not a Jupyter API
        pass

    def _echo(self) -> None:
        self.set_cookie("probe", "should-not-reach-the-page")
        self.write(
            {
                "headers": list(self.request.headers.get_all()),
                "body": self.request.body.decode("latin-1"),
            }
        )

    get = post = put = _echo


class Redirector(web.RequestHandler):
    def get(self) -> None:
        self.redirect(self.get_query_argument("to"))


class Failing(web.RequestHandler):
    def get(self) -> None:
        raise RuntimeError("deliberate failure in a test handler")


class Slow(web.RequestHandler):
    """Never answers until released; records that its client went away."""

    release: asyncio.Event
    gone: ClassVar[list[str]] = []

    async def get(self) -> None:
        await Slow.release.wait()
        self.write("late")

    def on_connection_close(self) -> None:
        Slow.gone.append(self.request.path)


def echo_ws_class() -> Any:
    from tornado.websocket import WebSocketHandler

    class _Echo(WebSocketHandler):
        def open(self, *args: Any) -> None:
            self.write_message(json.dumps({"host": self.request.headers.get("Host")}))

        async def on_message(self, message: str | bytes) -> None:
            if isinstance(message, str) and message.startswith("flood "):
                # A well-behaved upstream: each write waits for its own flush.
                for _ in range(int(message.split()[1])):
                    await self.write_message(b"\0" * 2**20, binary=True)
                return
            await self.write_message(message, binary=isinstance(message, bytes))

    return _Echo


async def until(predicate: Any, timeout: float = 15.0, every: float = 0.02) -> bool:
    """Poll ``predicate`` until it holds; whether it did within ``timeout`` seconds.

    The one wait of the suite for a state the server reaches on its own (a socket
    closed, a task done): no timing is asserted, the timeout only avoids a hang.
    ``predicate`` may be a coroutine function (a state read over HTTP).
    """

    async def holds() -> bool:
        result = predicate()
        if inspect.isawaitable(result):
            result = await result
        return bool(result)

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await holds():
            return True
        await asyncio.sleep(every)
    return await holds()


async def settled(read: Any, samples: int = 10, every: float = 0.1, timeout: float = 60.0) -> int:
    """Poll ``read()`` until it gives the same value ``samples`` times in a row; that value.

    For a producer that stops on its own (a server that stops writing to a
    page that does not read); no timing is asserted.
    """
    history: list[int] = []

    def still() -> bool:
        history.append(read())
        return len(history) >= samples and len(set(history[-samples:])) == 1

    assert await until(still, timeout, every), f"never settled: {history[-samples:]}"
    return history[-1]


def until_sync(predicate: Any, timeout: float = 30.0, every: float = 0.1) -> bool:
    """:func:`until` for code outside the event loop (a server in a subprocess)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return bool(predicate())


class Hold:
    """Holds a worker thread (a slow disk, a slow GPU) until the test releases it.

    ``entered`` is set once the work has started; ``released_in_time`` says
    whether the release came before ``timeout``: a test that releases from
    the event loop learns that the loop ran while the work was held.
    """

    def __init__(self, timeout: float = 30.0) -> None:
        self.timeout = timeout
        self.entered = threading.Event()
        self.released = threading.Event()
        self.released_in_time: bool | None = None

    def block(self) -> None:
        self.entered.set()
        self.released_in_time = self.released.wait(self.timeout)


def fd_count() -> int:
    """This process's open file descriptors (handles on Windows), through psutil."""
    me = psutil.Process()
    return int(me.num_handles() if sys.platform == "win32" else me.num_fds())


def rss_bytes() -> int:
    """This process's resident memory, through psutil (every system the suite runs on)."""
    return int(psutil.Process().memory_info().rss)


async def raw_handshake_status(
    url: Any, port: int, endpoint: str, token: str | None, headers: list[tuple[str, str]]
) -> int:
    """Send a WebSocket handshake byte for byte (repeated headers stay separate lines).

    ``url`` is the ``url`` fixture, ``port`` the server's (``jp_http_port``).
    """
    target = url(endpoint, token=token).split(f"127.0.0.1:{port}", 1)[1]
    lines = [
        f"GET {target} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Version: 13",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    ]
    lines += [f"{k}: {v}" for k, v in headers]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        status_line = await asyncio.wait_for(reader.readline(), 30)
        return int(status_line.split()[1])
    finally:
        writer.close()


class Listener:
    """A TCP listener on another local port that counts who connects."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]

    def connections(self) -> int:
        n = 0
        while True:
            try:
                conn, _ = self.sock.accept()
            except BlockingIOError:
                return n
            conn.close()
            n += 1

    def close(self) -> None:
        self.sock.close()


def server_handler_for(bridge_app: Any, ws: WebSocketClientConnection) -> Any:
    """The server-side handler of the client socket ``ws`` (``bridge_app``: the fixture)."""
    port = ws.protocol.stream.socket.getsockname()[1]
    for handler in list(bridge_app.open_connections):
        conn = handler.ws_connection
        if (
            conn is not None
            and conn.stream.socket is not None
            and conn.stream.socket.getpeername()[1] == port
        ):
            return handler
    raise AssertionError("no server-side handler for this socket")


class RawSocket:
    """A WebSocket client on a bare socket that sends frames and never reads.

    Use it as ``with RawSocket(...) as raw:`` (closed when the block ends).
    """

    def __init__(self, port: int, path: str, origin: str = COLAB_ORIGIN) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n"
            f"Origin: {origin}\r\n\r\n"
        )
        self.sock.sendall(request.encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            assert chunk, "closed during the handshake"
            head += chunk
        assert head.startswith(b"HTTP/1.1 101"), head[:200]

    def send_text(self, payload: bytes) -> bool:
        """Send one masked text frame; False once the server has closed the socket."""
        mask = os.urandom(4)
        n = len(payload)
        if n < 126:
            header = bytes([0x81, 0x80 | n])
        elif n < 65536:
            header = bytes([0x81, 0x80 | 126]) + n.to_bytes(2, "big")
        else:
            header = bytes([0x81, 0x80 | 127]) + n.to_bytes(8, "big")
        key = (mask * (n // 4 + 1))[:n]
        masked = (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")
        try:
            self.sock.sendall(header + mask + masked)
        except OSError:  # reset or broken pipe: the server closed it
            return False
        return True

    def received(self) -> bytes:
        """The next bytes the server sent (b"" once it has closed the connection)."""
        try:
            return self.sock.recv(1 << 16)
        except ConnectionResetError:
            return b""

    def wait_closed(self) -> bool:
        """Read until the server drops the connection; whether it did (30 s at most)."""
        try:
            while self.sock.recv(1 << 16):
                pass
        except ConnectionResetError:
            pass
        except socket.timeout:  # TimeoutError from Python 3.10
            return False
        return True

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> RawSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def rss(pid: int) -> int:
    return int(psutil.Process(pid).memory_info().rss)
