"""How the doctor reads a server process (doctor/server_info.py), on every system.

psutil reads a process's command line on Linux, macOS and Windows (no
``/proc``); these run wherever the suite runs.
"""

from __future__ import annotations

import os
import subprocess
import sys

from jupyter_colab_bridge.doctor.server_info import (
    command_line_config,
    process_command_line,
    server_python,
)

OPTION = "--ColabBridge.allowed_origins=http://localhost:5173"


def test_a_process_command_line_is_read() -> None:
    # says it runs (its command line is then its own, not the parent's mid-fork), then
    # waits for its stdin to close: no sleep
    code = "import sys; print('ready', flush=True); sys.stdin.read()"
    command = [sys.executable, "-c", code, OPTION]
    with subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE) as proc:
        try:
            assert proc.stdout is not None
            assert proc.stdout.readline() == b"ready\n"
            argv = process_command_line(proc.pid)
            python = server_python(proc.pid)
        finally:
            assert proc.stdin is not None
            proc.stdin.close()
            proc.wait(timeout=60)
    assert argv is not None
    assert argv[-3:] == ["-c", code, OPTION]
    assert command_line_config(argv)["ColabBridge"]["allowed_origins"] == ["http://localhost:5173"]
    assert python is not None and os.path.isabs(python)
    assert os.path.basename(python).lower().startswith("python")


def test_this_process_is_read() -> None:
    argv = process_command_line(os.getpid())
    assert argv is not None and len(argv) >= 1


def test_a_process_that_is_gone_or_unnamed() -> None:
    with subprocess.Popen([sys.executable, "-c", "pass"]) as proc:
        proc.wait(timeout=60)
    assert process_command_line(proc.pid) is None  # reaped: no such process
    assert server_python(proc.pid) is None
    assert process_command_line(None) is None
    assert process_command_line(0) is None
