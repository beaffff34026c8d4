"""Large text frames handed over as their raw bytes, never decoded to a ``str`` on the loop.

tornado decodes every text frame to a ``str`` on the event loop before
``on_message`` (a pass over the whole frame, ~35 ms for 64 MiB) and keeps the
raw bytes too until the handler is done with it: two copies of the frame. A
request frame of the tunnel is JSON whose bulk is ASCII base64, so for a
frame longer than :data:`~..protocol.frames.LARGE_FRAME_CHARS` the bridge
takes the bytes instead (``on_large_text``) and checks the UTF-8 itself, off
the loop (:func:`~..protocol.frames.parse_text_frame_bytes`): the frame text
is never made and the body is decoded straight from tornado's bytes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, Protocol

from tornado.websocket import WebSocketProtocol13

from ..protocol.frames import LARGE_FRAME_CHARS

#: The WebSocket opcode of a text frame (RFC 6455 section 5.2).
TEXT_OPCODE = 0x1

#: A large frame's payload is read in pieces of this many bytes, the event loop
#: free between them (tornado reads it whole, in one go when it has arrived).
READ_PIECE_BYTES = 1024 * 1024


class LargeTextReceiver(Protocol):
    """A handler that takes large text frames as raw UTF-8 bytes."""

    def on_large_text(self, data: bytes) -> Awaitable[None] | None:
        """One text frame longer than ``LARGE_FRAME_CHARS``, not yet checked as UTF-8."""


class LargeTextProtocol(WebSocketProtocol13):
    """tornado's protocol, but a large uncompressed text frame goes to ``on_large_text``.

    A large payload is also read piece by piece, letting other clients' work
    run between pieces: tornado's own read takes a whole frame that has
    arrived in one step of the loop.
    """

    async def _read_bytes(self, n: int) -> bytes:
        if n <= LARGE_FRAME_CHARS:
            return await super()._read_bytes(n)
        pieces = []
        left = n
        while left:
            piece = await self.stream.read_bytes(min(left, READ_PIECE_BYTES))
            pieces.append(piece)
            left -= len(piece)
            await asyncio.sleep(0)  # a read already buffered does not yield by itself
        self._wire_bytes_in += n
        return b"".join(pieces)

    def _handle_message(self, opcode: int, data: bytes) -> Any:
        if (
            opcode == TEXT_OPCODE
            and not self.client_terminated
            and not self._frame_compressed
            and len(data) > LARGE_FRAME_CHARS
        ):
            self._message_bytes_in += len(data)
            receiver: LargeTextReceiver = self.handler  # type: ignore[assignment]
            return self._run_callback(receiver.on_large_text, data)
        return super()._handle_message(opcode, data)


def large_text_protocol(protocol: Any, handler: LargeTextReceiver) -> Any:
    """``protocol`` (tornado's choice for the handshake) as a :class:`LargeTextProtocol`."""
    if type(protocol) is not WebSocketProtocol13:
        return protocol  # another version or another tornado: keep its own
    return LargeTextProtocol(handler, False, protocol.params)  # type: ignore[arg-type]
