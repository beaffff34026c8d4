"""A small Colab-like client for the bridge, used by the tests."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from tornado.httpclient import AsyncHTTPClient, HTTPRequest, HTTPResponse
from tornado.websocket import WebSocketClientConnection, websocket_connect

COLAB_ORIGIN = "https://colab.research.google.com"
COLAB_GOOGLE_ORIGIN = "https://colab.google.com"
COLAB_ORIGINS = [COLAB_ORIGIN, COLAB_GOOGLE_ORIGIN]  # the bridge's default allowed_origins
KERNEL_SUBPROTOCOL = "v1.kernel.websocket.jupyter.org"


def ws_url(
    port: int,
    base_url: str,
    endpoint: str = "http_over_websocket",
    token: str | None = None,
    auth_host: str | None = None,
    params: dict[str, str] | None = None,
    scheme: str = "ws",
) -> str:
    """A bridge URL; with ``token`` it carries Colab's auth URL for this server."""
    query = dict(params or {})
    if token is not None:
        http = "https" if scheme == "wss" else "http"
        host = auth_host or f"127.0.0.1:{port}"
        query["jupyter_http_over_ws_auth_url"] = f"{http}://{host}{base_url}?token={quote(token)}"
    url = f"{scheme}://127.0.0.1:{port}{base_url}{endpoint}"
    return f"{url}?{urlencode(query)}" if query else url


async def connect(
    url: str,
    origin: str | None = COLAB_ORIGIN,
    headers: dict[str, str] | None = None,
    subprotocols: list[str] | None = None,
    **kwargs: Any,
) -> WebSocketClientConnection:
    """Open a WebSocket as a browser page at ``origin`` would."""
    all_headers = dict(headers or {})
    if origin is not None:
        all_headers.setdefault("Origin", origin)
    request = HTTPRequest(
        url, headers=all_headers, connect_timeout=30, request_timeout=30, **kwargs
    )
    return await websocket_connect(request, subprotocols=subprotocols)


@asynccontextmanager
async def connected(
    url: str,
    origin: str | None = COLAB_ORIGIN,
    headers: dict[str, str] | None = None,
    subprotocols: list[str] | None = None,
    **kwargs: Any,
) -> AsyncIterator[WebSocketClientConnection]:
    """:func:`connect` as ``async with``: the socket is closed when the block ends, failed or not.

    For sockets opened outside a test's fixtures (``open_bridge``, ``sockets``).
    """
    ws = await connect(url, origin, headers, subprotocols, **kwargs)
    try:
        yield ws
    finally:
        ws.close()


async def wait_closed(ws: WebSocketClientConnection) -> tuple[int | None, str | None]:
    """Read until the server closes ``ws`` (30 s per message at most); its code and reason."""
    while (await asyncio.wait_for(ws.read_message(), 30)) is not None:
        pass
    return ws.close_code, ws.close_reason


@dataclass
class Reply:
    """One reassembled reply."""

    message_id: Any
    status: int | None = None
    status_text: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    frames: list[dict[str, Any]] = field(default_factory=list)

    def json(self) -> Any:
        return json.loads(self.body)


class BridgeClient:
    """Sends request frames and reassembles reply frames, many in flight."""

    def __init__(self, ws: WebSocketClientConnection) -> None:
        self.ws = ws
        self.replies: dict[Any, Reply] = {}
        self.done: set[Any] = set()
        self.unmatched: list[dict[str, Any]] = []

    def send(
        self,
        method: str,
        path: str,
        body: str | None = None,
        body_base64: str | None = None,
        message_id: Any = None,
    ) -> Any:
        message_id = message_id if message_id is not None else uuid.uuid4().hex
        frame: dict[str, Any] = {"message_id": message_id, "method": method, "path": path}
        if body is not None:
            frame["body"] = body
        if body_base64 is not None:
            frame["body_base64"] = body_base64
        self.ws.write_message(json.dumps(frame))
        return message_id

    async def read_frame(self) -> dict[str, Any]:
        message = await self.ws.read_message()
        if message is None:
            raise ConnectionError(f"socket closed: {self.ws.close_code} {self.ws.close_reason}")
        assert isinstance(message, str), "reply frames are text"
        frame = json.loads(message)
        assert isinstance(frame, dict)
        return frame

    def _absorb(self, frame: dict[str, Any]) -> None:
        if "message_id" not in frame:
            self.unmatched.append(frame)
            return
        mid = frame["message_id"]
        assert mid not in self.done, f"frame after done for {mid!r}"
        reply = self.replies.get(mid)
        if reply is None:
            reply = self.replies[mid] = Reply(mid)
            assert "status" in frame, "first frame carries the status"
            reply.status = frame["status"]
            reply.status_text = frame["statusText"]
            reply.headers = frame.get("headers", {})
        else:
            assert set(frame) <= {"message_id", "data", "done"}, frame.keys()
        reply.frames.append(frame)
        if "data" in frame:
            reply.body += base64.b64decode(frame["data"])
        if frame["done"]:
            self.done.add(mid)

    async def wait(self, *message_ids: Any) -> list[Reply]:
        while not all(m in self.done for m in message_ids):
            self._absorb(await self.read_frame())
        return [self.replies[m] for m in message_ids]

    async def request(self, method: str, path: str, **kwargs: Any) -> Reply:
        (reply,) = await self.wait(self.send(method, path, **kwargs))
        return reply

    async def error_frame(self) -> dict[str, Any]:
        """The next frame, which the caller expects to be a one-frame error reply."""
        frame = await self.read_frame()
        assert frame["done"] is True
        return frame


def _pack(obj: Any) -> bytes:
    from jupyter_client.jsonutil import json_default

    return json.dumps(obj, default=json_default).encode()


class KernelChannel:
    """Speaks the kernel WebSocket protocol (v1 binary, or legacy JSON) on a socket."""

    def __init__(self, ws: WebSocketClientConnection, session_id: str = "test-session") -> None:
        from jupyter_client.session import Session

        self.ws = ws
        self.v1 = ws.selected_subprotocol == KERNEL_SUBPROTOCOL
        self.session = Session(session=session_id, key=b"")
        self.is_ready = False

    def send(
        self,
        msg_type: str,
        content: dict[str, Any],
        channel: str = "shell",
        buffers: list[bytes] | None = None,
    ) -> str:
        """Send one message; ``buffers`` (binary parts) need the v1 subprotocol."""
        from jupyter_server.services.kernels.connection.base import serialize_msg_to_ws_v1

        msg = self.session.msg(msg_type, content=content)
        if self.v1:
            parts = [_pack(msg[k]) for k in ("header", "parent_header", "metadata", "content")]
            frame = serialize_msg_to_ws_v1([*parts, *(buffers or [])], channel)
            self.ws.write_message(frame, binary=True)
        else:
            assert not buffers, "binary buffers need the v1 kernel subprotocol"
            msg["channel"] = channel
            self.ws.write_message(_pack(msg).decode())
        return str(msg["header"]["msg_id"])

    async def recv(self) -> dict[str, Any]:
        from jupyter_server.services.kernels.connection.base import deserialize_msg_from_ws_v1

        message = await self.ws.read_message()
        if message is None:
            raise ConnectionError(f"kernel socket closed: {self.ws.close_code}")
        if self.v1:
            assert isinstance(message, bytes), "v1 kernel frames stay binary"
            channel, parts = deserialize_msg_from_ws_v1(message)
            header, parent, metadata, content = (json.loads(p) for p in parts[:4])
            return {
                "channel": channel,
                "header": header,
                "parent_header": parent,
                "metadata": metadata,
                "content": content,
                "msg_type": header["msg_type"],
                "buffers": [bytes(b) for b in parts[4:]],
            }
        assert isinstance(message, str)
        msg = json.loads(message)
        msg["msg_type"] = msg["header"]["msg_type"]
        return msg

    async def ready(self, attempts: int = 60) -> None:
        """Wait for a ``kernel_info_reply``, sending the request again each second.

        Frontends (``@jupyterlab/services``) ask for kernel info on connect too.
        The resend matters with ipykernel 7: a shell request that arrives while
        the kernel is sending a reply can sit unread until the next message on
        the socket (ipython/ipykernel#1554; the server's connection "nudge"
        makes that window likely right after a socket opens).
        """
        sent = set()
        for _ in range(attempts):
            sent.add(self.send("kernel_info_request", {}))
            try:
                while True:
                    msg = await asyncio.wait_for(self.recv(), 1.0)
                    if msg["msg_type"] == "kernel_info_reply":
                        if msg["parent_header"].get("msg_id") in sent:
                            self.is_ready = True
                            return
            except asyncio.TimeoutError:
                continue
        raise TimeoutError(f"no kernel_info_reply after {attempts} requests")

    async def execute(self, code: str) -> tuple[str, dict[str, Any], list[dict[str, Any]]]:
        """Run ``code``; return (stdout, execute_reply content, all its messages)."""
        if not self.is_ready:
            await self.ready()
        msg_id = self.send(
            "execute_request",
            {
                "code": code,
                "silent": False,
                "store_history": False,
                "user_expressions": {},
                "allow_stdin": False,
                "stop_on_error": True,
            },
        )
        stdout, reply, idle, messages = [], None, False, []
        while reply is None or not idle:
            msg = await self.recv()
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            messages.append(msg)
            if msg["msg_type"] == "stream" and msg["content"]["name"] == "stdout":
                stdout.append(msg["content"]["text"])
            elif msg["msg_type"] == "execute_reply":
                reply = msg["content"]
            elif msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                idle = True
        return "".join(stdout), reply, messages


def install_kernelspec(kernel_dir: str, name: str, metadata: dict[str, Any] | None = None) -> str:
    """A kernelspec for this Python's ipykernel, as ``ipykernel install --name <name>`` makes.

    ``metadata`` goes into kernel.json (e.g. a ``kernel_provisioner``).
    """
    import os
    import sys

    spec = os.path.join(kernel_dir, name)
    os.makedirs(spec)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    with open(os.path.join(spec, "kernel.json"), "w", encoding="utf-8") as f:
        spec_json = {"argv": argv, "display_name": name, "language": "python"}
        json.dump({**spec_json, "metadata": metadata or {}}, f)
    return name


async def open_kernel_channel(
    port: int,
    base_url: str,
    kernel_id: str,
    token: str,
    *,
    proxied: bool = False,
    session_id: str | None = None,
) -> KernelChannel:
    """A ready kernel channel from Colab's origin, with the v1 subprotocol.

    Directly (jupyter_server's own socket, ``?token=``, as direct mode opens it)
    or ``proxied`` through ``http_over_websocket/proxied_ws`` with the auth URL.
    """
    channels = f"api/kernels/{kernel_id}/channels"
    params = {"session_id": session_id or uuid.uuid4().hex}
    if proxied:
        address = ws_url(
            port, base_url, f"http_over_websocket/proxied_ws/{channels}", token, None, params
        )
    else:
        address = ws_url(port, base_url, channels, None, None, {**params, "token": token})
    ws = await connect(address, subprotocols=[KERNEL_SUBPROTOCOL])
    assert ws.selected_subprotocol == KERNEL_SUBPROTOCOL
    channel = KernelChannel(ws)
    await channel.ready()
    return channel


async def login_cookies(fetch: Any, password: str) -> str:
    """Log in through the server's own login form, as a person would: the cookies.

    ``fetch`` is the ``fetch`` fixture; ``password`` the server's password or
    token. Returns the login cookie and the ``_xsrf`` cookie, ready to send.
    """
    xsrf = uuid.uuid4().hex
    response = await fetch(
        "login",
        "POST",
        {"Cookie": f"_xsrf={xsrf}", "Content-Type": "application/x-www-form-urlencoded"},
        urlencode({"password": password, "_xsrf": xsrf}),
    )
    assert response.code == 302, response.code
    cookies = [c.split(";", 1)[0] for c in response.headers.get_list("Set-Cookie")]
    login = [c for c in cookies if c.startswith("username-")]
    assert login, cookies
    return "; ".join([*login, f"_xsrf={xsrf}"])


def xsrf_of(cookies: str) -> str:
    """The ``_xsrf`` value of the cookies :func:`login_cookies` returns."""
    return cookies.rsplit("_xsrf=", 1)[1]


async def start_kernel(jp_fetch: Any) -> str:
    """Start a kernel through the REST API (``jp_fetch`` carries the token); its id."""
    response = await jp_fetch("api", "kernels", method="POST", body="{}")
    return str(json.loads(response.body)["id"])


async def fetch_url(
    url: str,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    body: str | None = None,
) -> HTTPResponse:
    """One raw HTTP request: no credentials unless given, no redirects followed, errors returned."""
    request = HTTPRequest(
        url,
        method=method,
        headers=headers or {},
        body=body,
        follow_redirects=False,
        allow_nonstandard_methods=True,
        request_timeout=60,
    )
    return await AsyncHTTPClient().fetch(request, raise_error=False)


async def handshake_status(url: str, **kwargs: Any) -> int:
    """101 if the WebSocket opens (then it is closed), else the refusal's status."""
    from tornado.httpclient import HTTPClientError

    try:
        ws = await connect(url, **kwargs)
    except HTTPClientError as e:
        return e.code
    ws.close()
    return 101
