from __future__ import annotations

import logging
from typing import Any

import pytest
from tornado.httpclient import HTTPResponse

# hub_fixtures: a real JupyterHub (tests/hub, tests/browser); needs it only when used
pytest_plugins = ["pytest_jupyter.jupyter_server", "tests.helpers.hub_fixtures"]

TOKEN = "s3cret-t0ken"


@pytest.fixture
def bridge_config() -> dict[str, Any]:
    """Extra ColabBridge settings; override or update in a test module."""
    return {}


@pytest.fixture
def jp_server_config(bridge_config: dict[str, Any]) -> dict[str, Any]:
    return {
        "ServerApp": {"jpserver_extensions": {"jupyter_colab_bridge": True}},
        "IdentityProvider": {"token": TOKEN},
        "ColabBridge": dict(bridge_config),
    }


@pytest.fixture
def token() -> str:
    return TOKEN


@pytest.fixture
def url(
    jp_serverapp: Any, http_server_client: Any, jp_http_port: int, jp_base_url: str, token: str
) -> Any:
    """Builds bridge URLs of the running server (``http_server_client`` makes it listen).

    By default they carry Colab's auth URL with the server's token.
    """
    from tests.helpers.bridge_client import ws_url

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
