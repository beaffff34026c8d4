"""The ``api/colab/*`` handlers: Colab's runtime API over HTTP.

They only translate: authentication and authorization are jupyter_server's
(``@web.authenticated``, then the server's authorizer for
:data:`AUTH_RESOURCE`), the figures come from a
:class:`~.resources.ResourceSampler`, and every reply is JSON behind Colab's
anti-XSSI prefix.
"""

from __future__ import annotations

import json
from typing import Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from tornado import web

from ..protocol.runtime_api import XSSI_PREFIX
from .resources import ResourceSampler

#: The resource name the server's authorizer is asked about (action "read").
AUTH_RESOURCE = "colab"


class ColabAPIHandler(APIHandler):
    """Common base: the auth resource, and replies behind :data:`XSSI_PREFIX`."""

    auth_resource = AUTH_RESOURCE

    def update_api_activity(self) -> None:
        """Not activity: a page polling the resource monitor is not the user at work.

        These requests must not keep an idle server from being culled (as
        ``api/status``, which jupyter_server leaves out the same way).
        """

    def finish_json(self, model: Any) -> None:
        """Finish with ``model`` as JSON behind the prefix (Content-Type application/json)."""
        self.finish(XSSI_PREFIX + json.dumps(model))


class ResourcesHandler(ColabAPIHandler):
    """``GET api/colab/resources``: memory, each kernel's memory, disk, GPUs."""

    def initialize(self, sampler: ResourceSampler) -> None:
        self.sampler = sampler

    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.finish_json(await self.sampler.get())


class BuildInfoHandler(ColabAPIHandler):
    """``GET api/colab/build-info``: ``{"release_tag": ...}``."""

    def initialize(self, release_tag: str | None) -> None:
        self.release_tag = release_tag

    @web.authenticated
    @authorized
    def get(self) -> None:
        self.finish_json({"release_tag": self.release_tag})


class DriveHandler(ColabAPIHandler):
    """``GET api/colab/drive``: ``{"dfs": []}``, no Google Drive mount troubles here."""

    @web.authenticated
    @authorized
    def get(self) -> None:
        self.finish_json({"dfs": []})


def runtime_handlers(
    sampler: ResourceSampler, release_tag: str | None
) -> list[tuple[str, type[ColabAPIHandler], dict[str, Any]]]:
    """The routes, relative to ``base_url`` (an ``ExtensionApp`` prefixes it)."""
    return [
        (r"/api/colab/resources", ResourcesHandler, {"sampler": sampler}),
        (r"/api/colab/build-info", BuildInfoHandler, {"release_tag": release_tag}),
        (r"/api/colab/drive", DriveHandler, {}),
    ]
