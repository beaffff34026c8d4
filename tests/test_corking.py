"""BurstCork: the first frame of a loop iteration goes out at once, a burst is corked."""

from __future__ import annotations

import asyncio
import socket

import pytest

from jupyter_colab_bridge.server.corking import BurstCork

pytestmark = pytest.mark.skipif(not hasattr(socket, "TCP_CORK"), reason="Linux only")


class FakeSocket:
    def __init__(self, fail: bool = False) -> None:
        self.calls: list[tuple[int, int, int]] = []
        self.fail = fail

    def setsockopt(self, level: int, option: int, value: int) -> None:
        if self.fail:
            raise OSError("closed")
        self.calls.append((level, option, value))


async def test_lone_frame_is_not_corked() -> None:
    sock = FakeSocket()
    cork = BurstCork(sock)
    cork.before_write()
    await asyncio.sleep(0)
    assert sock.calls == []


async def test_burst_is_corked_then_uncorked_next_iteration() -> None:
    sock = FakeSocket()
    cork = BurstCork(sock)
    for _ in range(5):
        cork.before_write()
    assert sock.calls == [(socket.IPPROTO_TCP, socket.TCP_CORK, 1)]
    await asyncio.sleep(0)
    assert sock.calls[-1] == (socket.IPPROTO_TCP, socket.TCP_CORK, 0)
    cork.before_write()  # a new iteration: its first frame is sent at once again
    assert len(sock.calls) == 2


async def test_failing_socket_disables_corking() -> None:
    sock = FakeSocket(fail=True)
    cork = BurstCork(sock)
    cork.before_write()
    cork.before_write()
    await asyncio.sleep(0)
    cork.before_write()
    assert sock.calls == []


def test_no_socket_is_a_no_op() -> None:
    """Without a socket nothing is scheduled: no event loop is needed, nothing is corked."""
    cork = BurstCork(None)
    for _ in range(3):  # outside a running loop, scheduling the uncork would raise
        cork.before_write()
    assert not cork._in_burst and not cork._corked
