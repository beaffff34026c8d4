"""A ``colab/tty`` client that follows google-colab-cli's ``console`` command.

It sends raw keystrokes as ``{"data": ...}``, resizes as ``{"cols", "rows"}``,
and answers each frame that asks for an ack with ``{"ack": true}`` (unless
told not to, to play a page that stopped reading).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from tornado.websocket import WebSocketClientConnection

#: Seconds one read waits before the test fails (a hang, not a timing).
READ_TIMEOUT = 30.0


class TtyClient:
    """Colab's terminal frames over one socket."""

    def __init__(self, ws: WebSocketClientConnection, auto_ack: bool = True) -> None:
        self.ws = ws
        self.auto_ack = auto_ack
        self.output = ""
        self.asked = 0  # frames that asked for an ack

    def keys(self, data: str) -> None:
        """Send keystrokes (or piped input) as they are."""
        self.ws.write_message(json.dumps({"data": data}))

    def resize(self, cols: int, rows: int) -> None:
        self.ws.write_message(json.dumps({"cols": cols, "rows": rows}))

    def ack(self) -> None:
        self.ws.write_message(json.dumps({"ack": True}))

    async def read_frame(self) -> dict[str, Any] | None:
        """The next frame (its output kept), or None once the server has closed."""
        message = await asyncio.wait_for(self.ws.read_message(), READ_TIMEOUT)
        if message is None:
            return None
        assert isinstance(message, str), "colab/tty sends text frames"
        frame = json.loads(message)
        assert isinstance(frame, dict) and isinstance(frame.get("data"), str), frame
        assert set(frame) <= {"data", "ack"}, frame
        self.output += frame["data"]
        if frame.get("ack") is True:
            self.asked += 1
            if self.auto_ack:
                self.ack()
        return frame

    async def read_until(self, text: str) -> str:
        """Read until ``text`` has been output; all output so far."""
        while text not in self.output:
            if await self.read_frame() is None:
                raise ConnectionError(
                    f"closed ({self.ws.close_code} {self.ws.close_reason}) before {text!r}; "
                    f"output: {self.output[-500:]!r}"
                )
        return self.output

    async def read_to_close(self) -> tuple[int | None, str | None]:
        """Read until the server closes; its close code and reason."""
        while await self.read_frame() is not None:
            pass
        return self.ws.close_code, self.ws.close_reason
