"""``colab/tty``: the server's one shell, on jupyter_server's terminal manager.

The shell is a named terminal of jupyter_server_terminals' manager
(terminado underneath), so it shows in ``api/terminals`` and JupyterLab can
open it too. It outlives its socket: the next ``colab/tty`` socket attaches
to the same shell and the previous one is closed (detached), as Colab's
runtime does with ``tmux new-session -A -D``. This handler is a terminado
client, as terminado's own ``TermSocket`` is: it only translates Colab's JSON
frames (:mod:`..protocol.terminal`) and applies the ack window by pausing the
manager's reading of the pty, so a page that stops reading holds the shell
rather than the server's memory.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jupyter_core.utils import ensure_async
from jupyter_server.auth.decorator import ws_authenticated
from tornado import web
from tornado.ioloop import IOLoop

from ..protocol.terminal import REPLAY_CHARS, AckWindow, TtyFrameError, parse_tty_frame
from .base import BridgeSocket

if TYPE_CHECKING:
    from jupyter_server_terminals.terminalmanager import TerminalManager
    from terminado.management import PtyWithClients

#: The name of ``colab/tty``'s shell among the server's terminals (``api/terminals``).
TERMINAL_NAME = "colab"

#: The authorizer's resource for terminals (jupyter_server_terminals asks the same).
TERMINALS_RESOURCE = "terminals"

#: Keystrokes (characters) a socket may have queued for a shell that does not
#: read them before the socket's next frames wait.
MAX_PENDING_INPUT_CHARS = 1024 * 1024

#: Close reasons (a close frame holds 123 bytes of reason).
DETACHED = "Detached: another colab/tty socket attached to the shell"
SHELL_EXITED = "The shell exited"
NO_TERMINALS = (
    "this server has no terminals (ServerApp.terminals_enabled is False or terminado is missing)"
)


def recent_output(chunks: Iterable[str], limit: int = REPLAY_CHARS) -> str:
    """The last ``limit`` characters of ``chunks`` (oldest first), joined."""
    kept: list[str] = []
    size = 0
    for chunk in reversed(list(chunks)):
        kept.append(chunk)
        size += len(chunk)
        if size >= limit:
            break
    return "".join(reversed(kept))[-limit:]


class TerminalHandler(BridgeSocket):
    """One page's view of the server's shell; Colab's frames both ways."""

    terminal: PtyWithClients | None = None
    manager: TerminalManager | None = None
    #: (rows, cols), read by terminado when it sizes the pty to its smallest client.
    size: tuple[int | None, int | None] = (None, None)
    paused = False

    def initialize(self, *args: Any, **kwargs: Any) -> None:
        """Per-socket state: the ack window and the keystrokes not yet written."""
        super().initialize(*args, **kwargs)
        self.window = AckWindow()
        self.pending: deque[str] = deque()
        self.pending_chars = 0
        self.writer: asyncio.Future[None] | None = None

    @ws_authenticated
    async def get(self, *args: Any, **kwargs: Any) -> None:
        """Authorize as the bridge and as terminals, find the manager, take a place, upgrade."""
        await self.authorize_or_403()
        user = self.current_user
        if not await ensure_async(
            self.authorizer.is_authorized(self, user, "execute", TERMINALS_RESOURCE)
        ):
            self.log.warning("Colab bridge: user %s may not use terminals (colab/tty)", user)
            raise web.HTTPError(403)
        if self.auth_url_error is not None:
            raise web.HTTPError(400, f"colab/tty: {self.auth_url_error}")
        self.manager = self.settings.get("terminal_manager")
        if self.manager is None or not self.settings.get("terminals_available"):
            self.log.warning("Colab bridge: refused colab/tty: %s", NO_TERMINALS)
            raise web.HTTPError(404)
        async with self.place():
            await super().get(*args, **kwargs)

    # -- attaching ------------------------------------------------------------
    def open(self, *args: Any, **kwargs: Any) -> None:
        """Attach to the shell (starting it if none runs), detach the previous socket."""
        super().open(*args, **kwargs)
        assert self.manager is not None
        try:
            terminal = self._shell(self.manager)
        except Exception:
            self.log.exception("Colab bridge: could not start the shell of colab/tty")
            self.close(1011, "Could not start the shell: see the server log")
            return
        for client in list(terminal.clients):
            if isinstance(client, TerminalHandler):
                client.give_up_shell()
        self.terminal = terminal
        terminal.clients.append(self)
        replay = recent_output(terminal.read_buffer)
        if replay:
            self.on_pty_read(replay)

    def _shell(self, manager: TerminalManager) -> PtyWithClients:
        if TERMINAL_NAME not in manager.terminals:
            root = Path(self.settings.get("server_root_dir", ".")).expanduser()
            manager.create(name=TERMINAL_NAME, cwd=str(root))
            self.log.info(
                "Colab bridge: started colab/tty's shell in %s (terminal %r in api/terminals)",
                root,
                TERMINAL_NAME,
            )
        return manager.get_terminal(TERMINAL_NAME)

    def give_up_shell(self) -> None:
        """Another socket took the shell: close this one, leave the shell running."""
        self._leave_terminal()
        self.close(1000, DETACHED)

    # -- the shell's output -----------------------------------------------------
    def on_pty_read(self, text: str) -> None:
        """terminado's call with output: send it; pause reading if the page is behind."""
        conn = self.ws_connection
        if conn is None or conn.is_closing():
            return
        self.write_message(self.window.output_frame(text))
        if self.window.should_pause and not self.paused:
            self._reading(False)

    def on_pty_died(self) -> None:
        """terminado's call when the shell has exited: close the socket."""
        self.terminal = None
        self.close(1000, SHELL_EXITED)

    def _reading(self, on: bool) -> None:
        """Pause or resume the manager's reading of the pty (its handler on the event loop)."""
        terminal, manager = self.terminal, self.manager
        if terminal is None or manager is None:
            return
        fd = terminal.ptyproc.fd
        if fd not in manager.ptys_by_fd:
            return  # the shell is gone; the manager no longer reads it
        IOLoop.current().update_handler(fd, IOLoop.READ if on else 0)
        self.paused = not on
        self.log.debug(
            "Colab bridge: colab/tty %s reading (%d acks outstanding)",
            "resumed" if on else "paused",
            self.window.outstanding,
        )

    # -- the page's frames ----------------------------------------------------
    def on_message(self, message: str | bytes) -> Awaitable[None] | None:
        """Keystrokes, a resize or an ack; a frame of another shape closes the socket."""
        if self.terminal is None:
            return None
        if isinstance(message, bytes):
            self._refuse(1003, "colab/tty takes JSON text frames, not binary ones")
            return None
        try:
            frame = parse_tty_frame(message)
        except TtyFrameError as e:
            self._refuse(1007, f"Bad colab/tty frame: {e}")
            return None
        if frame.size is not None:
            self.size = frame.size
            self.terminal.resize_to_smallest()
        if frame.ack and self.window.acked() and self.paused:
            self._reading(True)
        if frame.data:
            return self._queue_input(frame.data)
        return None

    def _refuse(self, code: int, reason: str) -> None:
        self.log.warning("Colab bridge: closing colab/tty with %d: %s", code, reason)
        self.close(code, reason)

    def _queue_input(self, data: str) -> Awaitable[None] | None:
        """Queue keystrokes for the shell; the next frames wait only if many are queued.

        Acks must not wait behind keystrokes that a shell busy writing output
        does not read, so frames are taken at once up to a bound.
        """
        assert self.terminal is not None
        # jupyter_server_terminals' culler reads the activity it sets on each terminal
        self.terminal.last_activity = datetime.now(timezone.utc)  # type: ignore[attr-defined]
        self.pending.append(data)
        self.pending_chars += len(data)
        if self.writer is None:
            self.writer = asyncio.ensure_future(self._write_pending())
        return self.writer if self.pending_chars > MAX_PENDING_INPUT_CHARS else None

    async def _write_pending(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self.pending and self.terminal is not None and self.manager is not None:
                text = self.pending.popleft()
                write = self.terminal.ptyproc.write
                await loop.run_in_executor(self.manager.blocking_io_executor, write, text)
                self.pending_chars -= len(text)
        except OSError as e:  # the shell went away while writing
            self.log.debug("Colab bridge: colab/tty could not write to the shell: %s", e)
        finally:
            self.writer = None

    # -- closing --------------------------------------------------------------
    def _leave_terminal(self) -> None:
        terminal = self.terminal
        if terminal is None:
            return
        if self.paused:
            self._reading(True)  # the shell and other clients go on
        if self in terminal.clients:
            terminal.clients.remove(self)
            terminal.resize_to_smallest()
        self.terminal = None

    def on_close(self) -> None:
        """Detach from the shell (it keeps running), free this socket's place."""
        super().on_close()
        self.release_connection()
        self.pending.clear()
        self._leave_terminal()
