"""``colab/lsp``: a language server per socket, found and run by jupyter-lsp.

jupyter-lsp (the ``lsp`` extra, or JupyterLab's own install) finds the
language servers installed in the server's environment, as JupyterLab does;
its ``LanguageServerSession`` starts one and frames messages for its stdio
(``Content-Length`` headers, read and written off the event loop). This
handler only moves one message per WebSocket text frame to and from that
session. Unlike JupyterLab, which shares one process among its sockets,
each socket gets its own process, ended when the socket closes, as Colab's
runtime does.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import subprocess
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from jupyter_server.auth.decorator import ws_authenticated
from tornado import web
from tornado.ioloop import PeriodicCallback
from traitlets.config import LoggingConfigurable

from ..protocol.language_server import (
    INSTALL_ONE,
    LspFrameError,
    check_lsp_frame,
    choose_python_server,
)
from .base import BridgeSocket

#: Seconds between two looks at whether the language server process still runs.
PROCESS_CHECK_SECONDS = 1.0

#: Seconds a closed socket's language server has to exit after SIGTERM, before SIGKILL.
EXIT_GRACE_SECONDS = 5.0

#: Messages to the language server queued before the page's next frames wait.
MAX_QUEUED_MESSAGES = 64

#: Stopped language servers being waited for (a task needs a reference until it ends).
REAPING: set[asyncio.Future[None]] = set()

NO_SERVER = "No language server is installed: " + INSTALL_ONE
NO_JUPYTER_LSP = "colab/lsp needs jupyter-lsp: pip install 'jupyter_colab_bridge[lsp]'"


def find_language_server(serverapp: Any, log: Any) -> tuple[str, dict[str, Any]] | None:
    """jupyter-lsp's choice of Python language server: (its key, its spec), or None.

    jupyter-lsp's own manager is used when its server extension runs (JupyterLab
    installs it); else one is made for this look-up. None without jupyter-lsp.
    """
    try:
        from jupyter_lsp.manager import LanguageServerManager
    except ImportError:
        return None
    manager = getattr(serverapp, "language_server_manager", None)
    specs = dict(getattr(manager, "language_servers", None) or {})
    if not specs:
        manager = LanguageServerManager(parent=serverapp)
        manager.init_language_servers()
        specs = dict(manager.language_servers)
    key = choose_python_server(specs)
    if key is None:
        return None
    log.info("Colab bridge: colab/lsp runs %s (found by jupyter-lsp)", key)
    return key, specs[key]


def start_session(key: str, spec: dict[str, Any], cwd: str, relay: Any) -> Any:
    """A started jupyter-lsp session running ``spec``'s process in ``cwd``."""
    from jupyter_lsp.session import LanguageServerSession

    class RootedSession(LanguageServerSession):  # type: ignore[misc]
        """jupyter-lsp's session, its process started in the content directory."""

        def init_process(self) -> None:
            self.process = subprocess.Popen(
                self.spec["argv"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=self.substitute_env(self.spec.get("env", {}), dict(os.environ)),
                bufsize=0,
                cwd=cwd,
            )

    session = RootedSession(language_server=key, spec=spec, parent=relay)
    atexit.unregister(session.stop)  # stopped with its socket, not kept until exit
    session.initialize()
    return session


class LspRelay(LoggingConfigurable):
    """The session's parent: hands the language server's messages to the socket."""

    handler: LanguageServerHandler | None = None

    async def on_server_message(self, message: str, session: Any) -> None:
        """jupyter-lsp's call with one message from the language server."""
        if self.handler is not None:
            self.handler.send_to_page(message)


class LanguageServerHandler(BridgeSocket):
    """One page's language server: a process of its own, frames both ways."""

    session: Any = None
    watch: PeriodicCallback | None = None
    relay: LspRelay | None = None

    def initialize(self, *args: Any, **kwargs: Any) -> None:
        """Per-socket state: whether it is closing (a wait for the language server ends)."""
        super().initialize(*args, **kwargs)
        self.closing = asyncio.Event()

    @ws_authenticated
    async def get(self, *args: Any, **kwargs: Any) -> None:
        """Authorize, take a place, upgrade (the process starts once the socket opens)."""
        await self.authorize_or_403()
        if self.auth_url_error is not None:
            raise web.HTTPError(400, f"colab/lsp: {self.auth_url_error}")
        async with self.place():
            await super().get(*args, **kwargs)

    def open(self, *args: Any, **kwargs: Any) -> None:
        """Start this socket's language server, or close with the reason there is none."""
        super().open(*args, **kwargs)
        found = self.bridge.find_language_server()
        if found is None:
            reason = NO_SERVER if find_spec("jupyter_lsp") is not None else NO_JUPYTER_LSP
            self.log.warning("Colab bridge: closing colab/lsp: %s", reason)
            self.close(1011, reason)
            return
        key, spec = found
        root = str(Path(self.settings.get("server_root_dir", ".")).expanduser())
        self.relay = LspRelay(parent=self.bridge)
        self.relay.handler = self
        try:
            self.session = start_session(key, spec, root, self.relay)
        except OSError as e:
            self.log.warning("Colab bridge: could not start the language server %s: %s", key, e)
            self.close(1011, f"Could not start the language server {key}: see the server log")
            return
        self.log.info("Colab bridge: colab/lsp started %s (pid %s)", key, self.session.process.pid)
        self.watch = PeriodicCallback(self._check_process, PROCESS_CHECK_SECONDS * 1000)
        self.watch.start()

    def _check_process(self) -> None:
        process = self.session.process if self.session is not None else None
        code = process.poll() if process is not None else None
        if code is not None:
            self.log.warning("Colab bridge: colab/lsp's language server exited with %s", code)
            self.close(1011, f"The language server exited with code {code}")

    def send_to_page(self, message: str) -> None:
        """One message from the language server, as one text frame."""
        conn = self.ws_connection
        if conn is None or conn.is_closing():
            return
        if self.write_backlog.bytes > self.bridge.max_buffered_bytes:
            self.log.warning(
                "Colab bridge: closing colab/lsp: the page is not reading "
                "(ColabBridge.max_buffered_bytes)"
            )
            self.close(1008, "The page is not reading (ColabBridge.max_buffered_bytes)")
            return
        self.write_backlog.track(self.write_message(message), message)

    def on_message(self, message: str | bytes) -> Any:
        """One JSON-RPC message from the page, to the language server."""
        if self.session is None:
            return None
        if isinstance(message, bytes):
            reason = "colab/lsp takes JSON-RPC text frames, not binary ones"
            self.log.warning("Colab bridge: closing colab/lsp with 1003: %s", reason)
            self.close(1003, reason)
            return None
        try:
            check_lsp_frame(message)
        except LspFrameError as e:
            self.log.warning("Colab bridge: closing colab/lsp with 1007: %s", e)
            self.close(1007, f"Bad colab/lsp frame: {e}")
            return None
        self.session.write(message)
        queue = self.session.to_lsp
        return self._drained(queue) if queue.qsize() > MAX_QUEUED_MESSAGES else None

    async def _drained(self, queue: Any) -> None:
        """Until the language server has taken ``queue``'s messages, or the socket closed."""
        waits = {asyncio.ensure_future(queue.join()), asyncio.ensure_future(self.closing.wait())}
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()

    def on_close(self) -> None:
        """End this socket's language server and free its place."""
        self.closing.set()
        super().on_close()
        self.release_connection()
        if self.watch is not None:
            self.watch.stop()
            self.watch = None
        if self.relay is not None:
            self.relay.handler = None
        session, self.session = self.session, None
        if session is not None:
            process, streams = session.process, (session.reader, session.writer)
            session.stop()  # SIGTERM, streams closed, its tasks cancelled
            for stream in streams:
                if stream is not None:
                    stream.executor.shutdown(wait=False)
            if process is not None:
                task = asyncio.ensure_future(reap(process, self.log))
                REAPING.add(task)
                task.add_done_callback(REAPING.discard)


async def reap(process: subprocess.Popen[bytes], log: Any) -> None:
    """Wait for a stopped language server to exit; SIGKILL it after a grace period."""
    loop = asyncio.get_running_loop()
    try:
        await loop.run_in_executor(None, process.wait, EXIT_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        log.warning("Colab bridge: the language server (pid %s) ignored SIGTERM", process.pid)
        process.kill()
        await loop.run_in_executor(None, process.wait)
