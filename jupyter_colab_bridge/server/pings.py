"""One ping timer per bridge socket: jupyter_server's, in milliseconds; tornado's off.

jupyter_server's ``WebSocketMixin`` pings by itself every ``ws_ping_interval``
milliseconds (30000) and closes a socket whose pong is ``ws_ping_timeout``
late (90000). Its ``ping_interval`` and ``ping_timeout`` properties hide
tornado's own, which tornado reads in *seconds* when it builds the socket's
protocol: tornado then planned its own pings every 30000 s (8 hours) with a
90000 s timeout, and tornado 6.5+ logs on the first socket, on a default
configuration, ``The websocket_ping_timeout (90000) cannot be longer than
the websocket_ping_interval (30000)`` (jupyter_server issue #1612). The
bridge's sockets keep jupyter_server's timer and turn tornado's off.
(jupyter_server's own kernel socket, which direct mode uses, still logs it
until jupyter_server fixes the mixin.)
"""

from __future__ import annotations

from tornado.websocket import WebSocketProtocol, WebSocketProtocol13


def without_tornado_pings(protocol: WebSocketProtocol | None) -> WebSocketProtocol | None:
    """``protocol`` with tornado's own pings off (jupyter_server's timer pings instead)."""
    if isinstance(protocol, WebSocketProtocol13):
        protocol.params.ping_interval = None
        protocol.params.ping_timeout = None
    return protocol
