"""Large text frames handed over as their raw bytes, never decoded to a ``str`` on the loop.

tornado decodes every text frame to a ``str`` on the event loop before
``on_message`` (a pass over the whole frame, ~35 ms for 64 MiB) and keeps the
raw bytes too until the handler is done with it: two copies of the frame. A
request frame of the tunnel is JSON whose bulk is ASCII base64, so for a
frame longer than :data:`~..protocol.frames.LARGE_FRAME_CHARS` the bridge
takes the bytes instead (a :class:`LargeText` given to ``on_message``) and
checks the UTF-8 itself, off the loop
(:func:`~..protocol.frames.parse_text_frame_bytes`): the frame text is never
made and the body is decoded straight from tornado's bytes. The private steps
of tornado's frame loop it hooks are in :mod:`.._compat`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from tornado.websocket import WebSocketProtocol13

from .._compat import FRAME_HOOKS, FrameHooks
from ..protocol.frames import LARGE_FRAME_CHARS

#: The WebSocket opcodes of a text and a binary frame (RFC 6455 section 5.2).
TEXT_OPCODE = 0x1
BINARY_OPCODE = 0x2

#: A large frame's payload is read in pieces of this many bytes, the event loop
#: free between them (tornado reads it whole, in one go when it has arrived).
READ_PIECE_BYTES = 1024 * 1024


class LargeText:
    """A large text frame's raw bytes, on their way to the handler's ``on_message``."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __len__(self) -> int:
        return len(self.data)


class LargeTextProtocol(FrameHooks):
    """tornado's protocol, but a large text frame reaches ``on_message`` as :class:`LargeText`.

    tornado hands it on as it hands on a binary frame (its own error handling
    and counters), without decoding it. A large payload is also read piece by
    piece, letting other clients' work run between pieces: tornado's own read
    takes a whole frame that has arrived in one step of the loop. Used only
    without compression (no frame can be compressed then).
    """

    async def read_frame_bytes(self, n: int) -> bytes:
        """Read ``n`` bytes, a large payload in pieces with the loop free between them."""
        if n <= LARGE_FRAME_CHARS:
            return await super().read_frame_bytes(n)
        pieces = []
        left = n
        while left:
            piece = await super().read_frame_bytes(min(left, READ_PIECE_BYTES))
            pieces.append(piece)
            left -= len(piece)
            await asyncio.sleep(0)  # a read already buffered does not yield by itself
        return b"".join(pieces)

    def handle_frame(self, opcode: int, data: Any) -> Awaitable[None] | None:
        """A large text frame goes on undecoded, wrapped; any other as tornado does."""
        if opcode == TEXT_OPCODE and len(data) > LARGE_FRAME_CHARS:
            return super().handle_frame(BINARY_OPCODE, LargeText(data))
        return super().handle_frame(opcode, data)


def large_text_protocol(protocol: Any, handler: Any) -> Any:
    """``protocol`` (tornado's choice for the handshake) as a :class:`LargeTextProtocol`.

    tornado's own protocol stays where it is not tornado's RFC 6455 protocol,
    where the handler may compress frames, or where tornado's frame loop has
    changed (``_compat.FRAME_HOOKS``).
    """
    if (
        not FRAME_HOOKS
        or type(protocol) is not WebSocketProtocol13
        or handler.get_compression_options() is not None
    ):
        return protocol
    return LargeTextProtocol(handler, False, protocol.params)
