"""A minimal HTTP/1.1 keep-alive client on asyncio streams: the direct baseline."""

from __future__ import annotations

import asyncio
import socket


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
