"""The front door: the one rule the bridge adds to tornado's router.

Every request, either way in, passes it first. It records the request's
verdict (:mod:`.verdict`): judged here for a request on the server's own
socket, taken from the tunnel for a tunnelled one. Then, for a direct
request of an allowed page, direct mode's gate may answer it (a preflight,
a refusal) or adjust its credentials (:class:`.direct_mode.DirectModeGate`).
Otherwise it declines, and tornado goes on to the server's routes, once.

What the bridge does for a page beyond that runs in the handler's life,
after jupyter_server has authenticated the request: the kernel map when
the handler reads its model (:mod:`.kernel_map`), the missing-route line
when the request is logged (:mod:`.missing_routes`), CORS and no-cookies
as output transforms.
"""

from __future__ import annotations

from typing import Any

from tornado import httputil
from tornado.routing import Router

from ..protocol.origins import OriginPolicy
from .direct_mode import DirectModeGate
from .tunnel import TunnelConnection
from .verdict import judge, record


class FrontDoor(Router):
    """Judges each request once, lets direct mode answer, then declines."""

    def __init__(self, policy: OriginPolicy, gate: DirectModeGate | None) -> None:
        self.policy = policy
        #: Direct mode's gate; None when ``ColabBridge.direct_mode`` is off.
        self.gate = gate

    def find_handler(
        self, request: httputil.HTTPServerRequest, **kwargs: Any
    ) -> httputil.HTTPMessageDelegate | None:
        """Record the verdict; a delegate only when direct mode answers the request itself."""
        connection = request.connection
        if isinstance(connection, TunnelConnection):
            record(request, connection.verdict)
            return None  # a tunnelled request has passed its socket's checks
        verdict = judge(request, self.policy)
        record(request, verdict)
        if self.gate is None:
            return None
        return self.gate.answer(request, verdict)
