"""The ``ColabBridge`` server extension: settings, routes and start-up banner."""

from __future__ import annotations

import os
from typing import Any

from jupyter_server.extension.application import ExtensionApp
from tornado.ioloop import IOLoop
from tornado.routing import AnyMatches, Rule
from traitlets import Bool, Float, Int, TraitError, Unicode, observe, validate

from ._compat import missing as compat_missing
from ._version import __version__
from .backend_url import hub_paste_urls, no_token_lines, paste_url, ssh_forward_hint
from .protocol.kernel_map import COLAB_PYTHON_KERNEL, colab_python_kernel, validate_map
from .protocol.origins import (
    COLAB_ORIGINS,
    OriginConfigError,
    OriginPolicy,
    compile_origin_pattern,
    normalize_origin_entry,
)
from .protocol.paths import BRIDGE_PREFIX, LANGUAGE_SERVER_PATH, TERMINAL_PATH
from .protocol.port_proxy import (
    DEFAULT_PORTS,
    PROXY_PREFIX,
    PortRangeError,
    PortRanges,
    parse_port_ranges,
)
from .runtime.handlers import runtime_handlers
from .runtime.resources import RESOURCES_MAX_AGE, ResourceSampler, server_sampler
from .server.base import EXTENSION_NAME, ConnectionLimit
from .server.direct_mode import DirectModeRules, enable_direct_mode
from .server.front_door import FrontDoor
from .server.handlers import DiagnoseHandler, HttpOverWebSocketHandler
from .server.kernel_channels import KernelChannelsHandler
from .server.kernel_map import KernelMapper, kernel_map_handlers
from .server.language_server import LanguageServerHandler, find_language_server
from .server.missing_routes import MissingRouteReporter, report_after_logging
from .server.no_cookies import NoCookiesTransform
from .server.nodelay import send_websocket_frames_at_once
from .server.port_proxy import PortProxyHandler
from .server.proxied_ws import ProxiedWebSocketHandler
from .server.terminal import TerminalHandler
from .server.tunnel import AbandonedRequests
from .setting_types import DictSetting, ListSetting

_KERNEL_ID = r"(?P<kernel_id>[\w-]+)"


class ColabBridge(ExtensionApp):
    """Lets Google Colab's page use this Jupyter server as a local runtime."""

    name = EXTENSION_NAME
    description = __doc__
    load_other_extensions = True

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

    _language_server: tuple[str, dict[str, Any]] | None = None

    def update_config(self, config: Any) -> None:
        """Refuse to start on a bad ColabBridge setting.

        jupyter_server loads the extension's settings through ``update_config``
        (config files, the server's config, the command line) and would log a
        failure and serve the bridge with its defaults, which is not what the
        user asked for: stop instead.
        """
        try:
            super().update_config(config)
        except TraitError as e:
            self.log.critical("Colab bridge: invalid configuration: %s. Not starting.", e)
            raise SystemExit(1) from None

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

    @observe("max_connections", "max_diagnose_connections")
    def _follow_limits(self, change: dict[str, Any]) -> None:
        limit = {"max_connections": "connections", "max_diagnose_connections": "diagnose_limit"}
        connection_limit = getattr(self, limit[change["name"]], None)
        if connection_limit is not None:  # not yet built: it reads the setting then
            connection_limit.limit = change["new"]

    def initialize_settings(self) -> None:
        """Share the policy with the handlers, install the request hooks, plan the banner."""
        for line in compat_missing():
            self.log.warning("Colab bridge: %s", line)
        self.origin_policy = OriginPolicy(self.allowed_origins, self.allowed_origin_patterns)
        self.connections = ConnectionLimit(self.max_connections, "max_connections")
        self.diagnose_limit = ConnectionLimit(
            self.max_diagnose_connections, "max_diagnose_connections"
        )
        self.open_connections = self.connections.open
        self.diagnose_connections = self.diagnose_limit.open
        self._warn_without_colab()
        self.abandoned_requests = AbandonedRequests(self.max_abandoned_requests)
        assert self.serverapp is not None
        web_app = self.serverapp.web_app
        send_websocket_frames_at_once(web_app, self.log)
        base_url = web_app.settings["base_url"]
        self.kernel_mapper = KernelMapper(self.kernel_map, self.serverapp, self.log)
        IOLoop.current().add_callback(self.kernel_mapper.log_start_up)
        token = str(self.serverapp.identity_provider.token or "")
        report_after_logging(self.settings, MissingRouteReporter(base_url, token, self.log))
        web_app.add_transform(NoCookiesTransform)
        gate = None
        if self.direct_mode:
            rules = DirectModeRules(base_url, self.allow_cookie_auth)
            gate = enable_direct_mode(
                web_app, web_app.settings["identity_provider"], rules, self.log
            )
        # The bridge's one rule in tornado's router, ahead of every extension's
        # and the server's own routes: each request's verdict is recorded there.
        web_app.default_router.rules.insert(
            0, Rule(AnyMatches(), FrontDoor(self.origin_policy, gate))
        )
        IOLoop.current().add_callback(self._log_banner)

    def initialize_handlers(self) -> None:
        """Register the bridge's endpoints and Colab's runtime API (prefixed with ``base_url``)."""
        self.handlers.extend(
            [
                (rf"/{BRIDGE_PREFIX}", HttpOverWebSocketHandler),
                (rf"/{BRIDGE_PREFIX}/diagnose", DiagnoseHandler),
                (
                    rf"/{BRIDGE_PREFIX}/proxied_ws/api/kernels/{_KERNEL_ID}/channels",
                    KernelChannelsHandler,
                ),
                (rf"/{BRIDGE_PREFIX}/proxied_ws/(?P<path>.+)", ProxiedWebSocketHandler),
            ]
        )
        if self.port_proxy:
            self.handlers.append((rf"/{PROXY_PREFIX}/.*", PortProxyHandler))
        if self.kernel_map:
            # jupyter_server's session and kernel handlers, with the map applied
            # after authentication (ahead of the server's own routes).
            self.handlers.extend(kernel_map_handlers())
        if self.terminal and self.serverapp is not None and self.serverapp.terminals_enabled:
            self.handlers.append((rf"/{TERMINAL_PATH}", TerminalHandler))
        if self.language_server:
            self.handlers.append((rf"/{LANGUAGE_SERVER_PATH}", LanguageServerHandler))
        if self.runtime_api:
            server = self.serverapp
            assert server is not None
            self.resource_sampler: ResourceSampler = server_sampler(
                server.kernel_manager, server.root_dir, self.log, self.resources_max_age
            )
            self.handlers.extend(runtime_handlers(self.resource_sampler, self.release_tag))

    def find_language_server(self) -> tuple[str, dict[str, Any]] | None:
        """colab/lsp's language server (jupyter-lsp's key and spec), looked up once found.

        Not found, it is looked up again for the next socket: a language server
        installed while the server runs is used without a restart.
        """
        if self._language_server is None:
            self._language_server = find_language_server(self.serverapp, self.log)
        return self._language_server

    def backend_url(self, mask_configured_token: bool = True) -> str:
        """The URL to paste into Colab's "Connect to a local runtime" dialog."""
        server = self.serverapp
        assert server is not None
        identity = server.identity_provider
        shown = identity.token
        if shown and mask_configured_token and not identity.token_generated:
            shown = "..."  # as jupyter_server's own start-up lines do
        return paste_url(bool(server.certfile), server.ip, server.port, server.base_url, shown)

    def _ssh_lines(self) -> list[str]:
        """Inside an SSH session: the laptop's port forward, and the URL to paste there."""
        server = self.serverapp
        assert server is not None
        command = ssh_forward_hint(os.environ, server.port, listen_ip=server.ip)
        if command is None:
            return []
        shown = self.backend_url().partition("?")[2]
        local = paste_url(bool(server.certfile), "localhost", server.port, server.base_url, "")
        return [
            "This server runs in an SSH session, and Colab's page reaches a plain-HTTP server",
            "only on localhost. On your laptop, run:",
            f"    {command}",
            "then paste there:",
            f"    {local}{'?' + shown if shown else ''}",
        ]

    async def _log_banner(self) -> None:
        server = self.serverapp
        if server is None or server.sock:
            return
        hub = hub_paste_urls(os.environ)
        if hub is not None:
            server_url, token_page = hub
            lines = [
                f"Colab local runtime bridge (jupyter_colab_bridge {__version__}) is ready "
                "on this JupyterHub server.",
                "In Colab, choose Connect > 'Connect to a local runtime' and paste:",
                f"    {server_url}?token=<token>",
                f"    with a token of yours from the Hub's token page: {token_page}",
            ]
        else:
            identity = server.identity_provider
            lines = [f"Colab local runtime bridge (jupyter_colab_bridge {__version__}) is ready."]
            if not identity.token:
                # No URL to paste: Colab cannot use one without a token.
                password = bool(getattr(identity, "hashed_password", ""))
                lines.extend(no_token_lines(password))
            else:
                lines.append("In Colab, choose Connect > 'Connect to a local runtime' and paste:")
                lines.append(f"    {self.backend_url()}")
                if not identity.token_generated:
                    lines.append("    (replace ... with the token you configured)")
                lines.extend(self._ssh_lines())
        lines.append(await self._kernel_line())
        lines.append(f"Allowed page origins: {', '.join(self.origin_policy.describe())}")
        lines.append("If Colab cannot connect, run: jupyter colab-bridge doctor")
        self.log.info("\n".join(lines))

    async def _kernel_line(self) -> str:
        """The kernel Colab's Python notebooks get, flagged when this server lacks it."""
        kernel = colab_python_kernel(self.kernel_map)
        if kernel == COLAB_PYTHON_KERNEL:
            return f"Colab's Python notebooks run on kernel: {kernel}"
        line = f"Colab's Python notebooks run on kernel: {kernel} (c.ColabBridge.kernel_map)"
        try:
            names = await self.kernel_mapper.kernel_names()
        except Exception:  # the kernel mapper's own start-up line logs why
            return line
        if kernel not in names:
            line += (
                f" -- NOT A KERNEL OF THIS SERVER: Colab's notebooks will fail to start "
                f"(kernels: {', '.join(sorted(names)) or '(none)'})"
            )
        return line

    def _warn_without_colab(self) -> None:
        """A WARNING when the allowlist no longer lets Colab's own pages in."""
        refused = [o for o in COLAB_ORIGINS if not self.origin_policy.allows(o)]
        if not refused:
            return
        self.log.warning(
            "Colab bridge: ColabBridge.allowed_origins no longer allows Colab's own %s %s, "
            "so Colab cannot connect to this server. A value you set replaces the default "
            "list; to add an origin, keep Colab's: c.ColabBridge.allowed_origins = %r",
            "origin" if len(refused) == 1 else "origins",
            " and ".join(refused),
            [*COLAB_ORIGINS, *(o for o in self.allowed_origins if o not in COLAB_ORIGINS)],
        )
