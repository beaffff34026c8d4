"""``colab/lsp``'s wire format and the choice of language server (pure code).

Each text frame is one JSON-RPC 2.0 message of the Language Server Protocol,
as it is: no ``Content-Length`` header, which only the stdio transport to the
language server process adds (docs/protocol.md). The server is one that
jupyter-lsp's discovery found, as JupyterLab finds it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

#: The language servers for Python that ``colab/lsp`` prefers, in order (jupyter-lsp's
#: keys): Colab's runtime runs pyright. Any other Python one jupyter-lsp finds comes after.
PREFERRED_SERVERS = ("pyright", "basedpyright", "pylsp", "jedi-language-server", "pyrefly")

#: What to install when none is found (the close reason and the doctor say it).
INSTALL_ONE = "pip install 'jupyter_colab_bridge[lsp]' (python-lsp-server), or pyright"


class LspFrameError(ValueError):
    """A frame from the page that is not one JSON-RPC message; the message says why."""


def check_lsp_frame(text: str) -> None:
    """Raise :class:`LspFrameError` unless ``text`` is one JSON-RPC 2.0 message (an object)."""
    try:
        message = json.loads(text)
    except ValueError:
        raise LspFrameError("a frame must be one JSON-RPC message (JSON)") from None
    if not isinstance(message, dict):
        raise LspFrameError("a frame must be one JSON-RPC message (a JSON object)")
    if message.get("jsonrpc") != "2.0":
        raise LspFrameError('a frame must be a JSON-RPC message with "jsonrpc": "2.0"')


def choose_python_server(specs: Mapping[str, Mapping[str, Any]]) -> str | None:
    """Of jupyter-lsp's installed ``specs``, the Python language server to run, or None."""
    python = [
        key
        for key, spec in specs.items()
        if "python" in (spec.get("languages") or []) and spec.get("argv")
    ]
    for key in PREFERRED_SERVERS:
        if key in python:
            return key
    return sorted(python)[0] if python else None
