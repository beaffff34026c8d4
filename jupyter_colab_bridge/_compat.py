"""The one module that touches private names of other packages.

Each name below starts with one underscore in a package the bridge depends on
and is used here only, resolved once at import. Each buys something no public
API offers, has a public fallback the bridge uses when the name is gone, and a
test in ``tests/test_compat.py`` that fails when an upgrade renames or removes
it. At start the extension logs a warning for each name it could not find
(:func:`missing`), so a fallback never goes unnoticed on a user's server.

``jupyter_server``: ``CallContext._name_value_map``
    The ``ContextVar`` that holds jupyter_server's per-request map (the
    running handler among it). Buys: a closed bridge handler is taken out of
    the map at once (:func:`call_context_map`), so asyncio's cancelled timers,
    which keep a copy of the context until their deadline, do not keep the
    handler alive. ``CallContext`` has no public accessor to the map itself.
    Fallback: none needed for correctness; the closed handler is freed when
    those timers' deadlines pass (the ping interval, 30 s by default).
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from jupyter_server import CallContext


def _call_context_var() -> ContextVar[dict[str, Any]] | None:
    var = getattr(CallContext, "_name_value_map", None)
    return var if isinstance(var, ContextVar) else None


_CALL_CONTEXT_VAR = _call_context_var()


def call_context_map() -> dict[str, Any] | None:
    """jupyter_server's ``CallContext`` map of the running context; None if unset or unknown."""
    if _CALL_CONTEXT_VAR is None:
        return None
    names = _CALL_CONTEXT_VAR.get(None)
    return names if isinstance(names, dict) else None


def missing() -> list[str]:
    """One line per private name this installation lacks, with the fallback in use."""
    found = []
    if _CALL_CONTEXT_VAR is None:
        found.append(
            "jupyter_server's CallContext._name_value_map is gone: a closed bridge "
            "socket's handler is freed only when its cancelled timers expire"
        )
    return found
