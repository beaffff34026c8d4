"""One ping timer per bridge socket (server/pings.py): no tornado warning on a default setup.

tornado logs ``websocket_ping_timeout (90000) cannot be longer than ...`` once
per process (``de_dupe_gen_log``), so each test forgets what it logged first.
"""

from __future__ import annotations

from typing import Any

import pytest
from tornado import websocket

from jupyter_colab_bridge.server.base import BridgeSocket

PING_WARNING = "websocket_ping_timeout"


@pytest.fixture
def fresh_tornado_log() -> None:
    """Forget what tornado logged once; tornado before 6.5 has no such warning to forget."""
    de_dupe = getattr(websocket, "de_dupe_gen_log", None)
    if de_dupe is not None:
        de_dupe.cache_clear()


def bridge_handlers(bridge_app: Any) -> list[BridgeSocket]:
    found = bridge_app.open_connections | bridge_app.diagnose_connections
    return [h for h in found if isinstance(h, BridgeSocket)]


@pytest.mark.parametrize("endpoint", ["http_over_websocket", "http_over_websocket/diagnose"])
async def test_the_first_socket_logs_no_ping_warning(
    fresh_tornado_log: None, open_bridge: Any, bridge_app: Any, server_log: Any, endpoint: str
) -> None:
    client = await open_bridge(endpoint)
    assert client is not None
    assert PING_WARNING not in server_log.text()
    (handler,) = bridge_handlers(bridge_app)
    connection = handler.ws_connection
    assert connection is not None
    assert connection.ping_interval == 0  # tornado's own pings are off...
    assert handler.ping_callback is not None  # ...and jupyter_server's timer runs
    assert handler.ping_callback.callback_time == handler.ping_interval == 30000
