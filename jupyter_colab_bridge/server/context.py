"""The context of the requests the bridge builds in-process (no kernel map, no tunnel here)."""

from __future__ import annotations


class RequestContext:
    """What tornado reads from ``connection.context``: the peer's address.

    The one context of the requests the bridge builds in-process: tunnelled
    requests and the identity provider's probe (:mod:`.credentials`).
    """

    def __init__(self, remote_ip: str | None, protocol: str) -> None:
        self.remote_ip = remote_ip
        self.protocol = protocol
        self.address = (remote_ip, 0)

    def __str__(self) -> str:
        return str(self.remote_ip)
