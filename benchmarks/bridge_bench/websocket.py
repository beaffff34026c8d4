"""A minimal RFC 6455 WebSocket client on asyncio streams."""

from __future__ import annotations

import asyncio
import base64
import os
import random
import socket
import struct

from tornado.speedups import websocket_mask

from .common import COLAB_ORIGIN


class RawWebSocket:
    """A minimal RFC 6455 client on asyncio streams, like :class:`~.http_client.RawHttp`.

    The same I/O machinery as the direct baseline, so the comparison measures
    the server, not two different client libraries. No fragmentation (the
    server sends none); pings are answered; text frames come back as str.
    """

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, subprotocol: str | None
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.selected_subprotocol = subprotocol
        self.close_code: int | None = None
        self.close_reason: str | None = None

    @classmethod
    async def connect(
        cls, url: str, subprotocols: list[str] | None, headers: dict[str, str]
    ) -> RawWebSocket:
        rest = url.split("://", 1)[1]
        hostport, _, path = rest.partition("/")
        host, _, port = hostport.partition(":")
        reader, writer = await asyncio.open_connection(host, int(port), limit=1 << 24)
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            f"GET /{path} HTTP/1.1",
            f"Host: {hostport}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
        ]
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
        self.writer.write(wire_frame(message, binary))

    def write_wire(self, frame: bytes) -> None:
        """Send a frame already encoded and masked by :func:`wire_frame`."""
        self.writer.write(frame)

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
        self.writer.write(
            bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + websocket_mask(mask, payload)
        )

    def close(self) -> None:
        if not self.writer.is_closing():
            try:
                self._control(0x8, struct.pack("!H", 1000))
            except Exception:
                pass
            self.writer.close()


async def ws_connect(
    url: str, subprotocols: list[str] | None = None, headers: dict[str, str] | None = None
) -> RawWebSocket:
    """Open ``url`` as Colab's page would: ``Origin`` is Colab's, plus ``headers``."""
    all_headers = {"Origin": COLAB_ORIGIN, **(headers or {})}
    return await RawWebSocket.connect(url, subprotocols, all_headers)


def wire_frame(message: str | bytes, binary: bool = False) -> bytes:
    """One client frame as it goes on the wire: header, mask and masked payload.

    Encoding and masking a large frame takes the client tens of milliseconds;
    a benchmark that measures latency from the same process prepares its
    frames with this before the measured window.
    """
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
    return header + mask + websocket_mask(mask, data)
