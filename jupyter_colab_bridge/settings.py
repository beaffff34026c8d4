"""``ColabBridge``'s settings: the traits, their help and their checks, and nothing else.

A ``HasTraits`` class of its own, apart from the ``ExtensionApp`` in
:mod:`.app`, so that ``jupyter colab-bridge settings`` and the docs' settings
reference read them without importing jupyter_server or tornado's server
(:mod:`.cli`). ``ColabBridge`` inherits every trait from :class:`BridgeSettings`,
so ``c.ColabBridge.<name>`` in a config file or on the command line sets it
as before.
"""

from __future__ import annotations

from typing import Any

from traitlets import Bool, Float, HasTraits, Int, TraitError, Unicode, validate

from .protocol.kernel_map import validate_map
from .protocol.origins import (
    COLAB_ORIGINS,
    OriginConfigError,
    compile_origin_pattern,
    normalize_origin_entry,
)
from .protocol.port_proxy import DEFAULT_PORTS, PortRangeError, PortRanges, parse_port_ranges
from .runtime.resources import RESOURCES_MAX_AGE
from .setting_types import DictSetting, ListSetting


class BridgeSettings(HasTraits):
    """Every ``ColabBridge`` setting (``c.ColabBridge.<name>``), with its help and check."""

    allowed_origins = ListSetting(
        default_value=list(COLAB_ORIGINS),
        config=True,
        help=(
            "Exact origins (scheme://host[:port]) of the web pages that may use this "
            "server through the bridge or direct mode; by default Colab's two origins. "
            "Any other page gets HTTP 403 on the bridge's sockets, token or not. Compared "
            "in lower case, as browsers send origins: an entry is lower-cased, and a "
            "request whose Origin has an upper-case letter is refused. '*', 'null', empty "
            "entries and entries with a path stop the server at start-up. "
            "Example: c.ColabBridge.allowed_origins = ['https://colab.research.google.com', "
            "'https://colab.google.com', 'http://localhost:5173']; on the command line, "
            "quote the whole list: --ColabBridge.allowed_origins='[\"https://colab.research."
            'google.com", "https://colab.google.com", "http://localhost:5173"]\'. A '
            "value replaces the default list: keep Colab's origins in it."
        ),
    )
    allowed_origin_patterns = ListSetting(
        default_value=[],
        config=True,
        help=(
            "Regular expressions for further allowed origins; each must match the "
            "whole origin (re.fullmatch), never a prefix, as browsers send it (scheme and "
            "host in lower case). A pattern that also matches an unrelated origin (such as "
            "https://evil.com or https://attacker.github.io), has an unescaped '.' (which "
            "matches any character: write '\\.') or can backtrack without bound (a repeated "
            "group holding another repetition, such as ([a-z0-9]+-?)+, which any page could "
            "use to stall the server) stops the server at start-up with a message naming "
            "the pattern. Example: "
            r"c.ColabBridge.allowed_origin_patterns = ['https://[a-z0-9-]+\.colab\.example\.com']"
            "; on the command line, quote the whole list: "
            r"""--ColabBridge.allowed_origin_patterns='["https://[a-z0-9-]+\.colab\.example\.com"]'"""
        ),
    )
    max_message_bytes = Int(
        64 * 1024 * 1024,
        config=True,
        help=(
            "Largest WebSocket message (bytes) the bridge accepts from a page; a larger "
            "one closes that socket with code 1009. Uploads travel as base64 in one "
            "message, so this bounds the largest file a page can save at once."
        ),
    )
    max_requests_in_flight = Int(
        256,
        config=True,
        help=(
            "Requests one bridge socket may have running at once; beyond it a request "
            "gets a 503 reply frame at once instead of waiting. A request keeps its "
            "place until its handler finishes, even after its 504 (request_timeout); "
            "if the socket closes first, it counts under max_abandoned_requests instead. "
            "Example: c.ColabBridge.max_requests_in_flight = 64"
        ),
    )
    max_abandoned_requests = Int(
        64,
        config=True,
        help=(
            "Requests, server-wide, whose bridge socket has closed (a Colab tab closed "
            "or reloaded) but whose handler still runs: tornado never stops a handler, "
            "so they run on unanswered. While this many run, every socket's new "
            "requests get a 503 reply frame naming this setting until some finish, so "
            "reopening sockets cannot pile up work (handlers running at once stay "
            "below this plus max_connections x max_requests_in_flight). "
            "Example: c.ColabBridge.max_abandoned_requests = 16"
        ),
    )
    max_connections = Int(
        128,
        config=True,
        help="Bridge WebSockets open at once on this server; more are refused with 503.",
    )
    max_diagnose_connections = Int(
        16,
        config=True,
        help=(
            "Unauthenticated 'http_over_websocket/diagnose' sockets open at once; more are "
            "refused with 503. They have this limit of their own, so that they can never "
            "take the places of the user's sockets (ColabBridge.max_connections)."
        ),
    )
    allow_cookie_auth = Bool(
        False,
        config=True,
        help=(
            "Also accept the server's login cookie (instead of the token) from pages on "
            "allowed origins, on the bridge's sockets and in direct mode, as the original "
            "jupyter_http_over_ws did. Off by default: any page served on an allowed "
            "origin (e.g. a localhost port you added; cookies do not separate ports) "
            "could then run code with an earlier Jupyter login. Colab sends the token and "
            "does not need it. Example: c.ColabBridge.allow_cookie_auth = True"
        ),
    )
    request_timeout = Float(
        300.0,
        config=True,
        help=(
            "Seconds a tunnelled request may take before its reply starts; then the "
            "page gets a 504 reply frame and the reply is abandoned (its handler runs "
            "on, and keeps its place under max_requests_in_flight until it ends). A "
            "reply that is already streaming is paced by the page instead. The port "
            "proxy waits as long for an app's reply to start (then 504). 0 disables "
            "the limit. Example: c.ColabBridge.request_timeout = 600"
        ),
    )
    direct_mode = Bool(
        True,
        config=True,
        help=(
            "Also serve Colab's direct way in: for an allowed origin only, answer CORS "
            "preflights and add the exact origin with Access-Control-Allow-Credentials "
            "to every response (errors included), so the page can call the REST API "
            "with the token. Other origins are answered exactly as without the bridge. "
            "Example: c.ColabBridge.direct_mode = False (HTTP-over-WebSocket only)."
        ),
    )
    upstream_connect_timeout = Float(
        20.0,
        config=True,
        help="Seconds proxied_ws waits for the server's own WebSocket to open.",
    )

    max_buffered_bytes = Int(
        32 * 1024 * 1024,
        config=True,
        help=(
            "Bytes of kernel output the server may hold for one proxied kernel socket "
            "whose page does not read; beyond it the socket is closed with code 1008 "
            "(the page reconnects; the kernel keeps running)."
        ),
    )
    runtime_api = Bool(
        True,
        config=True,
        help=(
            "Serve Colab's runtime API under base_url, authenticated like the rest of "
            "the API: api/colab/resources (the figures of Colab's resource monitor: "
            "memory, each kernel's memory, the disk holding root_dir, NVIDIA GPUs), "
            "api/colab/build-info and api/colab/drive. Off, those paths answer 404 as "
            "on a plain Jupyter server. Example: c.ColabBridge.runtime_api = False"
        ),
    )
    release_tag = Unicode(
        None,
        allow_none=True,
        config=True,
        help=(
            "What api/colab/build-info reports as release_tag (Colab's own runtime "
            "reports its image's build there); null when unset. "
            "Example: c.ColabBridge.release_tag = 'workstation-2025.06'"
        ),
    )
    resources_max_age = Float(
        RESOURCES_MAX_AGE,
        config=True,
        help=(
            "Seconds one reading of api/colab/resources serves further requests, so "
            "several tabs polling every second cost one reading. 0 reads afresh for "
            "each request (requests that arrive together still share one reading). "
            "Example: c.ColabBridge.resources_max_age = 2.0"
        ),
    )

    terminal = Bool(
        True,
        config=True,
        help=(
            "Serve colab/tty, Colab's terminal: one shell per server, a named terminal "
            "('colab') of jupyter_server's terminal manager, so it also shows in "
            "api/terminals and outlives its socket. It is as powerful as a kernel and "
            "guarded by the same token and origin rules. Off, or with "
            "ServerApp.terminals_enabled = False, colab/tty answers 404. "
            "Example: c.ColabBridge.terminal = False"
        ),
    )
    language_server = Bool(
        True,
        config=True,
        help=(
            "Serve colab/lsp, Colab's language server: each socket gets its own process "
            "of the Python language server that jupyter-lsp finds installed (pyright, "
            "basedpyright or python-lsp-server; pip install 'jupyter_colab_bridge[lsp]' "
            "installs python-lsp-server), ended when the socket closes. Off, colab/lsp "
            "answers 404. Example: c.ColabBridge.language_server = False"
        ),
    )

    kernel_map = DictSetting(
        default_value={},
        config=True,
        help=(
            "Which kernel a Colab notebook gets: kernel name the page asks for -> kernel "
            "this server starts instead. Applies only to allowed pages (both ways in) "
            "creating or changing a kernel; JupyterLab and scripts are left alone, and "
            "replies name the kernel that really runs. `jupyter kernelspec list` shows "
            "the names. Example: c.ColabBridge.kernel_map = {'python3': 'myenv', "
            "'ir': 'conda-env-r-r'}"
        ),
    )

    port_proxy = Bool(
        True,
        config=True,
        help=(
            "Serve Colab's port proxy under base_url: _proxy/<port>/<path> reaches a web "
            "app listening on that port of this machine's loopback interface (HTTP and "
            "WebSockets, the prefix stripped), authenticated like the rest of the API. "
            "Off, those paths answer 404. Example: c.ColabBridge.port_proxy = False"
        ),
    )
    port_proxy_ports = Unicode(
        DEFAULT_PORTS,
        config=True,
        help=(
            "Ports the port proxy may reach: a comma-separated list of ports and "
            "ranges. By default every unprivileged port; the server's own port is "
            "never reached. A bad entry stops the server at start-up. "
            "Example: c.ColabBridge.port_proxy_ports = '6006,7860-7870,8501'"
        ),
    )

    @property
    def port_proxy_allowed(self) -> PortRanges:
        """``port_proxy_ports`` parsed (validated at start-up)."""
        return parse_port_ranges(self.port_proxy_ports)

    @validate("allowed_origins")
    def _check_origins(self, proposal: dict[str, Any]) -> list[str]:
        try:
            return [normalize_origin_entry(o) for o in proposal["value"]]
        except OriginConfigError as e:
            raise TraitError(str(e)) from None

    @validate("allowed_origin_patterns")
    def _check_patterns(self, proposal: dict[str, Any]) -> list[str]:
        try:
            for pattern in proposal["value"]:
                compile_origin_pattern(pattern)
        except OriginConfigError as e:
            raise TraitError(str(e)) from None
        return list(proposal["value"])

    @validate("port_proxy_ports")
    def _check_port_proxy_ports(self, proposal: dict[str, Any]) -> str:
        try:
            return parse_port_ranges(proposal["value"]).describe()
        except PortRangeError as e:
            raise TraitError(f"ColabBridge.port_proxy_ports: {e}") from None

    @validate("kernel_map")
    def _check_kernel_map(self, proposal: dict[str, Any]) -> dict[str, str]:
        try:
            return validate_map(proposal["value"])
        except ValueError as e:
            raise TraitError(str(e)) from None

    @validate(
        "max_message_bytes",
        "max_requests_in_flight",
        "max_abandoned_requests",
        "max_connections",
        "max_diagnose_connections",
        "max_buffered_bytes",
    )
    def _check_positive(self, proposal: dict[str, Any]) -> int:
        if proposal["value"] < 1:
            raise TraitError(f"ColabBridge.{proposal['trait'].name} must be at least 1")
        return int(proposal["value"])

    @validate("request_timeout", "upstream_connect_timeout", "resources_max_age")
    def _check_timeout(self, proposal: dict[str, Any]) -> float:
        if proposal["value"] < 0:
            raise TraitError(f"ColabBridge.{proposal['trait'].name} must not be negative")
        return float(proposal["value"])
