"""Coalescing bursts of small reply frames into fewer TCP segments.

With many requests in flight on one socket, dozens of replies are written in
one event-loop iteration, each by its own ``send()``; on loopback each such
call also delivers the segment and wakes the reader, which dominated the
server's time in benchmark b) (``benchmarks/README.md``). The first frame of
an iteration goes out at once (a lone request keeps its latency); if more
follow in the same iteration the socket is corked (``TCP_CORK``) and uncorked
at the start of the next iteration, so the burst leaves as a few full
segments. Where ``TCP_CORK`` does not exist this does nothing.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

_TCP_CORK = getattr(socket, "TCP_CORK", None)


class BurstCork:
    """Call :meth:`before_write` before each frame written to ``sock``."""

    def __init__(self, sock: Any) -> None:
        self._sock = sock if _TCP_CORK is not None and sock is not None else None
        self._in_burst = False
        self._corked = False

    def before_write(self) -> None:
        """Note one write; cork the socket if it is not the first this iteration."""
        if self._sock is None:
            return
        if not self._in_burst:
            self._in_burst = True
            asyncio.get_running_loop().call_soon(self._end_burst)
        elif not self._corked:
            self._set(1)

    def _end_burst(self) -> None:
        self._in_burst = False
        if self._corked:
            self._set(0)

    def _set(self, value: int) -> None:
        if self._sock is None:
            return
        try:
            self._sock.setsockopt(socket.IPPROTO_TCP, _TCP_CORK, value)
            self._corked = bool(value)
        except OSError:  # the socket has closed, or does not support it
            self._sock = None
            self._corked = False
