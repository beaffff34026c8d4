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

``traitlets``: ``HasTraits._trait_values``
    The dict of an object's trait values. Buys: a disconnected kernel
    connection forgets its WebSocket handler at once (:func:`forget_trait`):
    jupyter_server's ``ZMQChannelsWebsocketConnection`` keeps a ``give_up``
    timer (``kernel_info_timeout``, 60 s by default) that holds the
    connection, and its ``websocket_handler`` trait does not allow None, so
    no public assignment can drop it. Fallback: the closed handler is freed
    when that timer fires.

``tornado``: ``WebSocketProtocol13._read_bytes`` and ``._handle_message``
    The two steps of tornado's frame loop that read bytes off the stream and
    hand a whole message on. :class:`FrameHooks` routes them to two hooks of
    its own, ``read_frame_bytes`` and ``handle_frame``, and
    :mod:`.server.large_text` overrides those. Buys: a large text frame of
    the tunnel is read in pieces, the loop free between them, and handed over
    as its raw bytes, never decoded to a ``str`` on the loop (a 64 MiB frame
    costs ~35 ms of the loop and a second copy otherwise). tornado has no
    public hook before ``on_message``. Fallback: tornado's own reading and
    decoding (:data:`FRAME_HOOKS`, False when either name is gone or takes
    other arguments): correct, but large uploads block the loop longer.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable
from contextvars import ContextVar
from typing import Any

from jupyter_server import CallContext
from tornado.websocket import WebSocketProtocol13
from traitlets import HasTraits, Int


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


class _Probe(HasTraits):
    value = Int(1)


def _trait_values_found() -> bool:
    probe = _Probe()
    values = getattr(probe, "_trait_values", None)
    return isinstance(values, dict) and values.get("value") == 1


#: Whether traitlets still keeps an object's trait values in ``_trait_values``.
TRAIT_VALUES = _trait_values_found()


def forget_trait(owner: HasTraits, name: str) -> bool:
    """Remove ``owner``'s value of trait ``name`` (one that does not allow None).

    False when traitlets keeps the values elsewhere (:data:`TRAIT_VALUES`): nothing removed.
    """
    values = getattr(owner, "_trait_values", None) if TRAIT_VALUES else None
    if not isinstance(values, dict):
        return False
    values.pop(name, None)
    return True


def _has_method(cls: type, name: str, parameters: tuple[str, ...]) -> bool:
    method = getattr(cls, name, None)
    if not callable(method):
        return False
    try:
        return tuple(inspect.signature(method).parameters) == parameters
    except (TypeError, ValueError):  # pragma: no cover - a builtin without a signature
        return False


#: Whether tornado's frame loop still has the two steps :class:`FrameHooks` routes.
FRAME_HOOKS = _has_method(WebSocketProtocol13, "_read_bytes", ("self", "n")) and _has_method(
    WebSocketProtocol13, "_handle_message", ("self", "opcode", "data")
)


class FrameHooks(WebSocketProtocol13):
    """tornado's WebSocket protocol with two private steps of its frame loop as hooks.

    Use it only where :data:`FRAME_HOOKS` is True (else tornado never calls them).
    """

    def read_frame_bytes(self, n: int) -> Awaitable[bytes]:
        """Read ``n`` bytes of a frame off the stream (tornado's ``_read_bytes``)."""
        return WebSocketProtocol13._read_bytes(self, n)

    def handle_frame(self, opcode: int, data: Any) -> Awaitable[None] | None:
        """A whole message has arrived (tornado's ``_handle_message``)."""
        return WebSocketProtocol13._handle_message(self, opcode, data)

    def _read_bytes(self, n: int) -> Awaitable[bytes]:  # type: ignore[override]
        return self.read_frame_bytes(n)

    def _handle_message(self, opcode: int, data: bytes) -> Any:
        return self.handle_frame(opcode, data)


def missing() -> list[str]:
    """One line per private name this installation lacks, with the fallback in use."""
    found = []
    if _CALL_CONTEXT_VAR is None:
        found.append(
            "jupyter_server's CallContext._name_value_map is gone: a closed bridge "
            "socket's handler is freed only when its cancelled timers expire"
        )
    if not TRAIT_VALUES:
        found.append(
            "traitlets' HasTraits._trait_values is gone: a closed kernel socket's handler "
            "is freed only when jupyter_server's kernel_info_timeout fires"
        )
    if not FRAME_HOOKS:
        found.append(
            "tornado's WebSocketProtocol13._read_bytes or ._handle_message is gone or "
            "changed: large tunnel frames are read and decoded by tornado, on the event loop"
        )
    return found
