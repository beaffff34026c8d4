"""Direct mode: CORS for allowlisted pages calling the REST API and kernel sockets, and its gate.

Real server (pytest-jupyter) over real sockets; requests are built as a
browser would send them (``Origin``, preflights), with no credentials where
a browser sends none. The gate gives an allowed page its own answers: a
cookie-only request gets a readable JSON refusal, a preflight checks
``Host`` as the bridge's sockets do (DNS rebinding), and a refusal for a
stale or missing token says why, in the reply and the log. Which raw paths a
page may read, and the CORS header arithmetic, are in test_cors.py.
"""

from __future__ import annotations

import gc
import json
import socket
from typing import Any

import pytest
from tornado.httpclient import HTTPResponse

from jupyter_colab_bridge.protocol.refusals import (
    NO_TOKEN,
    WRONG_TOKEN,
    refusal_reply,
    why_refused,
)
from jupyter_colab_bridge.server.direct_mode import COOKIE_REFUSED
from tests.helpers.bridge_client import (
    COLAB_ORIGIN,
    BridgeClient,
    KernelChannel,
    connected,
    handshake_status,
    login_cookies,
    start_kernel,
    ws_url,
)
from tests.helpers.cases import DEV_PAGE

ALLOWED = COLAB_ORIGIN
ALSO_ALLOWED = DEV_PAGE
OTHER = "https://evil.example.com"
CORS_NAMES = (
    "Access-Control-Allow-Origin",
    "Access-Control-Allow-Credentials",
    "Access-Control-Allow-Methods",
    "Access-Control-Allow-Headers",
    "Access-Control-Allow-Private-Network",
    "Access-Control-Max-Age",
)


@pytest.fixture
def direct_mode() -> bool:
    """ColabBridge.direct_mode; a test parametrizes it to turn it off."""
    return True


@pytest.fixture
def bridge_config(direct_mode: bool) -> dict[str, Any]:
    return {"allowed_origins": [ALLOWED, ALSO_ALLOWED], "direct_mode": direct_mode}


def cors(response: HTTPResponse) -> dict[str, str]:
    """The CORS headers of a response."""
    return {n: response.headers[n] for n in CORS_NAMES if n in response.headers}


def preflight_headers(
    origin: str, method: str = "GET", headers: str = "authorization"
) -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": headers,
    }


# -- preflights ---------------------------------------------------------------


@pytest.mark.parametrize("origin", [ALLOWED, ALSO_ALLOWED])
@pytest.mark.parametrize(
    "path",
    [
        "api/kernelspecs",
        "api/contents/a%20b.ipynb",
        "api/colab/build-info",
        "files/x.bin",
        "api/no/such/endpoint",
    ],
)
async def test_preflight_allowed_origin(fetch: Any, origin: str, path: str) -> None:
    asked = "authorization,content-type,x-xsrftoken,x-colab-thing"
    response = await fetch(path, "OPTIONS", preflight_headers(origin, "PUT", asked))
    assert response.code == 204
    assert response.body == b""
    headers = response.headers
    assert headers["Access-Control-Allow-Origin"] == origin
    assert headers["Access-Control-Allow-Credentials"] == "true"
    methods = [m.strip() for m in headers["Access-Control-Allow-Methods"].split(",")]
    assert "PUT" in methods and "GET" in methods and "DELETE" in methods
    allowed = {h.strip().lower() for h in headers["Access-Control-Allow-Headers"].split(",")}
    assert allowed >= set(asked.split(","))
    assert int(headers["Access-Control-Max-Age"]) > 0
    assert "Access-Control-Allow-Private-Network" not in headers
    assert "origin" in headers["Vary"].lower()


async def test_preflight_echoes_only_header_names(fetch: Any) -> None:
    response = await fetch(
        "api/kernels",
        "OPTIONS",
        preflight_headers(ALLOWED, "POST", "content-type, bad name, x-a:b"),
    )
    allowed = [h.strip() for h in response.headers["Access-Control-Allow-Headers"].split(",")]
    assert "content-type" not in allowed  # already there as Content-Type
    assert "Content-Type" in allowed
    assert not any(" " in h or ":" in h for h in allowed)


async def test_preflight_private_network(fetch: Any) -> None:
    headers = preflight_headers(ALLOWED)
    headers["Access-Control-Request-Private-Network"] = "true"
    response = await fetch("api/kernelspecs", "OPTIONS", headers)
    assert response.code == 204
    assert response.headers["Access-Control-Allow-Private-Network"] == "true"
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED


@pytest.mark.parametrize(
    "origin", [OTHER, "null", ALLOWED + ".evil.example.com", ALLOWED.upper() + "x"]
)
@pytest.mark.parametrize("path", ["api/kernelspecs", "files/x.bin"])
async def test_preflight_other_origin_is_jupyters_own(fetch: Any, origin: str, path: str) -> None:
    headers = preflight_headers(origin)
    headers["Access-Control-Request-Private-Network"] = "true"
    response = await fetch(path, "OPTIONS", headers)
    # jupyter_server's own answer: 200 from its API handlers, refused elsewhere,
    # and no origin either way (ServerApp.allow_origin is not set).
    if path.startswith("api/"):
        assert response.code == 200
    else:
        assert response.code >= 400
    assert "Access-Control-Allow-Origin" not in response.headers
    assert "Access-Control-Allow-Credentials" not in response.headers
    assert "Access-Control-Allow-Private-Network" not in response.headers


async def test_preflight_outside_base_url_is_not_answered(fetch: Any, jp_base_url: str) -> None:
    assert jp_base_url != "/"
    response = await fetch("api/kernelspecs", "OPTIONS", preflight_headers(ALLOWED), base="/")
    assert response.code != 204
    assert cors(response) == {}


async def test_plain_options_without_request_method_is_not_a_preflight(fetch: Any) -> None:
    response = await fetch("files/x.bin", "OPTIONS", {"Origin": ALLOWED})
    assert response.code == 405  # jupyter_server's answer...
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED  # ...readable by the page
    assert "Access-Control-Allow-Methods" not in response.headers


# -- actual responses -----------------------------------------------------------


async def test_success_carries_exact_origin_and_credentials(fetch: Any, token: str) -> None:
    response = await fetch(f"api/kernelspecs?token={token}", headers={"Origin": ALSO_ALLOWED})
    assert response.code == 200
    assert "python3" in json.loads(response.body)["kernelspecs"]
    assert response.headers["Access-Control-Allow-Origin"] == ALSO_ALLOWED
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
    assert "origin" in response.headers["Vary"].lower()
    assert len(response.headers.get_list("Access-Control-Allow-Origin")) == 1


async def test_authorization_header_and_mutation(fetch: Any, token: str) -> None:
    headers = {
        "Origin": ALLOWED,
        "Authorization": f"token {token}",
        "Content-Type": "application/json",
    }
    body = json.dumps({"type": "file", "format": "text", "content": "hello"})
    response = await fetch("api/contents/direct.txt", "PUT", headers, body)
    assert response.code == 201
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
    read = await fetch(
        "api/contents/direct.txt?content=1",
        headers={"Origin": ALLOWED, "Authorization": f"token {token}"},
    )
    assert json.loads(read.body)["content"] == "hello"
    assert read.headers["Access-Control-Allow-Credentials"] == "true"


@pytest.mark.parametrize(
    "path, status",
    [
        ("api/contents/no-such-file.txt?token={token}", 404),
        ("api/no-such-endpoint?token={token}", 404),
        ("api/kernelspecs?token=wrong", 403),
        ("api/kernels/00000000-0000-0000-0000-000000000000?token={token}", 404),
        ("files/no/such/file.txt?token={token}", 404),
    ],
)
async def test_error_responses_are_readable(fetch: Any, token: str, path: str, status: int) -> None:
    response = await fetch(path.format(token=token), headers={"Origin": ALLOWED})
    assert response.code == status
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
    assert response.body  # the page can show the server's message


async def test_error_on_post_with_bad_json_is_readable(fetch: Any, token: str) -> None:
    headers = {"Origin": ALLOWED, "Authorization": f"token {token}"}
    response = await fetch("api/sessions", "POST", headers, "{not json")
    assert response.code == 400
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "Invalid JSON" in json.loads(response.body)["message"]


async def test_build_info_probe_is_readable(fetch: Any, token: str) -> None:
    """Colab's first call in direct mode; the runtime API answers it (tests/test_runtime_api.py)."""
    response = await fetch(f"api/colab/build-info?token={token}", headers={"Origin": ALLOWED})
    assert response.code == 200
    assert response.body == b')]}\'\n{"release_tag": null}'
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert response.headers["Access-Control-Allow-Credentials"] == "true"


@pytest.mark.parametrize("direct_mode", [True, False])
@pytest.mark.parametrize("origin", [OTHER, "null"])
async def test_other_origin_is_answered_as_without_the_bridge(
    fetch: Any, token: str, origin: str, direct_mode: bool
) -> None:
    # jupyter_server's own answers, the same with direct mode on and off.
    ok = await fetch(f"api/kernelspecs?token={token}", headers={"Origin": origin})
    # It echoes the origin of a token-authenticated request, without
    # Allow-Credentials (JupyterHandler.set_cors_headers).
    assert ok.code == 200
    assert cors(ok) == {"Access-Control-Allow-Origin": origin}
    # A wrong token from another origin: its origin check answers 404.
    wrong = await fetch("api/kernelspecs?token=wrong", headers={"Origin": origin})
    assert wrong.code == 404
    assert cors(wrong) == {}
    for path in (f"api/kernels/{'0' * 32}?token={token}", f"no/such/page?token={token}"):
        error = await fetch(path, headers={"Origin": origin})
        assert error.code == 404
        assert cors(error) == {}
    missing = await fetch(f"api/contents/none.txt?token={token}", headers={"Origin": origin})
    assert missing.code == 404
    assert "Access-Control-Allow-Credentials" not in missing.headers
    assert cors(missing) in ({}, {"Access-Control-Allow-Origin": origin})


@pytest.mark.parametrize("direct_mode", [False])
async def test_direct_mode_off(fetch: Any, token: str, direct_mode: bool) -> None:
    response = await fetch("api/kernelspecs", "OPTIONS", preflight_headers(ALLOWED))
    assert response.code == 200  # jupyter_server's APIHandler.options
    assert "Access-Control-Allow-Origin" not in response.headers
    response = await fetch("files/x.bin", "OPTIONS", preflight_headers(ALLOWED))
    assert response.code == 405
    assert cors(response) == {}
    error = await fetch(f"api/kernels/{'0' * 32}?token={token}", headers={"Origin": ALLOWED})
    assert error.code == 404
    assert cors(error) == {}
    wrong = await fetch("api/kernelspecs?token=wrong", headers={"Origin": ALLOWED})
    assert wrong.code == 404  # jupyter_server's origin check, not the 403 of direct mode
    ok = await fetch(f"api/kernelspecs?token={token}", headers={"Origin": ALLOWED})
    assert "Access-Control-Allow-Credentials" not in ok.headers


async def test_tunnelled_requests_are_unchanged(
    jp_serverapp: Any, http_server: Any, token: str
) -> None:
    """The bridge's in-process requests carry no Origin: the transform adds nothing."""
    async with connected(
        ws_url(jp_serverapp.port, jp_serverapp.base_url, token=token), origin=ALLOWED
    ) as ws:
        client = BridgeClient(ws)
        reply = await client.request("GET", f"{jp_serverapp.base_url}api/contents/none.txt")
        assert reply.status == 404
        assert "Access-Control-Allow-Credentials" not in reply.headers
        assert reply.headers.get("Access-Control-Allow-Origin", "") == ""


# -- WebSockets ----------------------------------------------------------------


async def test_kernel_ws_allowed_origin_with_token(
    jp_fetch: Any, jp_http_port: int, jp_base_url: str, token: str
) -> None:
    kernel_id = await start_kernel(jp_fetch)
    async with connected(
        ws_url(
            jp_http_port,
            jp_base_url,
            f"api/kernels/{kernel_id}/channels?session_id=s1&token={token}",
        ),
        origin=None,
        headers={"Origin": ALLOWED},
    ) as ws:
        await KernelChannel(ws).ready()


async def test_events_ws_allowed_origin_with_token(
    http_server: Any, jp_http_port: int, jp_base_url: str, token: str
) -> None:
    assert (
        await handshake_status(
            ws_url(jp_http_port, jp_base_url, f"api/events/subscribe?token={token}"),
            origin=None,
            headers={"Origin": ALLOWED},
        )
        == 101
    )


@pytest.mark.parametrize("direct_mode", [True, False])
async def test_kernel_ws_origins(
    jp_fetch: Any, fetch: Any, jp_http_port: int, jp_base_url: str, token: str, direct_mode: bool
) -> None:
    kernel_id = await start_kernel(jp_fetch)
    path = f"api/kernels/{kernel_id}/channels?session_id=s1"
    cookie = await login_cookies(fetch, token)
    # The login cookie is good: the server's own page may use it.
    own = f"http://127.0.0.1:{jp_http_port}"
    opened = await handshake_status(
        ws_url(jp_http_port, jp_base_url, path),
        origin=None,
        headers={"Origin": own, "Cookie": cookie},
    )
    assert opened == 101
    # From another origin jupyter_server's origin check refuses it, bridge or not.
    status = await handshake_status(
        ws_url(jp_http_port, jp_base_url, path),
        origin=None,
        headers={"Origin": OTHER, "Cookie": cookie},
    )
    assert status == 403
    # An allowlisted origin's page must send the token: its cookie alone is
    # refused, in direct mode by the bridge (docs/protocol.md section 4), without
    # it by jupyter_server's origin check.
    status = await handshake_status(
        ws_url(jp_http_port, jp_base_url, path),
        origin=None,
        headers={"Origin": ALLOWED, "Cookie": cookie},
    )
    assert status == 403
    # No credentials: refused, allowlisted or not.
    status = await handshake_status(
        ws_url(jp_http_port, jp_base_url, path), origin=None, headers={"Origin": ALLOWED}
    )
    assert status == 403
    # Token-authenticated: jupyter_server skips its origin check (knowing the
    # token is the credential); direct mode changes nothing there.
    for origin in (ALLOWED, OTHER):
        opened = await handshake_status(
            ws_url(jp_http_port, jp_base_url, f"{path}&token={token}"),
            origin=None,
            headers={"Origin": origin},
        )
        assert opened == 101


async def test_kernel_ws_wrong_token_refused(
    jp_fetch: Any, jp_http_port: int, jp_base_url: str
) -> None:
    kernel_id = await start_kernel(jp_fetch)
    status = await handshake_status(
        ws_url(jp_http_port, jp_base_url, f"api/kernels/{kernel_id}/channels?token=wrong"),
        origin=None,
        headers={"Origin": ALLOWED},
    )
    assert status == 403


async def test_cookie_mutation_still_needs_xsrf(fetch: Any, token: str) -> None:
    """Direct mode relaxes the origin check only; XSRF protection stays."""
    cookie = await login_cookies(fetch, token)
    headers = {"Origin": ALLOWED, "Cookie": cookie.split("; _xsrf=")[0]}
    refused = await fetch(
        "api/contents/x.txt",
        "PUT",
        headers,
        json.dumps({"type": "file", "format": "text", "content": ""}),
    )
    assert refused.code == 403
    assert refused.headers["Access-Control-Allow-Origin"] == ALLOWED  # readable, still refused


def server_side_socket(ws: Any) -> socket.socket:
    """This process's server end of the client WebSocket ``ws`` (the server runs in-process)."""
    port = ws.protocol.stream.socket.getsockname()[1]
    for obj in gc.get_objects():
        if isinstance(obj, socket.socket) and obj.fileno() != -1:
            try:
                if obj.getpeername()[1] == port:
                    return obj
            except (OSError, IndexError, TypeError):
                continue
    raise AssertionError("no server-side socket for this client")


@pytest.mark.parametrize("direct_mode", [True, False])
async def test_jupyter_servers_own_kernel_socket_sends_at_once(
    jp_fetch: Any, jp_http_port: int, jp_base_url: str, token: str, direct_mode: bool
) -> None:
    """TCP_NODELAY on jupyter_server's own kernel WebSocket (direct mode's), for every client."""
    kernel_id = await start_kernel(jp_fetch)
    for origin in (ALLOWED, None):
        headers = {"Origin": origin} if origin else {}
        async with connected(
            ws_url(
                jp_http_port,
                jp_base_url,
                f"api/kernels/{kernel_id}/channels?session_id=s-{origin}&token={token}",
            ),
            origin=None,
            headers=headers,
        ) as ws:
            await KernelChannel(ws).ready()  # past the handshake: its HTTP part is done
            sock = server_side_socket(ws)
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0, origin


# -- what a page may read: API and files only, no cookies, Vary: Origin ---------------
@pytest.mark.parametrize(
    "path", ["login", "logout", "lab", "tree", "notebooks/x.ipynb", "api/../login"]
)
async def test_html_pages_are_not_cors_readable(fetch: Any, token: str, path: str) -> None:
    """From the first security review (issue 12)."""
    for suffix in ("", f"?token={token}"):
        response = await fetch(path + suffix, headers={"Origin": COLAB_ORIGIN})
        assert "Access-Control-Allow-Origin" not in response.headers, (path, response.code)
        assert "Access-Control-Allow-Credentials" not in response.headers
    preflight = await fetch(
        path, "OPTIONS", {"Origin": COLAB_ORIGIN, "Access-Control-Request-Method": "GET"}
    )
    assert "Access-Control-Allow-Origin" not in preflight.headers


async def test_no_set_cookie_beside_allow_credentials(fetch: Any, token: str) -> None:
    """From the first security review (issue 12)."""
    for path in (
        f"api/kernelspecs?token={token}",
        f"api/contents/none.txt?token={token}",
        "api/kernelspecs?token=wrong",
        f"files/none.txt?token={token}",
    ):
        response = await fetch(path, headers={"Origin": COLAB_ORIGIN, "Sec-Fetch-Mode": "cors"})
        assert response.headers.get("Access-Control-Allow-Credentials") == "true", path
        assert "Set-Cookie" not in response.headers, (path, response.headers.get_list("Set-Cookie"))


@pytest.mark.parametrize("origin", [None, COLAB_ORIGIN, "https://evil.example"])
async def test_vary_origin_on_every_api_response(fetch: Any, token: str, origin: str) -> None:
    """From the first security review (issue 12)."""
    headers = {"Origin": origin} if origin else {}
    for path in (f"api/kernelspecs?token={token}", "api/kernelspecs", f"files/x?token={token}"):
        response = await fetch(path, headers=headers)
        assert "origin" in response.headers.get("Vary", "").lower(), (path, origin)


# --------------------------------------------------------------------------------------
# -- Direct mode's gate: its own answers to an allowed page (issue 16, finding 5).
#
# - A cookie-only write gets the same readable JSON refusal as a read, not
# tornado's XSRF page (the XSRF check ran before the refusal).
# - A preflight checks ``Host`` as the bridge's sockets do: a DNS-rebinding page
# (an attacker's name resolving to 127.0.0.1) gets 403 and no CORS.
# (These tests were tests/test_direct_mode_gate.py.)
# --------------------------------------------------------------------------------------
PAGE = {"Origin": COLAB_ORIGIN, "Sec-Fetch-Mode": "cors"}


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "api/kernels", None),
        ("POST", "api/kernels", "{}"),
        ("PUT", "api/contents/x.txt", '{"type": "file", "format": "text", "content": "x"}'),
        ("PATCH", "api/contents/x.txt", '{"path": "y.txt"}'),
        ("DELETE", "api/contents/x.txt", None),
    ],
)
async def test_cookie_only_request_gets_the_readable_refusal(
    fetch: Any, token: str, server_log: Any, method: str, path: str, body: str | None
) -> None:
    cookies = await login_cookies(fetch, token)
    response = await fetch(path, method, {**PAGE, "Cookie": cookies}, body)
    assert response.code == 403
    assert response.headers["Content-Type"] == "application/json"
    assert json.loads(response.body)["message"] == COOKIE_REFUSED
    assert response.headers["Access-Control-Allow-Origin"] == COLAB_ORIGIN
    assert "carried a login cookie and no token" in server_log.text()
    # The server keeps serving the page that sends its token.
    ok = await fetch(f"api/status?token={token}", headers=PAGE)
    assert ok.code == 200


PREFLIGHT = {"Origin": COLAB_ORIGIN, "Access-Control-Request-Method": "GET"}


@pytest.mark.parametrize("host", ["evil.example", "evil.example:{port}", "rebind.attacker.test"])
async def test_preflight_checks_host(
    fetch: Any, jp_http_port: int, server_log: Any, host: str
) -> None:
    headers = {**PREFLIGHT, "Host": host.format(port=jp_http_port)}
    response = await fetch("api/kernels", "OPTIONS", headers)
    assert response.code == 403  # a browser fails the preflight on any non-2xx
    assert "Access-Control-Allow-Methods" not in response.headers
    assert "Access-Control-Allow-Private-Network" not in response.headers
    assert "non-local 'Host'" in server_log.text()
    # A preflight with the server's real Host is still answered.
    ok = await fetch("api/kernels", "OPTIONS", PREFLIGHT)
    assert ok.code == 204


@pytest.mark.parametrize("host", ["localhost:{port}", "127.0.0.1:{port}", "[::1]:{port}"])
async def test_preflight_with_a_loopback_host_is_answered(
    fetch: Any, jp_http_port: int, host: str
) -> None:
    response = await fetch(
        "api/kernels", "OPTIONS", {**PREFLIGHT, "Host": host.format(port=jp_http_port)}
    )
    assert response.code == 204
    assert response.headers["Access-Control-Allow-Origin"] == COLAB_ORIGIN


class TestRemoteAccess:
    """With ``ServerApp.allow_remote_access`` any ``Host`` passes, as for the sockets."""

    @pytest.fixture
    def jp_server_config(self, bridge_config: dict[str, Any], token: str) -> dict[str, Any]:
        return {
            "ServerApp": {
                "jpserver_extensions": {"jupyter_colab_bridge": True},
                "allow_remote_access": True,
            },
            "IdentityProvider": {"token": token},
        }

    async def test_any_host(self, fetch: Any) -> None:
        response = await fetch("api/kernels", "OPTIONS", {**PREFLIGHT, "Host": "box.lan:8888"})
        assert response.code == 204


@pytest.mark.parametrize("path", ["http_over_websocketx", "http_over_websocket%2Fdiagnose"])
async def test_only_the_bridges_own_routes_skip_the_gate(fetch: Any, token: str, path: str) -> None:
    """The bridge judges its own handshakes; a path that only looks like them meets the gate."""
    response = await fetch(path, headers={**PAGE, "Cookie": "username-x=1"})
    assert response.code == 403
    assert json.loads(response.body)["message"] == COOKIE_REFUSED


# --------------------------------------------------------------------------------------
# -- Direct mode's refusals say why, in the log and in the JSON reply (issue 26, item 3).
#
# A page on an allowed origin calling the REST API itself with a stale token, or
# none, gets a 403 whose JSON says which (``"reason": "invalid token"`` or
# ``"no token"``) and what to do, and the server logs one line that says the
# same, never with the token. A script without ``Origin`` gets jupyter_server's
# own reply, and a page with the right token its answer; the server keeps
# serving. (A server without authentication: ``test_no_auth_server.py``.)
# (These tests were tests/test_direct_mode_refusals.py.)
# --------------------------------------------------------------------------------------
STALE = "stale-t0ken-from-yesterday"


def refusal_lines(server_log: Any) -> list[str]:
    return [line for line in server_log.text().splitlines() if "Colab bridge: refused" in line]


class TestRefusalsSayWhy:
    """The suite's default server: only Colab's origins allowed, a token."""

    @pytest.fixture
    def bridge_config(self) -> dict[str, Any]:
        return {}

    @pytest.mark.parametrize(
        ("path", "headers", "expected"),
        [
            (f"api/colab/build-info?token={STALE}", {}, WRONG_TOKEN),
            ("api/colab/build-info", {"Authorization": f"token {STALE}"}, WRONG_TOKEN),
            (f"api/kernels?token={STALE}", {}, WRONG_TOKEN),
            ("api/colab/build-info", {}, NO_TOKEN),
            ("api/sessions", {}, NO_TOKEN),
        ],
    )
    async def test_a_page_is_told_why(
        self,
        fetch: Any,
        server_log: Any,
        token: str,
        path: str,
        headers: dict[str, str],
        expected: Any,
    ) -> None:
        """From the newcomer's first hour (issue 26, item 3)."""
        response = await fetch(path, headers={**PAGE, **headers})
        assert response.code == 403
        reply = json.loads(response.body)
        assert reply["reason"] == expected.reason
        assert reply["message"] == expected.message
        assert "jupyter colab-bridge url" in reply["message"]
        assert response.headers["Access-Control-Allow-Origin"] == COLAB_ORIGIN  # readable
        if expected.log is None:  # no credential at all: anyone's request, no bridge line
            assert refusal_lines(server_log) == []
        else:
            (line,) = refusal_lines(server_log)
            assert f"refused GET /a%40b/{path.partition('?')[0]} from {COLAB_ORIGIN}: " in line
            assert expected.log in line
        assert STALE not in server_log.text()
        # the server goes on serving the right token
        ok = await fetch(
            "api/colab/build-info", headers={**PAGE, "Authorization": f"token {token}"}
        )
        assert ok.code == 200

    async def test_a_post_without_a_token_is_told_why(self, fetch: Any, server_log: Any) -> None:
        """The reply says why; the bridge writes no line for a request without a credential.

        From the newcomer's first hour (issue 26, item 3); no line: the fourth
        security review (issue 23), nothing an anonymous client sends writes the
        bridge's log.
        """
        response = await fetch("api/sessions", "POST", headers=PAGE, body="{}")
        assert response.code == 403
        assert json.loads(response.body)["reason"] == "no token"
        assert refusal_lines(server_log) == []

    async def test_a_script_gets_jupyter_servers_own_reply(
        self, fetch: Any, server_log: Any
    ) -> None:
        """From the newcomer's first hour (issue 26, item 3)."""
        response = await fetch(f"api/colab/build-info?token={STALE}")
        assert response.code == 403
        assert json.loads(response.body)["reason"] is None
        assert refusal_lines(server_log) == []

    async def test_an_unauthenticated_route_is_not_refused(
        self, fetch: Any, server_log: Any
    ) -> None:
        """``GET api`` lets anyone in: no user, but no refusal either.

        From the newcomer's first hour (issue 26, item 3).
        """
        response = await fetch(f"api?token={STALE}", headers=PAGE)
        assert response.code == 200
        assert refusal_lines(server_log) == []

    async def test_a_direct_kernel_socket_with_a_stale_token(
        self, http_server_client: Any, jp_http_port: int, jp_base_url: str, server_log: Any
    ) -> None:
        """From the newcomer's first hour (issue 26, item 3)."""
        url = ws_url(jp_http_port, jp_base_url, "api/events/subscribe", params={"token": STALE})
        assert await handshake_status(url) == 403
        (line,) = refusal_lines(server_log)
        assert WRONG_TOKEN.log in line and STALE not in server_log.text()


def test_why_refused_and_the_reply() -> None:
    """From the newcomer's first hour (issue 26, item 3)."""
    assert why_refused(sent_token=True) is WRONG_TOKEN
    assert why_refused(sent_token=False) is NO_TOKEN
    body = json.dumps({"message": "Forbidden", "reason": None, "extra": 1}).encode()
    replaced = json.loads(refusal_reply(body, NO_TOKEN) or b"")
    assert replaced == {"message": NO_TOKEN.message, "reason": "no token", "extra": 1}
    assert refusal_reply(b"<html>403</html>", NO_TOKEN) is None
    assert refusal_reply(b"[1]", NO_TOKEN) is None


class _Provider:
    """An identity provider that answers at once (a custom one may) or later."""

    def __init__(self, user: Any, at_once: bool) -> None:
        self.user, self.at_once = user, at_once

    def get_user(self, handler: Any) -> Any:
        if self.at_once:
            return self.user

        async def later() -> Any:
            return self.user

        return later()


@pytest.mark.parametrize("at_once", [True, False])
@pytest.mark.parametrize("user", [None, "someone"])
async def test_the_note_keeps_the_providers_answer(at_once: bool, user: Any) -> None:
    """From the newcomer's first hour (issue 26, item 3)."""
    from types import SimpleNamespace

    from tornado.httputil import HTTPHeaders, HTTPServerRequest, RequestStartLine

    from jupyter_colab_bridge.server.page_refusals import _REFUSAL, note_unauthenticated_pages
    from jupyter_colab_bridge.server.verdict import PageVerdict, record

    request = HTTPServerRequest(
        start_line=RequestStartLine("GET", "/api/x", "HTTP/1.1"),
        headers=HTTPHeaders({"Origin": COLAB_ORIGIN, "Host": "127.0.0.1:8888"}),
    )
    record(request, PageVerdict(COLAB_ORIGIN, 1, allowed=True))
    provider = _Provider(user, at_once)
    note_unauthenticated_pages(provider)
    found = provider.get_user(SimpleNamespace(request=request))
    assert (hasattr(found, "__await__")) is not at_once
    assert (found if at_once else await found) == user
    assert getattr(request, _REFUSAL, None) == (NO_TOKEN if user is None else None)
