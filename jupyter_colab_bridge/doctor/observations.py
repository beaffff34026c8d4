"""What the doctor observed, as plain data: checks fill it in, diagnoses judge it.

:mod:`.server_info` finds the local servers (:class:`RunningServer`) and the
settings they run with (:class:`BridgeConfig`); :mod:`.colab_client` and
:mod:`.kernel_run` see the server as Colab's page does (:class:`ApiAnswer`,
:class:`KernelRun`); :mod:`.checks` gathers what one check saw into a
``...Seen`` record. :mod:`.diagnoses` turns each into a verdict without I/O,
so it imports this module and never those that observe.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RunningServer:
    """One running Jupyter server, from its runtime file."""

    backend_url: str
    scheme: str
    ip: str
    host: str
    port: int
    base_url: str
    token: str
    pid: int | None
    root_dir: str
    sock: str
    version: str
    password: bool = False


@dataclass(frozen=True)
class Place:
    """Where the doctor runs: a container, an SSH session (then the laptop's forward command)."""

    container: bool = False
    ssh_forward: str | None = None  # ``ssh -N -L ...`` (backend_url.ssh_forward_hint) in SSH


@dataclass
class BridgeConfig:
    """The bridge's settings as a server started now (or the given one) sees them."""

    enabled: bool | None = None
    disabled_by: list[str] = field(default_factory=list)
    allowed_origins: list[str] = field(default_factory=list)
    allowed_origin_patterns: list[str] = field(default_factory=list)
    kernel_map: dict[str, str] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)
    error: str | None = None


@dataclass(frozen=True)
class ApiAnswer:
    """What ``GET {base_url}api`` answered: status, version, and signs of a JupyterHub."""

    status: int
    version: str | None
    hub_version: str | None  # X-JupyterHub-Version: a Hub, or a Hub's user server, answered
    location: str | None  # where a redirect points


@dataclass(frozen=True)
class KernelRun:
    """What running code on a fresh kernel through the bridge gave."""

    kernel_name: str
    subprotocol: str | None
    result: str
    more: tuple[str, ...] = ()


@dataclass(frozen=True)
class ServerSeen:
    """What ``GET {base_url}api`` gave: an answer, or why none came."""

    answer: ApiAnswer | None = None
    error: str = ""  # no answer: the client's words
    refused: bool = False  # no answer: the connection was refused


@dataclass(frozen=True)
class EndpointsSeen:
    """What ``{base_url}http_over_websocket/diagnose`` answered Colab's origin."""

    path: str  # the socket's path, base_url included
    status: int | None = None  # 101 when it opened, else the refusal's HTTP status; None: no answer
    error: str = ""  # why nothing answered, or why the opened socket did not reply
    reply: dict[str, Any] | None = None  # the diagnose socket's reply, when it opened
    python: str | None = None  # on a 404: the Python the server runs, where the system shows it
    imports: bool | None = None  # on a 404: whether that Python imports the bridge


@dataclass(frozen=True)
class HandshakeSeen:
    """Colab's handshake with the token, and ``GET api/kernelspecs`` through the socket."""

    refused: str | None = None  # the socket did not open: the client's words
    status: int | None = None  # ... and the refusal's HTTP status
    alone: int = 0  # on a 403: the same handshake without Origin (101: it opened)
    hub: tuple[int | None, str | None] | None = None  # on a Hub's 403: what it said of the token
    no_reply: str | None = None  # the socket opened, the request got no reply: why
    reply_status: int = 0  # the request's reply: status, status text, kernel specs
    reply_text: str = ""
    specs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SurfaceSeen:
    """What ``colab/tty`` or ``colab/lsp`` answered Colab's handshake with the token.

    ``status``: the HTTP status (101 when the socket opened; for ``colab/tty``,
    a plain GET's 400 means the route is there and authenticated, no shell
    started); ``answer``: what came back (the language server's name);
    ``closed``: the close reason when the socket closed instead; ``error``: why
    nothing usable came back.
    """

    status: int = 0
    answer: str | None = None
    closed: str | None = None
    error: str | None = None
