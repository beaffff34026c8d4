"""What a WebSocket's peer has not taken yet: its unflushed writes, counted.

tornado's ``WebSocketHandler.write_message`` returns a Future that completes
once the frame has been written to the socket; until then the frame waits in
the server's memory. A peer that stops reading leaves those Futures pending,
so the bytes of the pending ones are what the server holds for it. A text
frame counts its characters (a kernel message is ASCII JSON), a binary frame
its bytes.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any


class WriteBacklog:
    """Bytes given to one socket's ``write_message`` whose writes have not completed."""

    __slots__ = ("bytes",)

    def __init__(self) -> None:
        self.bytes = 0

    def track(self, written: Any, message: str | bytes | Mapping[str, Any]) -> Any:
        """Count ``message`` until ``written`` (``write_message``'s Future) completes."""
        if isinstance(message, (str, bytes)):  # a dict is JSON-encoded by tornado: small
            size = len(message)
            self.bytes += size
            written.add_done_callback(functools.partial(self.written, size))
        return written

    def written(self, size: int, _future: Any = None) -> None:
        """``size`` bytes have left (or the socket has closed)."""
        self.bytes -= size
