"""Nothing the bridge does for a page runs before jupyter_server has authenticated it.

The fourth security review (issue 23): K1, K2 and K3 (the kernel map) and M1
(the missing-route reporter). A request from Colab's origin that then fails
authentication must cost what it costs without the bridge: no parsing, no
kernel listing, no gateway call, no log line of the bridge, no place under
the missing-route cap. Real server (pytest-jupyter), real kernels; K2 with a
real server in a subprocess pointed at a small fake Kernel Gateway that
counts the calls it gets.
"""

from __future__ import annotations

import http.server
import json
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers.bridge_client import COLAB_ORIGIN, fetch_url, install_kernelspec
from tests.helpers.servers import Server, running

#: Colab's page without the token: a ``text/plain`` POST needs no preflight.
PAGE_WITHOUT_TOKEN = {"Origin": COLAB_ORIGIN, "Content-Type": "text/plain"}

SESSION = {
    "path": "nb.ipynb",
    "type": "notebook",
    "name": "nb.ipynb",
    "kernel": {"name": "python3"},
}

#: A body too deeply nested for Python's json module (RecursionError, not ValueError).
TOO_DEEP = "[" * 100_000


@pytest.fixture
def other_kernel(jp_kernel_dir: Any) -> str:
    return install_kernelspec(str(jp_kernel_dir), "other")


@pytest.fixture
def bridge_config(other_kernel: str) -> dict[str, Any]:
    return {"kernel_map": {"python3": other_kernel}}


@pytest.fixture
def spec_listings(jp_serverapp: Any, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the server's kernel listings (its real kernel spec manager, watched)."""
    calls: list[int] = []
    manager = jp_serverapp.kernel_spec_manager
    original = manager.get_all_specs

    def counted() -> Any:
        calls.append(1)
        return original()

    monkeypatch.setattr(manager, "get_all_specs", counted)
    return calls


def bridge_lines(server_log: Any) -> list[str]:
    """What the bridge logged (its lines all start with "Colab bridge")."""
    return [r.getMessage() for r in server_log.records if "Colab bridge" in r.getMessage()]


# -- K1, K3: the kernel map before authentication ----------------------------------


@pytest.mark.parametrize(
    "body",
    [json.dumps(SESSION), TOO_DEEP, "[{}," * 50_000 + "{}]"],
    ids=["session", "too-deep", "long-list"],
)
async def test_unauthenticated_session_post_costs_the_bridge_nothing(
    fetch: Any, body: str, spec_listings: list[int], server_log: Any
) -> None:
    response = await fetch("api/sessions", "POST", PAGE_WITHOUT_TOKEN, body)
    assert response.code == 403, response.body
    assert spec_listings == []  # no kernel listing
    assert bridge_lines(server_log) == []  # no INFO remap line, no ERROR traceback
    assert not [r for r in server_log.records if r.levelno >= logging.ERROR]


async def test_unauthenticated_request_to_a_missing_kernel_logs_nothing(
    fetch: Any, bridge_app: Any, spec_listings: list[int], server_log: Any
) -> None:
    bridge_app.kernel_mapper.kernel_map = {"python3": "nowhere"}
    kernels = await fetch(
        "api/kernels", "POST", PAGE_WITHOUT_TOKEN, json.dumps({"name": "python3"})
    )
    assert kernels.code == 403, kernels.body
    sessions = await fetch("api/sessions", "POST", PAGE_WITHOUT_TOKEN, json.dumps(SESSION))
    assert sessions.code == 403, sessions.body
    assert spec_listings == []
    assert bridge_lines(server_log) == []  # no WARNING listing the server's kernels


@pytest.mark.parametrize("body", ["[" * 10_000, TOO_DEEP], ids=["read-by-the-map", "too-long"])
async def test_too_deep_body_with_a_token_is_not_json(
    fetch: Any, token: str, server_log: Any, body: str
) -> None:
    """400 naming JSON, never 500: the map's own answer, or jupyter_server's for a long body."""
    page = {**PAGE_WITHOUT_TOKEN, "Authorization": f"token {token}"}
    for path in ("api/sessions", "api/kernels"):
        response = await fetch(path, "POST", page, body)
        assert response.code == 400, (path, response.code, response.body)
        assert "JSON" in json.loads(response.body)["message"]
    errors = [r.getMessage() for r in server_log.records if r.levelno >= logging.ERROR]
    assert not [m for m in errors if "Colab bridge" in m], errors
    # The server goes on serving the page, and its map.
    created = await fetch("api/sessions", "POST", page, json.dumps(SESSION))
    assert created.code == 201, created.body
    assert json.loads(created.body)["kernel"]["name"] == "other"


# -- M1: the missing-route cap ------------------------------------------------------

MISSING = "which this server does not serve"


async def test_missing_route_cap_cannot_be_filled_without_a_token(
    fetch: Any, token: str, server_log: Any
) -> None:
    page = {"Origin": COLAB_ORIGIN}
    for i in range(55):
        response = await fetch(f"api/junk-{i:02d}", headers=page)
        assert response.code in (403, 404)
    assert [m for m in bridge_lines(server_log) if MISSING in m] == []
    assert "missing routes reported" not in "\n".join(bridge_lines(server_log))
    real = await fetch(
        "api/colab/a-real-new-route", headers={**page, "Authorization": f"token {token}"}
    )
    assert real.code == 404
    lines = [m for m in bridge_lines(server_log) if MISSING in m]
    assert len(lines) == 1 and "GET api/colab/a-real-new-route" in lines[0], lines


# -- K2: no gateway call before authentication ----------------------------------------

SPEC = {"argv": ["python", "-m", "ipykernel_launcher"], "language": "python"}


class FakeGateway(http.server.ThreadingHTTPServer):
    """A Kernel Gateway's read-only API (kernel specs, no kernels) that counts its calls."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), GatewayRequest)
        self.calls: list[str] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def spec_calls(self) -> int:
        with self.lock:
            return sum(1 for c in self.calls if c.startswith("GET /api/kernelspecs"))


class GatewayRequest(http.server.BaseHTTPRequestHandler):
    server: FakeGateway

    def do_GET(self) -> None:
        with self.server.lock:
            self.server.calls.append(f"GET {self.path}")
        if self.path.startswith("/api/kernelspecs"):
            specs = {
                name: {"name": name, "spec": {**SPEC, "display_name": name}, "resources": {}}
                for name in ("python3", "gwonly")
            }
            self._json({"default": "python3", "kernelspecs": specs})
        elif self.path.startswith(("/api/kernels", "/api/sessions")):
            self._json([])
        else:
            self._json({"message": "not here"}, 404)

    def _json(self, obj: Any, status: int = 200) -> None:
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.fixture(scope="module")
def gateway_and_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[FakeGateway, Server]]:
    gateway = FakeGateway()
    thread = threading.Thread(target=gateway.serve_forever, daemon=True)
    thread.start()
    try:
        args = [f"--gateway-url={gateway.url}", "--ColabBridge.kernel_map=python3=gwonly"]
        with running(tmp_path_factory.mktemp("fake-gateway"), args=args) as server:
            yield gateway, server
    finally:
        gateway.shutdown()
        gateway.server_close()


def wait_for_start_up_line(server: Server) -> None:
    """The map's start-up check (one listing of the gateway's kernels) has run."""
    deadline = time.monotonic() + 60
    while "kernel map for Colab's pages" not in server.log_text():
        assert time.monotonic() < deadline, server.log_text()[-3000:]
        time.sleep(0.1)


async def test_unauthenticated_post_makes_no_gateway_call(
    gateway_and_server: tuple[FakeGateway, Server],
) -> None:
    gateway, server = gateway_and_server
    wait_for_start_up_line(server)
    before = gateway.spec_calls()
    log_before = server.log_text()
    for path, body in (("api/sessions", SESSION), ("api/kernels", {"name": "python3"})):
        response = await fetch_url(
            f"{server.url}{path}", "POST", PAGE_WITHOUT_TOKEN, json.dumps(body)
        )
        assert response.code == 403, response.body
    assert gateway.spec_calls() == before
    # The access log's 403 lines are jupyter_server's; the bridge wrote nothing.
    added = server.log_text()[len(log_before) :]
    assert "Colab bridge" not in added, added


# -- the map's body limit -------------------------------------------------------------


async def test_the_map_leaves_a_body_larger_than_any_session_request(
    fetch: Any, token: str, server_log: Any
) -> None:
    """Above MAX_MAPPED_BODY_BYTES the body goes to jupyter_server as it came, with a WARNING."""
    from jupyter_colab_bridge.server.kernel_map import MAX_MAPPED_BODY_BYTES

    page = {"Origin": COLAB_ORIGIN, "Authorization": f"token {token}"}
    padded = {**SESSION, "padding": "x" * MAX_MAPPED_BODY_BYTES}
    created = await fetch("api/sessions", "POST", page, json.dumps(padded))
    assert created.code == 201, created.body
    assert json.loads(created.body)["kernel"]["name"] == "python3"  # not mapped
    assert any("ColabBridge.kernel_map reads at most" in m for m in bridge_lines(server_log))
    small = await fetch("api/sessions", "POST", page, json.dumps({**SESSION, "path": "b.ipynb"}))
    assert json.loads(small.body)["kernel"]["name"] == "other"  # a session request is mapped
