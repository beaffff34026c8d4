"""Applies ``ColabBridge.kernel_map`` to an allowed page's request, either way in.

The map runs in the handler's life, after jupyter_server has authenticated
and authorized the request, at the point the handler reads its model: the
bridge serves ``POST api/sessions``, ``PATCH api/sessions/<id>`` and
``POST api/kernels`` with subclasses of jupyter_server's own handlers
(:func:`kernel_map_handlers`, registered only when a map is set) whose
method first rewrites the kernel name in the body
(:func:`..protocol.kernel_map.remap_body`), then runs jupyter_server's. So
a request that fails authentication costs what it costs without the
bridge: no parsing, no kernel listing, no gateway call, no log line.
Requests of anyone but an allowed page (:mod:`.verdict`) go straight to
jupyter_server's method. Replies are never touched: they name the kernel
that really runs. A map that points to a kernel this server lacks gets a
JSON error naming the setting.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import Any, ClassVar

from jupyter_core.utils import ensure_async
from jupyter_server.auth.utils import HTTP_METHOD_TO_AUTH_ACTION
from jupyter_server.base.handlers import APIHandler
from jupyter_server.services.kernels.handlers import MainKernelHandler
from jupyter_server.services.kernels.handlers import default_handlers as kernel_routes
from jupyter_server.services.sessions.handlers import SessionHandler, SessionRootHandler
from jupyter_server.services.sessions.handlers import default_handlers as session_routes
from tornado import web

from ..protocol.kernel_map import (
    BodyNotJson,
    KernelMapError,
    check_target,
    describe_map,
    remap_body,
)
from .base import extension_app
from .verdict import verdict_of

#: The status of the kernel-map error: jupyter_server's own for a kernel it
#: does not have (``POST api/sessions`` answers 501 "<name> not found"), so a
#: page shows it as it shows that; the request is valid, the server lacks the kernel.
KERNEL_MISSING_STATUS = 501

#: The largest body the map reads. A session request is a few hundred bytes
#: (path, name, type, kernel name; JupyterLab's and Colab's stay under 1 KiB);
#: 64 KiB leaves two orders of magnitude and bounds the parse to well under a
#: millisecond. A larger body is left to jupyter_server as it came.
MAX_MAPPED_BODY_BYTES = 64 * 1024


class KernelMapper:
    """The map, the server's kernels and its default kernel name."""

    def __init__(self, kernel_map: dict[str, str], serverapp: Any, log: logging.Logger) -> None:
        self.kernel_map = kernel_map
        self.serverapp = serverapp
        self.log = log

    async def kernel_names(self) -> set[str]:
        """The kernels this server can start (a Kernel Gateway's, on a gateway)."""
        specs = await ensure_async(self.serverapp.kernel_spec_manager.get_all_specs())
        return set(specs)

    @property
    def default_name(self) -> str:
        """The kernel a request that names none gets."""
        return str(self.serverapp.kernel_manager.default_kernel_name)

    def target(self, requested: str) -> str:
        """The kernel a page asking for ``requested`` gets."""
        return self.kernel_map.get(requested, requested)

    async def log_start_up(self) -> None:
        """Say where the map sends pages, and warn about targets that do not exist."""
        if not self.kernel_map:
            return
        try:
            names = await self.kernel_names()
        except Exception:
            self.log.exception("Colab bridge: could not list the kernels to check the kernel map")
            return
        line, missing = describe_map(self.kernel_map, names)
        self.log.info("%s", line)
        for warning in missing:
            self.log.warning("Colab bridge: %s", warning)


class KernelMapHook(APIHandler):
    """Rewrites an allowed page's request body before jupyter_server's method reads it.

    Mixed in before one of jupyter_server's session or kernel handlers; the
    subclass's ``post``/``patch`` awaits :meth:`map_kernel` first.
    """

    #: ``"session"`` or ``"kernel"``: where the body names its kernel.
    kind: ClassVar[str]
    #: jupyter_server's resource of the handler this is mixed into.
    auth_resource: str

    @property
    def kernel_mapper(self) -> KernelMapper:
        """The extension's mapper (its ``kernel_map`` may change while the server runs)."""
        return extension_app(self.settings).kernel_mapper

    async def map_kernel(self) -> None:
        """Rewrite ``request.body`` for an allowed page's authorized request; else nothing.

        The method is ``@web.authenticated``, as jupyter_server's; a request
        the authorizer refuses is left as it is, for jupyter_server's own
        ``@authorized`` to refuse.
        """
        mapper = self.kernel_mapper
        if not mapper.kernel_map or not verdict_of(self.request).from_allowed_page:
            return
        if not await self._authorized():
            return
        request = self.request
        method = request.method or ""
        if len(request.body) > MAX_MAPPED_BODY_BYTES:
            self.log.warning(
                "Colab bridge: %s %s: a body of %d bytes is no session request; "
                "ColabBridge.kernel_map reads at most %d",
                method,
                request.path,
                len(request.body),
                MAX_MAPPED_BODY_BYTES,
            )
            return
        try:
            remap = remap_body(
                self.kind, method, request.body, mapper.kernel_map, mapper.default_name
            )
        except BodyNotJson as e:
            raise web.HTTPError(400, str(e), reason="not JSON") from None
        if remap is None:
            return
        try:
            names = await mapper.kernel_names()
        except Exception:
            self.log.exception(
                "Colab bridge: %s %s: could not list the kernels for ColabBridge.kernel_map",
                method,
                request.path,
            )
            message = (
                "The server could not list its kernels to apply c.ColabBridge.kernel_map; "
                "see the server's log."
            )
            raise web.HTTPError(500, message, reason="kernel list failed") from None
        try:
            check_target(remap, names)
        except KernelMapError as e:
            self.log.warning("Colab bridge: %s %s: %s", method, request.path, e)
            # APIHandler writes {"message": <log_message>, "reason": <reason>}; kernel
            # names hold no "%" (validate_map), so the message needs no escaping.
            raise web.HTTPError(KERNEL_MISSING_STATUS, str(e), reason=e.reason) from None
        self.log.info(
            "Colab bridge: %s %s: kernel %r -> %r (ColabBridge.kernel_map)",
            method,
            request.path,
            remap.requested,
            remap.mapped,
        )
        request.body = remap.body

    async def _authorized(self) -> bool:
        """What jupyter_server's ``@web.authenticated`` and ``@authorized`` will find."""
        user = self.current_user
        if not user:
            return False
        action = HTTP_METHOD_TO_AUTH_ACTION[(self.request.method or "").upper()]
        return bool(
            await ensure_async(
                self.authorizer.is_authorized(self, user, action, self.auth_resource)
            )
        )


class MappedSessionRootHandler(KernelMapHook, SessionRootHandler):
    """``api/sessions``: ``POST`` creates a session with the mapped kernel."""

    kind = "session"

    @web.authenticated
    async def post(self) -> None:
        """The map, then jupyter_server's ``post``."""
        await self.map_kernel()
        await _run(super().post())


class MappedSessionHandler(KernelMapHook, SessionHandler):
    """``api/sessions/<id>``: ``PATCH`` changes to the mapped kernel."""

    kind = "session"

    @web.authenticated
    async def patch(self, session_id: str) -> None:
        """The map, then jupyter_server's ``patch``."""
        await self.map_kernel()
        await _run(super().patch(session_id))


class MappedKernelsHandler(KernelMapHook, MainKernelHandler):
    """``api/kernels``: ``POST`` starts the mapped kernel."""

    kind = "kernel"

    @web.authenticated
    async def post(self) -> None:
        """The map, then jupyter_server's ``post``."""
        await self.map_kernel()
        await _run(super().post())


async def _run(method: Awaitable[None] | None) -> None:
    """Await jupyter_server's method (tornado types a handler's method as maybe-awaitable)."""
    if method is not None:
        await method


def kernel_map_handlers() -> list[tuple[str, type[web.RequestHandler]]]:
    """The routes of the three handlers, as jupyter_server spells them (without ``base_url``)."""
    ours: dict[type[web.RequestHandler], type[web.RequestHandler]] = {
        SessionRootHandler: MappedSessionRootHandler,
        SessionHandler: MappedSessionHandler,
        MainKernelHandler: MappedKernelsHandler,
    }
    return [
        (pattern, ours[handler])
        for pattern, handler, *_ in (*session_routes, *kernel_routes)
        if handler in ours
    ]
