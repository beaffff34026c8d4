"""A client that talks to a bridge the way Colab's page does, for the doctor.

It opens ``{base_url}http_over_websocket`` with Colab's ``Origin``,
``min_version=0.0.7`` and the pasted backend URL as
``jupyter_http_over_ws_auth_url``, sends request frames (docs/protocol.md section 1.1) and
reassembles reply frames (1.2). :mod:`.kernel_run` adds the kernel.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest, HTTPResponse
from tornado.websocket import WebSocketClientConnection, WebSocketClosedError, websocket_connect

from ..backend_url import Target
from ..protocol.handshake import MIN_VERSION_PARAM, PROTOCOL_VERSION
from ..protocol.origins import COLAB_ORIGIN
from ..protocol.paths import BRIDGE_PREFIX, LANGUAGE_SERVER_PATH
from .observations import ApiAnswer, SurfaceSeen

DIAGNOSE_PATH = f"{BRIDGE_PREFIX}/diagnose"


class ClientError(Exception):
    """Something the client saw go wrong, in words for the user."""


class ConnectError(ClientError):
    """A WebSocket that did not open: HTTP ``status``, or no answer at all."""

    def __init__(self, message: str, status: int | None = None, refused: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.refused = refused


async def _get(
    target: Target, url: str, headers: dict[str, str] | None = None, timeout: float = 10.0
) -> HTTPResponse:
    """One GET, redirects not followed, errors returned; ConnectError if nothing answers."""
    client = AsyncHTTPClient(force_instance=True)
    try:
        response = await client.fetch(
            url,
            headers=headers,
            raise_error=False,
            follow_redirects=False,
            connect_timeout=timeout,
            request_timeout=timeout,
            validate_cert=False,
        )
    except OSError as e:
        raise _unreachable(target, e) from None
    finally:
        client.close()
    if response.code == 599:
        raise ConnectError(f"no answer from {target.netloc}: {response.error}")
    return response


async def api_version(target: Target, timeout: float = 10.0) -> ApiAnswer:
    """``GET {base_url}api``: the status, the server's version if it is Jupyter's, and more.

    Raises :class:`ConnectError` when nothing answers.
    """
    response = await _get(target, target.http_url("api"), timeout=timeout)
    try:
        version = json.loads(response.body).get("version")
    except (ValueError, AttributeError):
        version = None
    return ApiAnswer(
        response.code,
        version if isinstance(version, str) else None,
        response.headers.get("X-JupyterHub-Version"),
        response.headers.get("Location"),
    )


async def hub_token_owner(target: Target, timeout: float = 10.0) -> tuple[int, str | None]:
    """Ask the Hub whose API token the URL carries: (status, user name or None).

    ``GET {hub}/hub/api/user`` with the token: 200 and the owner's name for a
    valid token, 403 for one the Hub does not know.
    """
    headers = {"Authorization": f"token {target.token}"} if target.token else {}
    response = await _get(target, target.hub_url("api/user"), headers, timeout)
    name = None
    if response.code == 200:
        try:
            found = json.loads(response.body).get("name")
        except (ValueError, AttributeError):
            found = None
        name = found if isinstance(found, str) else None
    return response.code, name


def _unreachable(target: Target, error: OSError) -> ConnectError:
    if isinstance(error, ConnectionRefusedError):
        return ConnectError(f"connection refused by {target.netloc}", refused=True)
    return ConnectError(f"cannot reach {target.netloc}: {error}")


async def connect(
    target: Target,
    path: str,
    *,
    origin: str | None = COLAB_ORIGIN,
    query: dict[str, str] | None = None,
    subprotocols: list[str] | None = None,
    timeout: float = 10.0,
) -> WebSocketClientConnection:
    """Open one WebSocket under the target's ``base_url``, or raise ConnectError."""
    headers = {"Origin": origin} if origin else {}
    request = HTTPRequest(
        target.ws_url(path, query),
        headers=headers,
        connect_timeout=timeout,
        request_timeout=timeout,
        validate_cert=False,
    )
    try:
        return await websocket_connect(request, subprotocols=subprotocols)
    except HTTPClientError as e:
        raise ConnectError(f"HTTP {e.code} on {target.base_url}{path}", status=e.code) from None
    except OSError as e:
        raise _unreachable(target, e) from None
    except asyncio.TimeoutError:
        raise ConnectError(f"no answer from {target.netloc} within {timeout:.0f} s") from None


async def probe(target: Target, path: str, **kwargs: Any) -> int:
    """101 if the WebSocket opens (then closes it), else the refusal's HTTP status."""
    try:
        conn = await connect(target, path, **kwargs)
    except ConnectError as e:
        if e.status is None:
            raise
        return e.status
    conn.close()
    return 101


async def diagnose(target: Target, timeout: float = 10.0) -> dict[str, Any]:
    """One round trip on the diagnose socket, from Colab's origin."""
    conn = await connect(target, DIAGNOSE_PATH, query={MIN_VERSION_PARAM: PROTOCOL_VERSION})
    try:
        conn.write_message("doctor")
        message = await asyncio.wait_for(conn.read_message(), timeout)
    finally:
        conn.close()
    if not isinstance(message, str):
        raise ClientError("the diagnose socket closed without answering")
    reply: dict[str, Any] = json.loads(message)
    return reply


@dataclass(frozen=True)
class Reply:
    """One HTTP response carried back by reply frames."""

    status: int
    status_text: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class BridgeSession:
    """An open ``http_over_websocket`` socket; one request at a time."""

    def __init__(self, target: Target, conn: WebSocketClientConnection) -> None:
        self.target = target
        self.conn = conn
        self._ids = itertools.count(1)

    @classmethod
    async def open(cls, target: Target, timeout: float = 10.0) -> BridgeSession:
        """Handshake exactly as Colab's page makes it."""
        conn = await connect(target, BRIDGE_PREFIX, query=target.colab_query(), timeout=timeout)
        return cls(target, conn)

    async def request(
        self, method: str, api_path: str, body: str | None = None, timeout: float = 30.0
    ) -> Reply:
        """Send one request frame for ``{base_url}{api_path}`` and read its reply."""
        message_id = f"doctor-{next(self._ids)}"
        frame: dict[str, Any] = {
            "message_id": message_id,
            "method": method,
            "path": self.target.base_url + api_path,
        }
        if body is not None:
            frame["body"] = body
        try:
            await self.conn.write_message(json.dumps(frame))
        except WebSocketClosedError:
            raise ClientError("the bridge socket is closed") from None
        return await asyncio.wait_for(self._read_reply(message_id), timeout)

    async def _read_reply(self, message_id: str) -> Reply:
        head: dict[str, Any] = {}
        chunks: list[bytes] = []
        while True:
            message = await self.conn.read_message()
            if message is None:
                raise ClientError(
                    f"the bridge closed the socket (code {self.conn.close_code}, "
                    f"reason {self.conn.close_reason!r}) before replying"
                )
            frame = json.loads(message)
            if "message_id" in frame and frame["message_id"] != message_id:
                continue
            if "status" in frame:
                head = frame
            if frame.get("data"):
                chunks.append(base64.b64decode(frame["data"]))
            if frame.get("done"):
                return Reply(
                    int(head.get("status", 0)),
                    str(head.get("statusText", "")),
                    dict(head.get("headers") or {}),
                    b"".join(chunks),
                )

    def close(self) -> None:
        self.conn.close()


async def handler_status(target: Target, path: str, timeout: float = 10.0) -> int:
    """A plain GET of a WebSocket route, as Colab's page with the token: the status.

    400 ("Can Upgrade only to WebSocket") once the route has authenticated the
    request, without opening anything (no shell is started for ``colab/tty``).
    """
    url = f"{target.http_url(path)}?{urlencode(target.colab_query())}"
    response = await _get(target, url, {"Origin": COLAB_ORIGIN}, timeout)
    return response.code


async def lsp_initialize(target: Target, timeout: float = 60.0) -> SurfaceSeen:
    """Open ``colab/lsp`` as Colab's page and send ``initialize`` as one bare frame."""
    try:
        conn = await connect(target, LANGUAGE_SERVER_PATH, query=target.colab_query())
    except ConnectError as e:
        if e.status is None:
            raise
        return SurfaceSeen(status=e.status)
    request = {"jsonrpc": "2.0", "id": 1, "method": "initialize"}
    request["params"] = {"processId": None, "rootUri": None, "capabilities": {}}
    try:
        conn.write_message(json.dumps(request))
        while True:
            message = await asyncio.wait_for(conn.read_message(), timeout)
            if message is None:
                return SurfaceSeen(101, closed=conn.close_reason or f"closed ({conn.close_code})")
            reply = json.loads(message)
            if isinstance(reply, dict) and reply.get("id") == 1 and "method" not in reply:
                info = (reply.get("result") or {}).get("serverInfo") or {}
                return SurfaceSeen(101, answer=str(info.get("name") or "a language server"))
    except (asyncio.TimeoutError, ValueError, AttributeError, WebSocketClosedError) as e:
        return SurfaceSeen(101, error=f"no answer ({type(e).__name__})")
    finally:
        conn.close()
