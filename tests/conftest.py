"""Fixtures of the main suite (pytest-jupyter's ``jp_*`` fixtures start the server).

Each fixture is defined here once; a test module may override ``bridge_config``,
``token`` or ``jp_server_config`` to configure its server (pytest-jupyter's idiom).

bridge_config: extra ColabBridge settings of the test's server (empty by default).
jp_server_config: the server's config: the bridge enabled, the ``token``, ``bridge_config``.
token: the server's token (``TOKEN``).
url: builds bridge URLs (``ws://``) of the running server, with Colab's auth URL and the token.
fetch: a raw HTTP request to the running server, as a page or script sends it.
bridge_app: the loaded ColabBridge extension app.
server_log: every log record of the server (all loggers, all levels) during the test.
sockets: a list of client WebSockets, each closed after the test.
open_bridge: opens a bridge socket as Colab does; a ``BridgeClient``, closed after the test.
probe_routes: adds the test-only ``adv-*`` routes (tests.helpers.probes) to the server.
listener: a TCP listener on another local port that counts who connects.

Plugins: pytest-jupyter's server fixtures (``jp_serverapp``, ``jp_fetch``,
``jp_base_url`` ``/a%40b/``, ...), and tests.helpers.hub_fixtures, a real
JupyterHub for tests/hub and tests/browser, started only when used:

hub: a JupyterHub for the module, users alice, bob and carol created.
hub_server_args: extra command-line arguments of the users' servers (override per module).
alice, bob: the user's server, started once for the module, and a Hub API token.
carol: a user whose server was never started, and a Hub API token.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from tornado.httpclient import HTTPResponse
from tornado.websocket import WebSocketClientConnection

from tests.helpers.bridge_client import COLAB_ORIGIN, BridgeClient, connect, ws_url
from tests.helpers.probes import Failing, HeaderEcho, Listener, Redirector, Slow, echo_ws_class

# hub_fixtures: a real JupyterHub (tests/hub, tests/browser); needs it only when used
pytest_plugins = ["pytest_jupyter.jupyter_server", "tests.helpers.hub_fixtures"]

TOKEN = "s3cret-t0ken"


@pytest.fixture
def bridge_config() -> dict[str, Any]:
    """Extra ColabBridge settings; override or update in a test module."""
    return {}


@pytest.fixture
def jp_server_config(bridge_config: dict[str, Any], token: str) -> dict[str, Any]:
    return {
        "ServerApp": {"jpserver_extensions": {"jupyter_colab_bridge": True}},
        "IdentityProvider": {"token": token},
        "ColabBridge": dict(bridge_config),
    }


@pytest.fixture
def token() -> str:
    """The server's token; a module may override it (e.g. one with characters to encode)."""
    return TOKEN


@pytest.fixture
def url(
    jp_serverapp: Any, http_server_client: Any, jp_http_port: int, jp_base_url: str, token: str
) -> Any:
    """Builds bridge URLs of the running server (``http_server_client`` makes it listen).

    By default they carry Colab's auth URL with the server's token.
    """

    def make(endpoint: str = "http_over_websocket", **kwargs: Any) -> str:
        kwargs.setdefault("token", token)
        return ws_url(jp_http_port, jp_base_url, endpoint, **kwargs)

    return make


@pytest.fixture
def fetch(http_server: Any, jp_http_port: int, jp_base_url: str) -> Any:
    """A raw HTTP request to the running server, as a page or a script sends it.

    No credentials unless given, redirects not followed, error statuses
    returned; ``path`` is relative to ``base_url`` (or to ``base``, if given).
    """

    async def _fetch(
        path: str,
        method: str = "GET",
        headers: dict[str, str] | None = None,
        body: str | None = None,
        base: str | None = None,
    ) -> HTTPResponse:
        from tests.helpers.bridge_client import fetch_url

        url = f"http://127.0.0.1:{jp_http_port}{jp_base_url if base is None else base}{path}"
        return await fetch_url(url, method, headers, body)

    return _fetch


@pytest.fixture
def bridge_app(jp_serverapp: Any) -> Any:
    """The loaded ColabBridge extension app (fails if it did not load)."""
    from jupyter_colab_bridge.server.base import extension_app

    return extension_app(jp_serverapp.web_app.settings)


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def text(self) -> str:
        parts = []
        for r in self.records:
            parts.append(r.getMessage())
            if r.exc_info:
                parts.append(logging.Formatter().formatException(r.exc_info))
        return "\n".join(parts)


def _extension_apps(serverapp: Any) -> list[Any]:
    apps = []
    for ext in serverapp.extension_manager.extensions.values():
        for point in ext.extension_points.values():
            if point.app is not None:
                apps.append(point.app)
    return apps


@pytest.fixture
def server_log(jp_serverapp: Any) -> Any:
    """Every log record of the server (all loggers, all levels) during the test."""
    capture = _Capture()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(capture)
    root.setLevel(logging.DEBUG)
    loggers = [
        lg for lg in logging.Logger.manager.loggerDict.values() if isinstance(lg, logging.Logger)
    ]
    loggers += [jp_serverapp.log] + [ext.log for ext in _extension_apps(jp_serverapp)]
    added = [lg for lg in set(loggers) if capture not in lg.handlers and not lg.propagate]
    for lg in added:
        lg.addHandler(capture)
    yield capture
    root.removeHandler(capture)
    root.setLevel(old_level)
    for lg in added:
        lg.removeHandler(capture)


@pytest.fixture
def sockets() -> Iterator[list[WebSocketClientConnection]]:
    """Client WebSockets a test opened; each is closed after the test."""
    opened: list[WebSocketClientConnection] = []
    yield opened
    for ws in opened:
        ws.close()


@pytest.fixture
def open_bridge(url: Any, sockets: list[WebSocketClientConnection]) -> Any:
    """Opens a bridge socket as Colab's page does; a ``BridgeClient``, closed after the test.

    ``endpoint`` and the ``url`` fixture's arguments (``token``, ``params``,
    ``auth_host``) build the URL; ``origin`` (Colab's by default), ``headers``
    and ``subprotocols`` go to the handshake.
    """

    async def _open(
        endpoint: str = "http_over_websocket",
        *,
        origin: str | None = COLAB_ORIGIN,
        headers: dict[str, str] | None = None,
        subprotocols: list[str] | None = None,
        **url_kwargs: Any,
    ) -> BridgeClient:
        ws = await connect(
            url(endpoint, **url_kwargs), origin=origin, headers=headers, subprotocols=subprotocols
        )
        sockets.append(ws)
        return BridgeClient(ws)

    return _open


@pytest.fixture
def probe_routes(jp_serverapp: Any, jp_base_url: str) -> Iterator[None]:
    """Adds the test-only routes (tests.helpers.probes) to the running server.

    Under ``base_url``: ``adv-headers`` (echoes the request's headers),
    ``adv-redirect?to=`` (a 302), ``adv-fail`` (a 500), ``adv-slow`` (answers
    once ``Slow.release`` is set, released after the test) and ``adv-echo-ws``
    (a WebSocket echo). Reach them with ``url``, ``bridge_app``, ``jp_base_url``.
    """
    Slow.release = asyncio.Event()
    Slow.gone = []
    jp_serverapp.web_app.add_handlers(
        ".*$",
        [
            (f"{jp_base_url}adv-headers", HeaderEcho),
            (f"{jp_base_url}adv-redirect", Redirector),
            (f"{jp_base_url}adv-fail", Failing),
            (f"{jp_base_url}adv-slow", Slow),
            (f"{jp_base_url}adv-echo-ws", echo_ws_class()),
        ],
    )
    yield
    Slow.release.set()


@pytest.fixture
def listener() -> Iterator[Listener]:
    """A TCP listener on another local port that counts who connects."""
    lst = Listener()
    yield lst
    lst.close()
