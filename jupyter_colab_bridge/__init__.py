"""Google Colab local runtimes on today's Jupyter: HTTP over WebSocket for jupyter_server 2."""

from __future__ import annotations

from typing import Any

from ._version import __version__


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from .app import ColabBridge

    return [{"module": "jupyter_colab_bridge", "app": ColabBridge}]


__all__ = ["__version__", "_jupyter_server_extension_points"]
