"""Sampling the server process: CPU time and peak resident memory (Linux /proc)."""

from __future__ import annotations

import os
import threading
from typing import Any

from .common import MB


def server_cpu_seconds(pid: int) -> float:
    """CPU time (user + system) the process has used so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _proc_status_kb(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


class PeakRss:
    """Peak resident memory of a process during a measure, above its level before.

    Uses the kernel's high-water mark (VmHWM, reset through ``clear_refs``)
    where allowed, else samples RSS every 2 ms (psutil or /proc).
    """

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.mode = "hwm"
        self.before = 0
        self.peak = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _rss(self) -> int:
        try:
            import psutil  # type: ignore[import-untyped]

            return int(psutil.Process(self.pid).memory_info().rss)
        except ImportError:
            return _proc_status_kb(self.pid, "VmRSS") * 1024

    def __enter__(self) -> PeakRss:
        self.before = self._rss()
        try:
            with open(f"/proc/{self.pid}/clear_refs", "w") as f:
                f.write("5")
            _proc_status_kb(self.pid, "VmHWM")
        except (OSError, KeyError):
            self.mode = "sampled"
            self.peak = self.before
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.002):
            self.peak = max(self.peak, self._rss())

    def __exit__(self, *exc: Any) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
        else:
            self.peak = _proc_status_kb(self.pid, "VmHWM") * 1024

    @property
    def growth_mb(self) -> float:
        return max(0, self.peak - self.before) / MB
