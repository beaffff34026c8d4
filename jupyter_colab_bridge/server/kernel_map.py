"""Applies ``ColabBridge.kernel_map`` to an allowed page's request, either way in.

:class:`KernelMapDelegate` stands in front of the route tornado found: it
buffers the request body, rewrites the kernel name
(:func:`..protocol.kernel_map.remap_body`), then hands headers and the new
body to that route. Replies are never touched: they name the kernel that
really runs. A map that points to a kernel this server lacks gets a JSON
error (:class:`KernelMapErrorHandler`), after the request's own
authentication and authorization.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from jupyter_core.utils import ensure_async
from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from tornado import httputil, web

from ..protocol.kernel_map import KernelMapError, describe_map, remap_body

#: The status of the kernel-map error: jupyter_server's own for a kernel it
#: does not have (``POST api/sessions`` answers 501 "<name> not found"), so a
#: page shows it as it shows that; the request is valid, the server lacks the kernel.
KERNEL_MISSING_STATUS = 501


class KernelMapper:
    """The map, the server's kernels and its default kernel name."""

    def __init__(
        self, kernel_map: dict[str, str], serverapp: Any, base_url: str, log: logging.Logger
    ) -> None:
        self.kernel_map = kernel_map
        self.serverapp = serverapp
        self.base_url = base_url
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


class KernelMapErrorHandler(APIHandler):
    """Answers a request the map sent to a missing kernel, once it is authorized."""

    def initialize(self, status: int, message: str, reason: str, auth_resource: str) -> None:
        self.status = status
        self.message = message
        self.short_reason = reason
        self.auth_resource = auth_resource

    def _refuse(self) -> None:
        # APIHandler writes {"message": <log_message>, "reason": <reason>}; kernel
        # names hold no "%" (validate_map), so the message needs no escaping.
        raise web.HTTPError(self.status, self.message, reason=self.short_reason)

    @web.authenticated
    @authorized
    def post(self, *args: Any, **kwargs: Any) -> None:
        """``POST api/sessions`` or ``POST api/kernels``."""
        self._refuse()

    @web.authenticated
    @authorized
    def patch(self, *args: Any, **kwargs: Any) -> None:
        """``PATCH api/sessions/<id>``."""
        self._refuse()


class KernelMapDelegate(httputil.HTTPMessageDelegate):
    """Buffers a request's body, rewrites it, then hands it to ``downstream``."""

    def __init__(
        self,
        mapper: KernelMapper,
        request: httputil.HTTPServerRequest,
        kind: str,
        downstream: httputil.HTTPMessageDelegate,
    ) -> None:
        self.mapper = mapper
        self.request = request
        self.kind = kind
        self.downstream = downstream
        self.chunks: list[bytes] = []
        self.start_line: httputil.RequestStartLine | None = None
        self.task: asyncio.Task[None] | None = None

    def headers_received(
        self,
        start_line: httputil.RequestStartLine | httputil.ResponseStartLine,
        headers: httputil.HTTPHeaders,
    ) -> None:
        assert isinstance(start_line, httputil.RequestStartLine)
        self.start_line = start_line

    def data_received(self, chunk: bytes) -> None:
        self.chunks.append(chunk)  # bounded by the server's max_body_size

    def finish(self) -> None:
        self.task = asyncio.ensure_future(self._hand_over())

    def on_connection_close(self) -> None:
        if self.task is not None:
            self.task.cancel()

    async def _rewrite(self, body: bytes) -> tuple[httputil.HTTPMessageDelegate, bytes]:
        request = self.request
        method = request.method or ""
        try:
            names = await self.mapper.kernel_names()
            remap = remap_body(
                self.kind, method, body, self.mapper.kernel_map, self.mapper.default_name, names
            )
        except KernelMapError as e:
            self.mapper.log.warning("Colab bridge: %s %s: %s", method, request.path, e)
            return self._error(KERNEL_MISSING_STATUS, str(e), e.reason), body
        except Exception:
            self.mapper.log.exception(
                "Colab bridge: %s %s: could not list the kernels for ColabBridge.kernel_map",
                method,
                request.path,
            )
            message = (
                "The server could not list its kernels to apply c.ColabBridge.kernel_map; "
                "see the server's log."
            )
            return self._error(500, message, "kernel list failed"), body
        if remap is None:
            return self.downstream, body
        self.mapper.log.info(
            "Colab bridge: %s %s: kernel %r -> %r (ColabBridge.kernel_map)",
            method,
            request.path,
            remap.requested,
            remap.mapped,
        )
        request.headers["Content-Length"] = str(len(remap.body))
        return self.downstream, remap.body

    def _error(self, status: int, message: str, reason: str) -> httputil.HTTPMessageDelegate:
        resource = "sessions" if self.kind == "session" else "kernels"
        application: web.Application = self.mapper.serverapp.web_app
        return application.get_handler_delegate(
            self.request,
            KernelMapErrorHandler,
            {"status": status, "message": message, "reason": reason, "auth_resource": resource},
        )

    async def _hand_over(self) -> None:
        delegate, body = await self._rewrite(b"".join(self.chunks))
        assert self.start_line is not None
        pending = delegate.headers_received(self.start_line, self.request.headers)
        if pending is not None:
            await pending
        if body:
            pending = delegate.data_received(body)
            if pending is not None:
                await pending
        delegate.finish()
