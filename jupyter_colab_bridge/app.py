"""The ``ColabBridge`` server extension: settings, routes and start-up banner."""

from __future__ import annotations

import os
from typing import Any

from jupyter_server.extension.application import ExtensionApp
from tornado.ioloop import IOLoop
from tornado.routing import AnyMatches, Rule
from traitlets import TraitError, observe

from ._compat import missing as compat_missing
from ._version import __version__
from .backend_url import hub_paste_urls, no_token_lines, paste_url, ssh_forward_hint
from .protocol.kernel_map import COLAB_PYTHON_KERNEL, colab_python_kernel
from .protocol.origins import (
    COLAB_ORIGINS,
    OriginPolicy,
)
from .protocol.paths import BRIDGE_PREFIX, LANGUAGE_SERVER_PATH, TERMINAL_PATH
from .protocol.port_proxy import (
    PROXY_PREFIX,
)
from .runtime.handlers import runtime_handlers
from .runtime.resources import ResourceSampler, server_sampler
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
from .settings import BridgeSettings

_KERNEL_ID = r"(?P<kernel_id>[\w-]+)"


class ColabBridge(BridgeSettings, ExtensionApp):
    """Lets Google Colab's page use this Jupyter server as a local runtime."""

    name = EXTENSION_NAME
    description = __doc__
    load_other_extensions = True

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
