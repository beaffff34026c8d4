"""``colab/tty``'s wire format and its flow control (pure code).

The page sends JSON text frames: ``{"data": "<keystrokes>"}``, ``{"cols": N,
"rows": M}`` to resize, ``{"ack": true}`` to acknowledge output. The server
sends ``{"data": "<output>"}``; about every :data:`ACK_EVERY_CHARS` characters
a frame also carries ``"ack": true``, asking for an ack. Reading the shell's
output pauses while more than :data:`PAUSE_ABOVE` asks are unanswered and
resumes once fewer than :data:`RESUME_BELOW` are (xterm.js's flow-control
scheme, as Colab's own runtime serves it; docs/protocol.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

#: Characters of output between two frames that ask for an ack.
ACK_EVERY_CHARS = 100_000

#: Reading the shell's output pauses while more asks than this are unanswered...
PAUSE_ABOVE = 5

#: ...and resumes once fewer than this are.
RESUME_BELOW = 2

#: The largest ``cols`` or ``rows`` a resize may ask for (a terminal's size is 16-bit).
MAX_TTY_SIZE = 10_000

#: Characters of the shell's recent output a newly attached socket is sent first.
REPLAY_CHARS = ACK_EVERY_CHARS


class TtyFrameError(ValueError):
    """A frame from the page that is not ``colab/tty``'s format; the message says why."""


@dataclass(frozen=True)
class TtyInput:
    """What one frame from the page asks for (each part optional)."""

    data: str | None = None
    size: tuple[int, int] | None = None  # (rows, cols), terminado's order
    ack: bool = False


def _dimension(frame: dict[str, object], name: str) -> int:
    value = frame[name]
    if not isinstance(value, int) or isinstance(value, bool):
        raise TtyFrameError(f'"{name}" must be an integer, not {type(value).__name__}')
    if not 1 <= value <= MAX_TTY_SIZE:
        raise TtyFrameError(f'"{name}" must be between 1 and {MAX_TTY_SIZE}')
    return value


def parse_tty_frame(text: str) -> TtyInput:
    """The page's frame ``text``, checked; :class:`TtyFrameError` if it is not the format."""
    try:
        frame = json.loads(text)
    except ValueError:
        raise TtyFrameError("a frame must be a JSON object") from None
    if not isinstance(frame, dict):
        raise TtyFrameError("a frame must be a JSON object")
    data = frame.get("data")
    if data is not None and not isinstance(data, str):
        raise TtyFrameError(f'"data" must be a string, not {type(data).__name__}')
    size = None
    if "cols" in frame or "rows" in frame:
        if "cols" not in frame or "rows" not in frame:
            raise TtyFrameError('a resize needs both "cols" and "rows"')
        size = (_dimension(frame, "rows"), _dimension(frame, "cols"))
    ack = frame.get("ack")
    if ack is not None and ack is not True:
        raise TtyFrameError('"ack" must be true')
    if data is None and size is None and ack is None:
        raise TtyFrameError('a frame needs "data", "cols" and "rows", or "ack"')
    return TtyInput(data, size, ack is True)


class AckWindow:
    """Counts output sent and acks asked for; says when to pause and resume reading."""

    def __init__(
        self,
        every: int = ACK_EVERY_CHARS,
        pause_above: int = PAUSE_ABOVE,
        resume_below: int = RESUME_BELOW,
    ) -> None:
        self.every = every
        self.pause_above = pause_above
        self.resume_below = resume_below
        self.unasked = 0  # characters sent since the last ask
        self.sent = 0  # characters sent in all
        self.outstanding = 0  # asks not yet acked

    def output_frame(self, text: str) -> str:
        """The frame that carries ``text``; it asks for an ack once enough has gone out."""
        self.unasked += len(text)
        self.sent += len(text)
        if self.unasked < self.every:
            return json.dumps({"data": text})
        self.unasked = 0
        self.outstanding += 1
        return json.dumps({"data": text, "ack": True})

    @property
    def should_pause(self) -> bool:
        """Whether too many asks are unanswered to read more output."""
        return self.outstanding > self.pause_above

    def acked(self) -> bool:
        """Count one ack (extra acks are ignored); True if reading may resume."""
        self.outstanding = max(0, self.outstanding - 1)
        return self.outstanding < self.resume_below
