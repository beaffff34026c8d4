"""What every measure shares: the sizes of a run, the server, the profiler, the kernel."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .common import MB, MIB
from .profiling import Profiler
from .server import Server


@dataclass
class Sizes:
    a_requests: int = 300
    b_requests: int = 2000
    in_flight: int = 64
    c_bytes: int = 50 * MB
    d_round_trips: int = 200
    e_bytes: int = 20 * MIB
    budget: float = 60.0  # seconds per side of a measure


QUICK = Sizes(
    a_requests=100, b_requests=600, c_bytes=10 * MB, d_round_trips=60, e_bytes=4 * MIB, budget=10.0
)


class BenchContext:
    """The server under measure, the sizes, the profiler and the kernel (once started)."""

    def __init__(self, server: Server, sizes: Sizes, profiler: Profiler) -> None:
        self.server = server
        self.sizes = sizes
        self.profiler = profiler
        self.kernel_id = ""

    def connection_file(self) -> Path:
        return self.server.connection_file(self.kernel_id)
