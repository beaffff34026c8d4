"""Constants and small helpers shared by every measure."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Awaitable
from typing import Any, Callable

COLAB_ORIGIN = "https://colab.research.google.com"
KERNEL_SUBPROTOCOL = "v1.kernel.websocket.jupyter.org"
MB = 1_000_000
MIB = 1 << 20


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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


async def timed_loop(n: int, deadline: Deadline, once: Callable[[], Awaitable[Any]]) -> list[float]:
    """Seconds of each of up to ``n`` sequential calls of ``once``, until the deadline."""
    times = []
    for _ in range(n):
        if deadline.passed:
            break
        t0 = time.perf_counter()
        await asyncio.wait_for(once(), deadline.left)
        times.append(time.perf_counter() - t0)
    return times
