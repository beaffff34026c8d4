"""``colab/tty``: Colab's terminal on jupyter_server's terminal manager (issue 25).

A client that follows google-colab-cli's ``console`` (tests.helpers.tty_client)
runs commands from Colab's origin with the token, directly and through
``proxied_ws``; the shell is one named terminal that outlives its socket; the
ack window holds a page that stops reading; what is refused opens no socket.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from tornado.websocket import WebSocketClientConnection

from jupyter_colab_bridge.protocol.terminal import (
    ACK_EVERY_CHARS,
    PAUSE_ABOVE,
    AckWindow,
    TtyFrameError,
    TtyInput,
    parse_tty_frame,
)
from jupyter_colab_bridge.server.terminal import (
    DETACHED,
    SHELL_EXITED,
    TERMINAL_NAME,
    TerminalHandler,
    recent_output,
)
from tests.helpers.bridge_client import COLAB_ORIGIN, connect, handshake_status, wait_closed
from tests.helpers.probes import until
from tests.helpers.tty_client import TtyClient

TTY = "colab/tty"
PROXIED_TTY = "http_over_websocket/proxied_ws/colab/tty"


@pytest.fixture
def terminals_enabled() -> bool:
    """ServerApp.terminals_enabled of the test's server; a test may parametrize it."""
    return True


@pytest.fixture
def jp_server_config(jp_server_config: dict[str, Any], terminals_enabled: bool) -> dict[str, Any]:
    server = {**jp_server_config["ServerApp"], "terminals_enabled": terminals_enabled}
    return {**jp_server_config, "ServerApp": server}


@pytest.fixture
def open_tty(url: Any, sockets: list[WebSocketClientConnection]) -> Any:
    """Opens ``colab/tty`` (or ``endpoint``) as Colab's page, with the token."""

    async def _open(endpoint: str = TTY, auto_ack: bool = True) -> TtyClient:
        ws = await connect(url(endpoint), origin=COLAB_ORIGIN)
        sockets.append(ws)
        return TtyClient(ws, auto_ack=auto_ack)

    return _open


def shell_handlers(jp_serverapp: Any) -> list[TerminalHandler]:
    """The colab/tty sockets attached to the shell now."""
    manager = jp_serverapp.web_app.settings["terminal_manager"]
    terminal = manager.terminals.get(TERMINAL_NAME)
    clients = terminal.clients if terminal is not None else []
    return [c for c in clients if isinstance(c, TerminalHandler)]


# -- the wire format (pure) ------------------------------------------------------
@pytest.mark.parametrize(
    ("frame", "parsed"),
    [
        pytest.param('{"data": "ls\\r"}', TtyInput(data="ls\r"), id="keys"),
        pytest.param('{"cols": 80, "rows": 24}', TtyInput(size=(24, 80)), id="resize"),
        pytest.param('{"ack": true}', TtyInput(ack=True), id="ack"),
        pytest.param('{"data": "x", "future": 1}', TtyInput(data="x"), id="unknown-key-ignored"),
    ],
)
def test_parse_frames(frame: str, parsed: TtyInput) -> None:
    assert parse_tty_frame(frame) == parsed


@pytest.mark.parametrize(
    ("frame", "why"),
    [
        pytest.param("ls", "JSON object", id="not-json"),
        pytest.param('["stdin", "ls"]', "JSON object", id="terminado-list"),
        pytest.param('{"data": 5}', '"data" must be a string', id="data-number"),
        pytest.param('{"cols": 80}', "both", id="cols-alone"),
        pytest.param('{"cols": "80", "rows": 24}', "integer", id="cols-string"),
        pytest.param('{"cols": true, "rows": 24}', "integer", id="cols-bool"),
        pytest.param('{"cols": 10000000000000000000000, "rows": 24}', "between", id="huge-cols"),
        pytest.param('{"cols": 0, "rows": 24}', "between", id="zero-cols"),
        pytest.param('{"ack": 1}', '"ack" must be true', id="ack-number"),
        pytest.param("{}", "needs", id="empty"),
    ],
)
def test_bad_frames_are_named(frame: str, why: str) -> None:
    with pytest.raises(TtyFrameError, match=why) as e:
        parse_tty_frame(frame)
    assert len(str(e.value).encode()) < 100  # fits a close frame's reason


def test_ack_window_pauses_above_five_and_resumes_below_two() -> None:
    window = AckWindow()
    frames = [json.loads(window.output_frame("x" * 50_000)) for _ in range(2 * (PAUSE_ABOVE + 1))]
    assert [f.get("ack", False) for f in frames[:4]] == [False, True, False, True]
    assert window.outstanding == PAUSE_ABOVE + 1 and window.should_pause
    assert window.sent == 50_000 * len(frames)
    assert [window.acked() for _ in range(5)] == [False, False, False, False, True]
    assert not window.should_pause
    assert window.acked() and window.acked() and window.outstanding == 0  # extra acks ignored


def test_recent_output_keeps_the_tail() -> None:
    assert recent_output(["ab", "cd", "ef"], limit=3) == "def"
    assert recent_output([], limit=3) == ""


# -- a real shell ------------------------------------------------------------------
async def test_runs_a_command_from_colab(open_tty: Any, fetch: Any, token: str) -> None:
    tty = await open_tty()
    tty.resize(100, 30)
    tty.keys("echo colab-$((6*7))\r")
    await tty.read_until("colab-42")
    listed = await fetch("api/terminals", headers={"Authorization": f"token {token}"})
    assert [t["name"] for t in json.loads(listed.body)] == [TERMINAL_NAME]


async def test_resize_reaches_the_pty(open_tty: Any) -> None:
    tty = await open_tty()
    tty.resize(123, 45)
    tty.keys("stty size; echo sized-$((1+1))\r")
    output = await tty.read_until("sized-2")
    assert "45 123" in output


async def test_piped_input_ending_in_exit_closes_the_socket(
    open_tty: Any, jp_serverapp: Any
) -> None:
    """What `echo ... | colab console` sends: the whole input at once, then exit."""
    tty = await open_tty()
    tty.keys("echo piped-$((6*7))\nexit\n")
    assert await tty.read_to_close() == (1000, SHELL_EXITED)
    assert "piped-42" in tty.output
    manager = jp_serverapp.web_app.settings["terminal_manager"]
    assert await until(lambda: TERMINAL_NAME not in manager.terminals)


async def test_a_second_socket_finds_the_shell_where_the_first_left_it(
    open_tty: Any, jp_serverapp: Any
) -> None:
    first = await open_tty()
    first.keys("mkdir -p left-here && cd left-here && export COLAB_MARK=7\r")
    first.keys("echo first-$((COLAB_MARK*6))\r")
    await first.read_until("first-42")
    second = await open_tty()
    assert await first.read_to_close() == (1000, DETACHED)  # detached, as tmux -D does
    second.keys("echo at-$(basename $PWD)-$((COLAB_MARK+1))\r")
    await second.read_until("at-left-here-8")
    assert "first-42" in second.output  # the shell's recent output, replayed
    assert len(shell_handlers(jp_serverapp)) == 1  # the first one has let go


async def test_closing_the_socket_leaves_the_shell(open_tty: Any, jp_serverapp: Any) -> None:
    tty = await open_tty()
    tty.keys("echo alive-$((2+2))\r")
    await tty.read_until("alive-4")
    tty.ws.close()
    assert await until(lambda: not shell_handlers(jp_serverapp))
    manager = jp_serverapp.web_app.settings["terminal_manager"]
    assert manager.terminals[TERMINAL_NAME].ptyproc.isalive()


@pytest.mark.parametrize("endpoint", [TTY, PROXIED_TTY])
async def test_a_page_that_does_not_ack_stops_near_the_watermark(
    open_tty: Any, jp_serverapp: Any, endpoint: str
) -> None:
    """2 MB of output without acks stops after about 6 x 100,000 characters; acks let it on."""
    total = 2_000_000
    tty = await open_tty(endpoint, auto_ack=False)
    tty.keys(f"head -c {total} /dev/zero | tr '\\0' x; echo; echo done-$((6*7))\r")
    assert await until(lambda: any(h.paused for h in shell_handlers(jp_serverapp)))
    (handler,) = shell_handlers(jp_serverapp)
    sent = handler.window.sent
    while len(tty.output) < sent:
        await tty.read_frame()
    assert tty.asked == PAUSE_ABOVE + 1
    assert handler.paused and handler.window.sent == sent  # nothing more left while paused
    assert sent < (PAUSE_ABOVE + 1) * ACK_EVERY_CHARS + 2 * 65536
    tty.auto_ack = True
    for _ in range(tty.asked):
        tty.ack()
    await tty.read_until("done-42")
    assert "x" * total in tty.output


async def test_through_proxied_ws_with_the_auth_url(open_tty: Any) -> None:
    tty = await open_tty(PROXIED_TTY)
    tty.keys("echo tunnelled-$((6*7))\r")
    await tty.read_until("tunnelled-42")


# -- refused: no socket opens -----------------------------------------------------
@pytest.mark.parametrize("endpoint", [TTY, PROXIED_TTY])
@pytest.mark.parametrize(
    ("origin", "with_token", "status"),
    [
        pytest.param(COLAB_ORIGIN, False, 403, id="no-token"),
        pytest.param("https://evil.example", True, 403, id="foreign-origin"),
    ],
)
async def test_refused_without_token_or_from_a_foreign_origin(
    url: Any,
    jp_serverapp: Any,
    server_log: Any,
    endpoint: str,
    origin: str,
    with_token: bool,
    status: int,
) -> None:
    target = url(endpoint) if with_token else url(endpoint, token=None)
    assert await handshake_status(target, origin=origin) == status
    assert "colab" not in jp_serverapp.web_app.settings["terminal_manager"].terminals


@pytest.mark.parametrize("terminals_enabled", [False])
async def test_off_when_the_server_has_no_terminals(
    url: Any, sockets: list[WebSocketClientConnection], terminals_enabled: bool
) -> None:
    """Directly the handshake gets 404; proxied_ws closes at once with the upstream's 404."""
    assert await handshake_status(url(TTY)) == 404
    relayed = await connect(url(PROXIED_TTY))
    sockets.append(relayed)
    assert await wait_closed(relayed) == (404, "Not Found")


@pytest.mark.parametrize("bridge_config", [{"terminal": False}])
async def test_off_by_the_bridge_setting(
    bridge_config: dict[str, Any], url: Any, jp_serverapp: Any
) -> None:
    assert await handshake_status(url(TTY)) == 404
    assert not jp_serverapp.web_app.settings["terminal_manager"].terminals


# -- bad frames: a clear close and a log line; the shell and the server go on ------
@pytest.mark.parametrize(
    ("message", "code", "reason"),
    [
        pytest.param("ls -l", 1007, "JSON object", id="not-json"),
        pytest.param('{"data": ["ls"]}', 1007, '"data" must be a string', id="wrong-type"),
        pytest.param('{"cols": 99999999, "rows": 24}', 1007, "between", id="huge-cols"),
        pytest.param(b"\x00\x01", 1003, "not binary", id="binary"),
    ],
)
async def test_bad_frames_close_with_a_reason(
    open_tty: Any, server_log: Any, message: str | bytes, code: int, reason: str
) -> None:
    tty = await open_tty()
    tty.keys("echo before-$((1+1))\r")
    await tty.read_until("before-2")
    tty.ws.write_message(message, binary=isinstance(message, bytes))
    closed_code, closed_reason = await tty.read_to_close()
    assert closed_code == code and reason in (closed_reason or "")
    assert "closing colab/tty with" in server_log.text()
    again = await open_tty()
    again.keys("echo after-$((2+3))\r")
    await again.read_until("after-5")


async def test_a_refused_auth_url_with_another_credential_opens_no_socket(
    url: Any, token: str, server_log: Any, jp_serverapp: Any
) -> None:
    """Another server's auth URL beside a good ?token=: 400 before the upgrade, and why."""
    target = url(TTY, token=None, params={"token": token})
    target += "&jupyter_http_over_ws_auth_url=http%3A%2F%2Fevil.example%2F%3Ftoken%3Dx"
    assert await handshake_status(target) == 400
    assert "refusing the auth URL" in server_log.text()
    assert TERMINAL_NAME not in jp_serverapp.web_app.settings["terminal_manager"].terminals
