"""One WARNING per distinct method and route an allowed page asks for and this server lacks.

Real server, both ways in (the tunnel and direct mode). A missing file under
the contents or files API (a real route answering 404) is not reported, nor
are other clients' requests; the token never appears.
"""

from __future__ import annotations

import logging
from typing import Any

from jupyter_colab_bridge.protocol.missing_routes import printable, route_template
from jupyter_colab_bridge.server.missing_routes import MissingRouteReporter
from tests.helpers.bridge_client import COLAB_ORIGIN

MARK = "which this server does not serve"


def reported(server_log: Any) -> list[str]:
    return [
        r.getMessage()
        for r in server_log.records
        if r.levelno == logging.WARNING and MARK in r.getMessage()
    ]


async def test_tunnel_reports_a_missing_route_once(
    open_bridge: Any, jp_base_url: str, server_log: Any, token: str
) -> None:
    client = await open_bridge()
    for kernel in ("0f8e2d4c-aaaa-bbbb-cccc-1234567890ab", "1f8e2d4c-aaaa-bbbb-cccc-1234567890ab"):
        reply = await client.request("GET", f"{jp_base_url}api/colab/new-thing/{kernel}?x=1")
        assert reply.status == 404
    lines = reported(server_log)
    assert len(lines) == 1, lines
    (line,) = lines
    assert "GET api/colab/new-thing/<id>" in line
    assert "404" in line and "what to report" in line
    assert not [m for m in reported(server_log) if token in m]
    # The socket keeps serving.
    assert (await client.request("GET", f"{jp_base_url}api/status")).status == 200


async def test_direct_reports_missing_route_and_method(
    fetch: Any, token: str, server_log: Any
) -> None:
    page = {"Origin": COLAB_ORIGIN}
    missing = await fetch(f"api/colab/unknown?token={token}", headers=page)
    assert missing.code == 404
    again = await fetch(f"api/colab/unknown?token={token}&y=2", headers=page)
    assert again.code == 404
    no_method = await fetch(f"api/colab/build-info?token={token}", "PUT", page, "{}")
    assert no_method.code == 405
    lines = reported(server_log)
    assert len(lines) == 2, lines
    assert any("GET api/colab/unknown" in m and "404" in m for m in lines)
    assert any("PUT api/colab/build-info" in m and "405" in m for m in lines)
    assert not [m for m in reported(server_log) if token in m]


async def test_missing_files_and_notebooks_are_not_reported(
    fetch: Any, token: str, open_bridge: Any, jp_base_url: str, server_log: Any
) -> None:
    page = {"Origin": COLAB_ORIGIN}
    assert (await fetch(f"api/contents/nope.ipynb?token={token}", headers=page)).code == 404
    assert (await fetch(f"files/nope.txt?token={token}", headers=page)).code == 404
    client = await open_bridge()
    reply = await client.request(
        "GET", f"{jp_base_url}api/kernels/0f8e2d4c-aaaa-bbbb-cccc-1234567890ab"
    )
    assert reply.status == 404
    assert reported(server_log) == []


async def test_other_clients_are_not_reported(
    fetch: Any, token: str, open_bridge: Any, jp_base_url: str, server_log: Any
) -> None:
    script = {"Authorization": f"token {token}"}
    assert (await fetch("api/colab/unknown", headers=script)).code == 404
    client = await open_bridge(origin=None)
    assert (await client.request("GET", f"{jp_base_url}api/colab/unknown")).status == 404
    assert reported(server_log) == []


async def test_odd_paths_are_logged_safely(fetch: Any, server_log: Any, token: str) -> None:
    odd = f"api/%0Aforged%20line/{'x' * 300}/{token}?token={token}"
    # Only authenticated requests are reported (issue 23 M1): the query's token authenticates.
    response = await fetch(odd, headers={"Origin": COLAB_ORIGIN})
    assert response.code == 404
    (line,) = reported(server_log)
    assert "\n" not in line and len(line) < 600
    assert token not in line
    assert (await fetch(f"api/status?token={token}", headers={"Origin": COLAB_ORIGIN})).code == 200


def test_reports_are_capped(caplog: Any) -> None:
    log = logging.getLogger("test_missing_routes")

    from jupyter_server.base.handlers import Template404

    class Request:
        method = "GET"
        path = ""

    reporter = MissingRouteReporter("/", "tok", log, cap=3)
    with caplog.at_level(logging.WARNING, logger="test_missing_routes"):
        for i in range(10):
            Request.path = f"/api/route{chr(97 + i)}"
            reporter.check(Request(), Template404)  # type: ignore[arg-type]
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 4, lines
    assert "further ones are not logged" in lines[-1]


def test_route_template_and_printable() -> None:
    assert route_template("/a%40b/api/kernels/123/x", "/a%40b/") == "api/kernels/<id>/x"
    assert printable("a\nb\x00c\u00e9") == "a\\nb\\x00c\\xe9"
    assert printable("y" * 500).endswith("...") and len(printable("y" * 500)) == 203
