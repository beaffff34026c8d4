"""Fixtures for tests against a real JupyterHub (a pytest plugin, see tests/conftest.py).

A module that uses them starts one Hub for the whole module
(:func:`hub`), with the users' servers started once (:func:`alice`,
:func:`bob`) and a Hub API token made for each user. A failed test gets the
end of the Hub's and the user servers' logs in its report. When JupyterHub or
configurable-http-proxy is missing, the tests fail with the reason under CI
(``CI=true``) and are skipped with it elsewhere. Importing this module needs
neither JupyterHub nor psutil.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from tests.helpers.hub_server import SETUP_HINT, Hub, missing_prerequisite, running_hub


@dataclass(frozen=True)
class HubUser:
    """A Hub user whose server runs, with one of the user's Hub API tokens."""

    name: str
    token: str
    hub: Hub

    @property
    def base_url(self) -> str:
        """The server's ``base_url``: ``/user/<name>/``."""
        return f"/user/{self.name}/"

    @property
    def url(self) -> str:
        """The server through the Hub's proxy: ``http://127.0.0.1:<port>/user/<name>/``."""
        return self.hub.user_url(self.name)

    @property
    def ws_url(self) -> str:
        """The same for WebSockets: ``ws://127.0.0.1:<port>/user/<name>/``."""
        return f"{self.hub.ws_url}{self.base_url}"

    @property
    def paste_url(self) -> str:
        """What the user pastes into Colab: the server's URL with the token."""
        return f"{self.url}?token={self.token}"


def hub_missing(reason: str) -> None:
    """Fail under CI, skip elsewhere, with the same clear reason."""
    message = f"JupyterHub tests cannot run: {reason}; {SETUP_HINT}"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="module")
def hub_server_args() -> Sequence[str]:
    """Extra command-line arguments for every user server of the module's Hub.

    Override in a test module, e.g. to allow another page origin.
    """
    return ()


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory, hub_server_args: Sequence[str]) -> Iterator[Hub]:
    """A JupyterHub for the module, users ``alice``, ``bob`` and ``carol`` created.

    No user server runs yet; :func:`alice` and :func:`bob` start theirs.
    ``carol``'s server is never started.
    """
    reason = missing_prerequisite()
    if reason is not None:
        hub_missing(reason)
    root = tmp_path_factory.mktemp("jupyterhub")
    with running_hub(root, users=("alice", "bob", "carol"), server_args=hub_server_args) as hub:
        yield hub


def _started(hub: Hub, name: str) -> HubUser:
    hub.start_server(name)
    return HubUser(name, hub.new_token(name), hub)


@pytest.fixture(scope="module")
def alice(hub: Hub) -> HubUser:
    """Alice's server, started once for the module, and a Hub API token of hers."""
    return _started(hub, "alice")


@pytest.fixture(scope="module")
def bob(hub: Hub) -> HubUser:
    """Bob's server, started once for the module, and a Hub API token of his."""
    return _started(hub, "bob")


@pytest.fixture(scope="module")
def carol(hub: Hub) -> HubUser:
    """Carol, whose server was never started, and a Hub API token of hers."""
    return HubUser("carol", hub.new_token("carol"), hub)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[None]:
    """Add the Hub's and the user servers' logs to the report of a failed test."""
    outcome = yield
    report = outcome.get_result()
    if not report.failed:
        return
    hub = getattr(item, "funcargs", {}).get("hub")
    if isinstance(hub, Hub):
        report.sections.append(("JupyterHub logs", hub.logs()))
