"""Run code on a fresh kernel through the bridge, as Colab's page does.

The kernel is the one Colab's Python notebooks get: ``POST api/kernels``
asks for ``python3`` as the page does, so ``ColabBridge.kernel_map`` applies,
and the reply names the kernel that really runs. It is started through the
``http_over_websocket`` socket; its channels are opened through
``proxied_ws`` offering ``v1.kernel.websocket.jupyter.org`` (as
``@jupyterlab/services`` does, and the server picks it when offered), then
deleted again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from datetime import datetime, timezone
from typing import Any

from jupyter_server.services.kernels.connection.base import (
    deserialize_msg_from_ws_v1,
    serialize_msg_to_ws_v1,
)

from ..protocol.kernel_map import COLAB_PYTHON_KERNEL
from ..protocol.paths import BRIDGE_PREFIX
from .colab_client import BridgeSession, ClientError, connect
from .observations import KernelRun

KERNEL_SUBPROTOCOL = "v1.kernel.websocket.jupyter.org"


def shell_request(msg_type: str, content: dict[str, Any], session_id: str) -> dict[str, Any]:
    """A kernel request on the shell channel (messaging protocol 5.3)."""
    return {
        "header": {
            "msg_id": uuid.uuid4().hex,
            "msg_type": msg_type,
            "username": "colab-bridge-doctor",
            "session": session_id,
            "date": datetime.now(timezone.utc).isoformat(),
            "version": "5.3",
        },
        "parent_header": {},
        "metadata": {},
        "content": content,
        "buffers": [],
        "channel": "shell",
    }


def execute_request(code: str, session_id: str) -> dict[str, Any]:
    """A kernel ``execute_request`` message."""
    content = {
        "code": code,
        "silent": False,
        "store_history": False,
        "user_expressions": {},
        "allow_stdin": False,
        "stop_on_error": True,
    }
    return shell_request("execute_request", content, session_id)


def encode_kernel_message(msg: dict[str, Any], subprotocol: str | None) -> str | bytes:
    """A kernel message as the negotiated protocol frames it (v1 binary, or JSON)."""
    if subprotocol == KERNEL_SUBPROTOCOL:
        parts = [
            json.dumps(msg[key]).encode("utf-8")
            for key in ("header", "parent_header", "metadata", "content")
        ]
        frame: bytes = serialize_msg_to_ws_v1(parts, msg["channel"])
        return frame
    return json.dumps(msg)


def decode_kernel_message(frame: str | bytes) -> dict[str, Any]:
    """The channel, header, parent header and content of one kernel frame."""
    if isinstance(frame, bytes):
        channel, parts = deserialize_msg_from_ws_v1(frame)
        header, parent, _metadata, content = (json.loads(p) for p in parts[:4])
        return {"channel": channel, "header": header, "parent_header": parent, "content": content}
    decoded: dict[str, Any] = json.loads(frame)
    return decoded


async def run_code(
    session: BridgeSession,
    code: str = "1+1",
    timeout: float = 60.0,
    more: tuple[str, ...] = (),
) -> KernelRun:
    """Start Colab's Python kernel, run ``code`` (then ``more``) over proxied_ws, delete it.

    The results of ``more`` are empty strings where that code failed.
    """
    body = json.dumps({"name": COLAB_PYTHON_KERNEL})
    started = await session.request("POST", "api/kernels", body, timeout)
    if started.status != 201:
        raise ClientError(
            f"POST api/kernels answered {started.status} {started.status_text}: "
            f"{started.body[:300].decode('utf-8', 'replace')}"
        )
    kernel_id = started.json()["id"]
    name = str(started.json().get("name") or COLAB_PYTHON_KERNEL)  # what really runs
    try:
        return await asyncio.wait_for(_execute(session, kernel_id, name, code, more), timeout)
    except asyncio.TimeoutError:
        raise ClientError(f"the kernel did not answer {code!r} within {timeout:.0f} s") from None
    finally:
        with contextlib.suppress(ClientError, asyncio.TimeoutError):
            await session.request("DELETE", f"api/kernels/{kernel_id}")


async def _execute(
    session: BridgeSession, kernel_id: str, name: str, code: str, more: tuple[str, ...]
) -> KernelRun:
    session_id = uuid.uuid4().hex
    query = session.target.colab_query()
    query["session_id"] = session_id
    conn = await connect(
        session.target,
        f"{BRIDGE_PREFIX}/proxied_ws/api/kernels/{kernel_id}/channels",
        query=query,
        subprotocols=[KERNEL_SUBPROTOCOL],
    )
    try:
        protocol = conn.selected_subprotocol
        await _wait_ready(conn, protocol, session_id)
        result = await _result(conn, protocol, session_id, code)
        extra = []
        for snippet in more:
            try:
                extra.append(await _result(conn, protocol, session_id, snippet))
            except ClientError:
                extra.append("")
        return KernelRun(name, protocol, result, tuple(extra))
    finally:
        conn.close()


async def _result(conn: Any, protocol: str | None, session_id: str, code: str) -> str:
    """The ``text/plain`` result of ``code``; ClientError on an error or a closed socket."""
    request = execute_request(code, session_id)
    await conn.write_message(
        encode_kernel_message(request, protocol), binary=protocol == KERNEL_SUBPROTOCOL
    )
    msg_id = request["header"]["msg_id"]
    while True:
        frame = await conn.read_message()
        if frame is None:
            raise ClientError(
                f"the kernel socket closed (code {conn.close_code}, "
                f"reason {conn.close_reason!r}) before the result came"
            )
        msg = decode_kernel_message(frame)
        if msg.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        msg_type = msg["header"]["msg_type"]
        content = msg.get("content", {})
        if msg_type == "execute_result":
            return str(content.get("data", {}).get("text/plain"))
        if msg_type == "error" or (msg_type == "execute_reply" and content.get("status") != "ok"):
            raise ClientError(
                f"the kernel reported an error: {content.get('ename')}: {content.get('evalue')}"
            )


async def _wait_ready(conn: Any, protocol: str | None, session_id: str) -> None:
    """Ask for kernel info until the reply comes, once a second, as frontends do.

    A single request can sit unread in an ipykernel 7 kernel right after a
    socket opens (ipython/ipykernel#1554); the next message on the socket wakes
    it, so asking again is what makes this reliable.
    """
    sent: set[str] = set()
    while True:  # bounded by run_code's timeout
        request = shell_request("kernel_info_request", {}, session_id)
        sent.add(request["header"]["msg_id"])
        await conn.write_message(
            encode_kernel_message(request, protocol), binary=protocol == KERNEL_SUBPROTOCOL
        )
        try:
            while True:
                frame = await asyncio.wait_for(conn.read_message(), 1.0)
                if frame is None:
                    raise ClientError(
                        f"the kernel socket closed (code {conn.close_code}) before it was ready"
                    )
                msg = decode_kernel_message(frame)
                if msg.get("parent_header", {}).get("msg_id") in sent:
                    if msg["header"]["msg_type"] == "kernel_info_reply":
                        return
        except asyncio.TimeoutError:
            continue
