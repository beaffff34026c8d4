"""py-spy on the server process, one collapsed-stack file per measure (``--profile DIR``)."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


class Profiler:
    """py-spy on the server process, one collapsed-stack file per measure.

    Without a directory, :meth:`run` records nothing.
    """

    def __init__(self, directory: str | None, pid: int) -> None:
        self.dir = Path(directory) if directory else None
        self.pid = pid
        self.exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))

    def run(self, name: str) -> ProfileRun:
        return ProfileRun(self, name)


class ProfileRun:
    """A context manager: py-spy records the server while it is open."""

    def __init__(self, profiler: Profiler, name: str) -> None:
        self.profiler = profiler
        self.name = name
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> None:
        p = self.profiler
        if p.dir is None:
            return
        p.dir.mkdir(parents=True, exist_ok=True)
        out = p.dir / f"{self.name}.txt"
        self.proc = subprocess.Popen(
            [
                p.exe,
                "record",
                "--pid",
                str(p.pid),
                "--format",
                "raw",
                "--rate",
                "500",
                "--nonblocking",
                "--output",
                str(out),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(0.5)

    def __exit__(self, *exc: Any) -> None:
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
