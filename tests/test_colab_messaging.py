"""Colab's kernel messaging passes both ways in: proxied_ws and the kernel's own socket.

What ``google.colab`` does on the kernel's channels (colabtools
``google/colab/_message.py``, ``files.py``; docs/protocol.md section 8), written
here from the wire format, against a real server and a real ipykernel:

* the kernel publishes ``colab_request`` on iopub (with its metadata and the
  cell as parent); the page answers with an unsolicited stdin ``input_reply``
  ``{"type": "colab_reply", "colab_msg_id": N, "data": ...}``, which the kernel
  reads from its stdin socket without blocking, skipping other replies;
* the kernel opens a comm (target ``download_<uuid>``) and the page answers
  with ``comm_msg`` on shell;
* binary buffers survive both directions.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest

from tests.helpers.bridge_client import KernelChannel, open_kernel_channel

WAYS_IN = ["proxied_ws", "direct"]

# Kernel side of colab_request / colab_reply, as google.colab._message does it.
COLAB_REQUEST_CELL = """
import json, time, zmq
_k = get_ipython().kernel
_k.session.send(
    _k.iopub_socket,
    "colab_request",
    content={"request": {"method": "test", "args": [1, 2]}},
    parent=_k.get_parent("shell"),
    metadata={"colab_request_type": "test_request", "colab_msg_id": 7},
)
_value, _skipped = None, 0
_deadline = time.monotonic() + 60
while _value is None and time.monotonic() < _deadline:
    _ident, _reply = _k.session.recv(_k.stdin_socket, zmq.NOBLOCK)
    if _reply is None:
        time.sleep(0.025)
        continue
    _v = _reply["content"].get("value")
    if isinstance(_v, dict) and _v.get("type") == "colab_reply" and _v.get("colab_msg_id") == 7:
        _value = _v
    else:
        _skipped += 1
print(json.dumps({"value": _value, "skipped": _skipped}))
"""

KERNEL_BYTES = bytes(range(256))
PAGE_BYTES = b"\x00\xffpage\x80"


def comm_cell(target: str) -> str:
    return f"""
from comm import create_comm
_got = []
_c = create_comm(target_name={target!r}, data={{"hello": 1}})
_c.on_msg(lambda m: _got.append([m["content"]["data"], [bytes(b).hex() for b in m["buffers"]]]))
_c.send(data={{"chunk": 0}}, buffers=[bytes(range(256))])
"""


@pytest.fixture(params=WAYS_IN)
def way_in(request: Any) -> str:
    return str(request.param)


@pytest.fixture
def open_kernel(
    way_in: str, fetch: Any, token: str, jp_http_port: int, jp_base_url: str, sockets: list[Any]
) -> Any:
    """Opens a kernel channel from Colab's origin, through proxied_ws or directly.

    Its socket is closed after the test.
    """

    async def _open() -> KernelChannel:
        channel = await _open_kernel(way_in, fetch, token, jp_http_port, jp_base_url)
        sockets.append(channel.ws)
        return channel

    return _open


async def _open_kernel(
    way_in: str, fetch: Any, token: str, jp_http_port: int, jp_base_url: str
) -> KernelChannel:
    headers = {"Authorization": f"token {token}"}
    body = {"path": "colab.ipynb", "type": "notebook", "name": "", "kernel": {"name": "python3"}}
    created = await fetch("api/sessions", "POST", headers, json.dumps(body))
    assert created.code == 201, created.body
    session = json.loads(created.body)
    return await open_kernel_channel(
        jp_http_port,
        jp_base_url,
        session["kernel"]["id"],
        token,
        proxied=way_in == "proxied_ws",
        session_id=session["id"],
    )


async def recv_until(kernel: KernelChannel, msg_type: str) -> dict[str, Any]:
    while True:
        msg = await asyncio.wait_for(kernel.recv(), 60)
        if msg["msg_type"] == msg_type:
            return msg


async def test_colab_request_and_unsolicited_stdin_reply(open_kernel: Any) -> None:
    kernel = await open_kernel()
    cell = kernel.send(
        "execute_request",
        {
            "code": COLAB_REQUEST_CELL,
            "silent": False,
            "store_history": False,
            "user_expressions": {},
            "allow_stdin": False,
            "stop_on_error": True,
        },
    )
    request = await recv_until(kernel, "colab_request")
    assert request["channel"] == "iopub"
    assert request["metadata"] == {"colab_request_type": "test_request", "colab_msg_id": 7}
    assert request["content"] == {"request": {"method": "test", "args": [1, 2]}}
    assert request["parent_header"]["msg_id"] == cell
    # Unsolicited replies on stdin: one for another request first, which the kernel skips.
    other = {"type": "colab_reply", "colab_msg_id": 6, "data": "not this one"}
    kernel.send("input_reply", {"value": other}, channel="stdin")
    value = {"type": "colab_reply", "colab_msg_id": 7, "data": {"ok": [1, 2], "text": "é"}}
    kernel.send("input_reply", {"value": value}, channel="stdin")
    stdout = ""
    while True:
        msg = await asyncio.wait_for(kernel.recv(), 60)
        if msg["parent_header"].get("msg_id") != cell:
            continue
        if msg["msg_type"] == "stream":
            stdout += msg["content"]["text"]
        if msg["msg_type"] == "execute_reply":
            assert msg["content"]["status"] == "ok", msg["content"]
            break
    while not stdout.endswith("\n"):
        msg = await asyncio.wait_for(kernel.recv(), 60)
        if msg["msg_type"] == "stream" and msg["parent_header"].get("msg_id") == cell:
            stdout += msg["content"]["text"]
    assert json.loads(stdout) == {"value": value, "skipped": 1}


async def test_kernel_comm_and_binary_buffers_both_ways(open_kernel: Any) -> None:
    kernel = await open_kernel()
    target = f"download_{uuid.uuid4()}"
    _, reply, messages = await kernel.execute(comm_cell(target))
    assert reply["status"] == "ok", reply
    (opened,) = [m for m in messages if m["msg_type"] == "comm_open"]
    assert opened["content"]["target_name"] == target
    assert opened["content"]["data"] == {"hello": 1}
    comm_id = opened["content"]["comm_id"]
    (sent,) = [m for m in messages if m["msg_type"] == "comm_msg"]
    assert sent["content"] == {"comm_id": comm_id, "data": {"chunk": 0}}
    assert sent["buffers"] == [KERNEL_BYTES]
    kernel.send("comm_msg", {"comm_id": comm_id, "data": {"answer": 42}}, buffers=[PAGE_BYTES])
    stdout, reply, _ = await kernel.execute("import json; print(json.dumps(_got))")
    assert reply["status"] == "ok", reply
    assert json.loads(stdout) == [[{"answer": 42}, [PAGE_BYTES.hex()]]]
