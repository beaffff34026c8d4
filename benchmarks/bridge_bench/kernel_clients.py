"""Kernel clients: the kernel WebSocket protocol (bridge or direct) and the kernel's own ZMQ."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path
from typing import Any

from .common import KERNEL_SUBPROTOCOL
from .websocket import RawWebSocket

EXECUTE_CONTENT = {
    "silent": False,
    "store_history": False,
    "user_expressions": {},
    "allow_stdin": False,
    "stop_on_error": True,
}


def _pack(obj: Any) -> bytes:
    from jupyter_client.jsonutil import json_default

    return json.dumps(obj, default=json_default).encode()


class WsKernel:
    """The kernel WebSocket protocol (v1, binary) on a socket: bridge or direct."""

    def __init__(self, ws: RawWebSocket) -> None:
        from jupyter_client.session import Session

        assert ws.selected_subprotocol == KERNEL_SUBPROTOCOL, ws.selected_subprotocol
        self.ws = ws
        self.session = Session(session=uuid.uuid4().hex, key=b"")

    async def execute(self, code: str, timeout: float) -> int:
        """Run ``code`` until its reply and idle status; return stdout characters seen."""
        from jupyter_server.services.kernels.connection.base import (
            deserialize_msg_from_ws_v1,
            serialize_msg_to_ws_v1,
        )

        msg = self.session.msg("execute_request", content={"code": code, **EXECUTE_CONTENT})
        msg_id = msg["header"]["msg_id"]
        frame = serialize_msg_to_ws_v1(msg, "shell", _pack)  # type: ignore[no-untyped-call]
        self.ws.write_message(frame, binary=True)
        reply = idle = False
        out = 0
        end = time.monotonic() + timeout
        while not (reply and idle):
            left = max(0.05, end - time.monotonic())
            message = await asyncio.wait_for(self.ws.read_message(), left)
            if message is None:
                raise ConnectionError(f"kernel socket closed: {self.ws.close_code}")
            assert isinstance(message, bytes)
            _, parts = deserialize_msg_from_ws_v1(message)  # type: ignore[no-untyped-call]
            parent = json.loads(parts[1])
            if parent.get("msg_id") != msg_id:
                continue
            msg_type = json.loads(parts[0])["msg_type"]
            if msg_type == "execute_reply":
                reply = True
            elif msg_type == "status":
                idle = idle or json.loads(parts[3])["execution_state"] == "idle"
            elif msg_type == "stream":
                out += len(json.loads(parts[3])["text"])
        return out

    def close(self) -> None:
        self.ws.close()


class ZmqKernel:
    """The kernel's own ZMQ channels (jupyter_client): the physical limit."""

    def __init__(self, connection_file: Path) -> None:
        from jupyter_client.asynchronous.client import AsyncKernelClient

        self.kc = AsyncKernelClient()
        self.kc.load_connection_file(str(connection_file))
        self.kc.start_channels()

    async def execute(self, code: str, timeout: float) -> int:
        """Run ``code`` until its reply and idle status; return stdout characters seen."""
        msg_id = self.kc.execute(
            code, **{k: v for k, v in EXECUTE_CONTENT.items() if k not in ("user_expressions",)}
        )
        reply = idle = False
        out = 0
        end = time.monotonic() + timeout
        while not reply:
            msg = await self.kc.get_shell_msg(timeout=max(0.05, end - time.monotonic()))
            reply = msg["parent_header"].get("msg_id") == msg_id
        while not idle:
            msg = await self.kc.get_iopub_msg(timeout=max(0.05, end - time.monotonic()))
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "status":
                idle = msg["content"]["execution_state"] == "idle"
            elif msg["msg_type"] == "stream":
                out += len(msg["content"]["text"])
        return out

    def close(self) -> None:
        self.kc.stop_channels()
