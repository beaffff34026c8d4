"""The ``ColabBridge`` server extension: settings, routes and start-up banner."""

from __future__ import annotations

import os
from typing import Any

from jupyter_server.extension.application import ExtensionApp
from tornado.ioloop import IOLoop
from tornado.routing import AnyMatches, Rule
from traitlets import Bool, Dict, Float, Int, List, TraitError, Unicode, validate

from ._compat import missing as compat_missing
from ._version import __version__
from .backend_url import hub_paste_urls, paste_url, ssh_forward_hint
from .protocol.kernel_map import COLAB_PYTHON_KERNEL, colab_python_kernel, validate_map
from .protocol.origins import (
    COLAB_ORIGINS,
    OriginConfigError,
    OriginPolicy,
    compile_origin_pattern,
    normalize_origin_entry,
)
from .protocol.paths import BRIDGE_PREFIX
from .runtime.handlers import runtime_handlers
from .runtime.resources import RESOURCES_MAX_AGE, ResourceSampler, server_sampler
from .server.base import EXTENSION_NAME
from .server.credentials import HOW_TO_SET_A_TOKEN
from .server.direct_mode import DirectModeRules, enable_direct_mode
from .server.handlers import DiagnoseHandler, HttpOverWebSocketHandler
from .server.kernel_channels import KernelChannelsHandler
from .server.kernel_map import KernelMapper
from .server.missing_routes import MissingRouteReporter
from .server.no_cookies import no_cookies_transform
from .server.nodelay import send_websocket_frames_at_once
from .server.page_requests import PageRequestRouter
from .server.proxied_ws import ProxiedWebSocketHandler
from .server.tunnel import AbandonedRequests

_KERNEL_ID = r"(?P<kernel_id>[\w-]+)"


class ColabBridge(ExtensionApp):
    """Lets Google Colab's page use this Jupyter server as a local runtime."""

    name = EXTENSION_NAME
    description = __doc__
    load_other_extensions = True

    allowed_origins = List(
        Unicode(),
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
            "'https://colab.google.com', 'http://localhost:5173']"
        ),
    )
    allowed_origin_patterns = List(
        Unicode(),
        default_value=[],
        config=True,
        help=(
            "Regular expressions for further allowed origins; each must match the "
            "whole origin (re.fullmatch), never a prefix, as browsers send it (scheme and "
            "host in lower case). A pattern that also matches an unrelated origin (such as "
            "https://evil.com or https://attacker.github.io) or has an unescaped '.' (which "
            "matches any character: write '\\.') stops the server at start-up with a "
            "message naming the pattern. Example: "
            r"c.ColabBridge.allowed_origin_patterns = ['https://[a-z0-9-]+\.colab\.example\.com']"
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
            "reply that is already streaming is paced by the page instead. 0 disables "
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

    kernel_map = Dict(
        key_trait=Unicode(),
        value_trait=Unicode(),
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

    def initialize_settings(self) -> None:
        """Share the policy with the handlers, install the request hooks, plan the banner."""
        for line in compat_missing():
            self.log.warning("Colab bridge: %s", line)
        self.origin_policy = OriginPolicy(self.allowed_origins, self.allowed_origin_patterns)
        self.open_connections: set[Any] = set()
        self.diagnose_connections: set[Any] = set()
        self.abandoned_requests = AbandonedRequests(self.max_abandoned_requests)
        assert self.serverapp is not None
        web_app = self.serverapp.web_app
        send_websocket_frames_at_once(web_app, self.log)
        base_url = web_app.settings["base_url"]
        self.kernel_mapper = KernelMapper(self.kernel_map, self.serverapp, base_url, self.log)
        token = str(self.serverapp.identity_provider.token or "")
        pages = PageRequestRouter(
            web_app, self.kernel_mapper, MissingRouteReporter(base_url, token, self.log)
        )
        # First of the server's routes; direct mode's gate, which marks a page's
        # requests, goes in front of it below.
        web_app.default_router.rules.insert(0, Rule(AnyMatches(), pages))
        IOLoop.current().add_callback(self.kernel_mapper.log_start_up)
        web_app.add_transform(no_cookies_transform(self.origin_policy))
        if self.direct_mode:
            rules = DirectModeRules(
                self.origin_policy, web_app.settings["base_url"], self.allow_cookie_auth
            )
            enable_direct_mode(web_app, web_app.settings["identity_provider"], rules, self.log)
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
        if self.runtime_api:
            server = self.serverapp
            assert server is not None
            self.resource_sampler: ResourceSampler = server_sampler(
                server.kernel_manager, server.root_dir, self.log, self.resources_max_age
            )
            self.handlers.extend(runtime_handlers(self.resource_sampler, self.release_tag))

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

    def _log_banner(self) -> None:
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
            lines = [
                f"Colab local runtime bridge (jupyter_colab_bridge {__version__}) is ready.",
                "In Colab, choose Connect > 'Connect to a local runtime' and paste:",
                f"    {self.backend_url()}",
            ]
            identity = server.identity_provider
            if identity.token and not identity.token_generated:
                lines.append("    (replace ... with the token you configured)")
            elif not identity.token:
                lines.append(
                    "    This server has no token, and Colab cannot use a server without "
                    f"one: {HOW_TO_SET_A_TOKEN}"
                )
            lines.extend(self._ssh_lines())
        kernel = colab_python_kernel(self.kernel_map)
        mapped = " (c.ColabBridge.kernel_map)" if kernel != COLAB_PYTHON_KERNEL else ""
        lines.append(f"Colab's Python notebooks run on kernel: {kernel}{mapped}")
        lines.append(f"Allowed page origins: {', '.join(self.origin_policy.describe())}")
        lines.append("If Colab cannot connect, run: jupyter colab-bridge doctor")
        self.log.info("\n".join(lines))
