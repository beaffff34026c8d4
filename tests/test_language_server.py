"""``colab/lsp``: a language server per socket, found by jupyter-lsp (issue 25).

python-lsp-server (the ``lsp`` extra, also in the test extra) answers an
LSP ``initialize`` sent as one bare JSON frame, directly and through
``proxied_ws``; each socket has its own process, ended when it closes; what
is refused opens no socket; a server without a language server says so.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import psutil
import pytest
from tornado.websocket import WebSocketClientConnection

from jupyter_colab_bridge.protocol.language_server import (
    LspFrameError,
    check_lsp_frame,
    choose_python_server,
)
from jupyter_colab_bridge.server.language_server import NO_SERVER
from tests.helpers.bridge_client import COLAB_ORIGIN, connect, handshake_status, wait_closed
from tests.helpers.probes import until

LSP = "colab/lsp"
PROXIED_LSP = "http_over_websocket/proxied_ws/colab/lsp"


def initialize(request_id: int = 1) -> str:
    """An LSP ``initialize`` request as Colab's page sends it: one bare JSON frame."""
    params = {"processId": None, "rootUri": None, "capabilities": {}}
    return json.dumps(
        {"jsonrpc": "2.0", "id": request_id, "method": "initialize", "params": params}
    )


async def answer_to(ws: WebSocketClientConnection, request_id: int) -> dict[str, Any]:
    """Read frames until the response to ``request_id``; each frame is one message."""
    while True:
        message = await wait_for_message(ws)
        assert message is not None, (ws.close_code, ws.close_reason)
        assert isinstance(message, str) and not message.startswith("Content-Length")
        parsed = json.loads(message)
        if parsed.get("id") == request_id and "method" not in parsed:
            return dict(parsed)


async def wait_for_message(ws: WebSocketClientConnection) -> str | bytes | None:
    return await asyncio.wait_for(ws.read_message(), 60)


def language_servers() -> list[psutil.Process]:
    """The server process's children that run python-lsp-server."""
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            if any("pylsp" in part for part in child.cmdline()):
                found.append(child)
        except psutil.Error:
            continue
    return found


@pytest.fixture
def autodetect() -> bool:
    """jupyter-lsp's LanguageServerManager.autodetect on the test's server."""
    return True


@pytest.fixture
def jp_server_config(jp_server_config: dict[str, Any], autodetect: bool) -> dict[str, Any]:
    return {**jp_server_config, "LanguageServerManager": {"autodetect": autodetect}}


@pytest.fixture
def open_lsp(url: Any, sockets: list[WebSocketClientConnection]) -> Any:
    async def _open(endpoint: str = LSP) -> WebSocketClientConnection:
        ws = await connect(url(endpoint), origin=COLAB_ORIGIN)
        sockets.append(ws)
        return ws

    return _open


# -- pure -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("frame", "why"),
    [
        pytest.param("Content-Length: 2\r\n\r\n{}", "JSON", id="stdio-headers"),
        pytest.param("[1, 2]", "object", id="batch"),
        pytest.param('{"id": 1, "method": "initialize"}', '"jsonrpc"', id="no-jsonrpc"),
    ],
)
def test_bad_frames_are_named(frame: str, why: str) -> None:
    with pytest.raises(LspFrameError, match=why):
        check_lsp_frame(frame)


@pytest.mark.parametrize(
    ("installed", "chosen"),
    [
        pytest.param(["pylsp", "pyright"], "pyright", id="pyright-first"),
        pytest.param(["pylsp", "bash-language-server"], "pylsp", id="pylsp"),
        pytest.param(["bash-language-server"], None, id="no-python"),
        pytest.param(["zz-python-ls"], "zz-python-ls", id="another-python-one"),
    ],
)
def test_python_server_choice(installed: list[str], chosen: str | None) -> None:
    specs = {
        key: {"argv": [key], "languages": ["bash"] if key.startswith("bash") else ["python"]}
        for key in installed
    }
    assert choose_python_server(specs) == chosen


# -- a real language server ---------------------------------------------------------
@pytest.mark.parametrize("endpoint", [LSP, PROXIED_LSP])
async def test_initialize_as_one_bare_frame_gets_an_answer(open_lsp: Any, endpoint: str) -> None:
    ws = await open_lsp(endpoint)
    ws.write_message(initialize(7))
    answer = await answer_to(ws, 7)
    assert answer["jsonrpc"] == "2.0" and "capabilities" in answer["result"]


async def test_one_process_per_socket_ended_when_it_closes(open_lsp: Any) -> None:
    first, second = await open_lsp(), await open_lsp()
    for n, ws in enumerate((first, second)):
        ws.write_message(initialize(n))
        await answer_to(ws, n)
    running = language_servers()
    assert len(running) == 2
    first.close()
    assert await until(lambda: len(language_servers()) == 1, timeout=30)
    second.close()
    assert await until(lambda: not language_servers(), timeout=30)
    assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in running)


@pytest.mark.parametrize("autodetect", [False])
async def test_no_language_server_installed_closes_with_the_reason(
    open_lsp: Any, server_log: Any, autodetect: bool
) -> None:
    """jupyter-lsp told not to look for language servers finds none, as on a bare install."""
    ws = await open_lsp()
    assert await wait_closed(ws) == (1011, NO_SERVER)
    assert "closing colab/lsp: No language server is installed" in server_log.text()


# -- refused: no socket opens -------------------------------------------------------
@pytest.mark.parametrize("endpoint", [LSP, PROXIED_LSP])
@pytest.mark.parametrize(
    ("origin", "with_token"),
    [
        pytest.param(COLAB_ORIGIN, False, id="no-token"),
        pytest.param("https://evil.example", True, id="foreign-origin"),
    ],
)
async def test_refused_without_token_or_from_a_foreign_origin(
    url: Any, endpoint: str, origin: str, with_token: bool
) -> None:
    target = url(endpoint) if with_token else url(endpoint, token=None)
    assert await handshake_status(target, origin=origin) == 403
    assert not language_servers()


@pytest.mark.parametrize("bridge_config", [{"language_server": False}])
async def test_off_by_the_bridge_setting(bridge_config: dict[str, Any], url: Any) -> None:
    assert await handshake_status(url(LSP)) == 404


# -- bad frames -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("message", "code", "reason"),
    [
        pytest.param("Content-Length: 10\r\n\r\n{}", 1007, "JSON", id="with-headers"),
        pytest.param('{"id": 1}', 1007, '"jsonrpc"', id="not-json-rpc"),
        pytest.param(b"{}", 1003, "not binary", id="binary"),
    ],
)
async def test_bad_frames_close_with_a_reason(
    open_lsp: Any, server_log: Any, message: str | bytes, code: int, reason: str
) -> None:
    ws = await open_lsp()
    ws.write_message(message, binary=isinstance(message, bytes))
    closed_code, closed_reason = await wait_closed(ws)
    assert closed_code == code and reason in (closed_reason or "")
    assert "closing colab/lsp with" in server_log.text()
    assert await until(lambda: not language_servers(), timeout=30)
    again = await open_lsp()
    again.write_message(initialize(3))
    await answer_to(again, 3)
