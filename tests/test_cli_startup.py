"""``jupyter colab-bridge``'s start and end: lazy imports, and a reader that goes away.

No timing here (``benchmarks/cli_startup.py`` prints the figures): what is
checked is what a command imports, in a fresh interpreter, and that a closed
pipe ends the command without a traceback.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

HEAVY = ("jupyter_server", "tornado", "traitlets", "jupyter_client", "zmq")


def modules_after(*argv: str) -> set[str]:
    """The modules a fresh interpreter holds after ``main(argv)`` returned or exited."""
    code = (
        "import json, sys\n"
        "from jupyter_colab_bridge.cli import main\n"
        "try:\n"
        f"    main({list(argv)!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "sys.stderr.write(json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    return set(json.loads(done.stderr))


@pytest.mark.parametrize("argv", [["--help"], ["--version"], ["doctor", "--help"]])
def test_help_imports_neither_jupyter_server_nor_tornado(argv: list[str]) -> None:
    loaded = modules_after(*argv)
    assert "jupyter_colab_bridge.cli" in loaded
    heavy = sorted(m for m in loaded if m.split(".")[0] in HEAVY)
    assert heavy == []


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("command", ["doctor", "settings"])
def test_a_closed_pipe_ends_quietly(command: str) -> None:
    """``jupyter colab-bridge doctor | head -3`` after head is gone: no traceback."""
    argv = ["settings"]
    if command == "doctor":
        argv = ["doctor", "--no-kernel", f"http://127.0.0.1:{_closed_port()}/?token=t"]
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first line is written
    try:
        done = subprocess.run(
            [sys.executable, "-m", "jupyter_colab_bridge.cli", *argv],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        os.close(write_end)
    assert done.stderr == ""
    assert done.returncode == 1
