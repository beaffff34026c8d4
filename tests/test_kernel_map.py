"""ColabBridge.kernel_map: an allowed page's request for a kernel gets the mapped one.

Real server (pytest-jupyter), real kernels, both ways in (the tunnel and
direct mode); other clients are left alone; replies name the kernel that runs.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from traitlets import TraitError

from jupyter_colab_bridge.app import ColabBridge
from jupyter_colab_bridge.protocol.kernel_map import (
    KernelMapError,
    describe_map,
    remap_body,
    request_kind,
    validate_map,
)
from tests.helpers.bridge_client import COLAB_ORIGIN, install_kernelspec

SESSION = {"path": "nb.ipynb", "type": "notebook", "name": "nb.ipynb"}


@pytest.fixture
def other_kernel(jp_kernel_dir: Any) -> str:
    """A second kernelspec, as ``python -m ipykernel install --user --name other`` makes."""
    return install_kernelspec(str(jp_kernel_dir), "other")


@pytest.fixture
def kernel_map(other_kernel: str) -> dict[str, str]:
    return {"python3": other_kernel}


@pytest.fixture
def bridge_config(kernel_map: dict[str, str], other_kernel: str) -> dict[str, Any]:
    return {"kernel_map": kernel_map}


def session_body(name: str | None = "python3") -> str:
    return json.dumps({**SESSION, "kernel": {} if name is None else {"name": name}})


def page_headers(token: str) -> dict[str, str]:
    """A direct-mode fetch of Colab's page: Origin, token, JSON body."""
    return {
        "Origin": COLAB_ORIGIN,
        "Authorization": f"token {token}",
        "Content-Type": "application/json",
    }


def running_name(serverapp: Any, kernel_id: str) -> str:
    return str(serverapp.kernel_manager.get_kernel(kernel_id).kernel_name)


# -- the page gets the mapped kernel, both ways in ------------------------------


async def test_tunnel_session_gets_mapped_kernel(
    open_bridge: Any, jp_base_url: str, jp_serverapp: Any
) -> None:
    client = await open_bridge()
    reply = await client.request("POST", f"{jp_base_url}api/sessions", body=session_body())
    assert reply.status == 201, reply.body
    model = reply.json()
    assert model["kernel"]["name"] == "other"  # the reply names what really runs
    assert running_name(jp_serverapp, model["kernel"]["id"]) == "other"


async def test_direct_session_gets_mapped_kernel(fetch: Any, token: str, jp_serverapp: Any) -> None:
    response = await fetch("api/sessions", "POST", page_headers(token), session_body())
    assert response.code == 201, response.body
    model = json.loads(response.body)
    assert model["kernel"]["name"] == "other"
    assert running_name(jp_serverapp, model["kernel"]["id"]) == "other"


async def test_direct_kernel_post_and_default_name(fetch: Any, token: str) -> None:
    named = await fetch("api/kernels", "POST", page_headers(token), json.dumps({"name": "python3"}))
    assert named.code == 201, named.body
    assert json.loads(named.body)["name"] == "other"
    # No name: the server's default (python3) is asked for, so the map applies.
    unnamed = await fetch("api/kernels", "POST", page_headers(token), "")
    assert unnamed.code == 201, unnamed.body
    assert json.loads(unnamed.body)["name"] == "other"


async def test_tunnel_patch_session_changes_to_mapped_kernel(
    open_bridge: Any, jp_base_url: str
) -> None:
    client = await open_bridge()
    created = await client.request("POST", f"{jp_base_url}api/sessions", body=session_body("echo"))
    assert created.status == 201, created.body
    assert created.json()["kernel"]["name"] == "echo"  # not in the map: as asked
    session_id = created.json()["id"]
    patched = await client.request(
        "PATCH",
        f"{jp_base_url}api/sessions/{session_id}",
        body=json.dumps({"kernel": {"name": "python3"}}),
    )
    assert patched.status == 200, patched.body
    assert patched.json()["kernel"]["name"] == "other"


async def test_kernel_with_a_provisioner(
    fetch: Any, token: str, jp_kernel_dir: Any, bridge_app: Any, jp_serverapp: Any
) -> None:
    provisioner = {"kernel_provisioner": {"provisioner_name": "local-provisioner"}}
    install_kernelspec(str(jp_kernel_dir), "provisioned", provisioner)
    bridge_app.kernel_mapper.kernel_map = {"python3": "provisioned"}
    response = await fetch("api/sessions", "POST", page_headers(token), session_body())
    assert response.code == 201, response.body
    kernel_id = json.loads(response.body)["kernel"]["id"]
    manager = jp_serverapp.kernel_manager.get_kernel(kernel_id)
    assert manager.kernel_name == "provisioned"
    assert type(manager.provisioner).__name__ == "LocalProvisioner"


# -- other clients are left alone -----------------------------------------------


async def test_script_through_tunnel_is_left_alone(open_bridge: Any, jp_base_url: str) -> None:
    client = await open_bridge(origin=None)
    reply = await client.request("POST", f"{jp_base_url}api/sessions", body=session_body())
    assert reply.status == 201, reply.body
    assert reply.json()["kernel"]["name"] == "python3"


async def test_jupyterlab_and_scripts_are_left_alone(
    fetch: Any, token: str, jp_http_port: int
) -> None:
    headers = {"Authorization": f"token {token}", "Content-Type": "application/json"}
    response = await fetch("api/sessions", "POST", headers, session_body())
    assert response.code == 201, response.body
    assert json.loads(response.body)["kernel"]["name"] == "python3"
    # JupyterLab's own fetches are same-origin: they carry the server's origin.
    lab = {**headers, "Origin": f"http://127.0.0.1:{jp_http_port}"}
    response = await fetch("api/kernels", "POST", lab, json.dumps({"name": "python3"}))
    assert response.code == 201, response.body
    assert json.loads(response.body)["name"] == "python3"


# -- a map to a kernel that does not exist --------------------------------------


@pytest.mark.parametrize("kernel_map", [{"python3": "nowhere"}])
async def test_missing_target_is_a_readable_error_both_ways(
    fetch: Any, open_bridge: Any, jp_base_url: str, token: str, server_log: Any
) -> None:
    response = await fetch("api/sessions", "POST", page_headers(token), session_body())
    assert response.code == 501
    assert response.headers["Access-Control-Allow-Origin"] == COLAB_ORIGIN
    error = json.loads(response.body)
    for part in ("'nowhere'", "c.ColabBridge.kernel_map", "echo", "python3"):
        assert part in error["message"], error
    assert error["reason"] == "kernel nowhere not found"
    assert "nowhere" in server_log.text()

    client = await open_bridge()
    reply = await client.request("POST", f"{jp_base_url}api/kernels", body='{"name": "python3"}')
    assert reply.status == 501
    assert reply.json()["message"] == error["message"]
    # The server keeps serving, and unmapped kernels still start.
    ok = await client.request("POST", f"{jp_base_url}api/kernels", body='{"name": "echo"}')
    assert ok.status == 201, ok.body


@pytest.mark.parametrize("kernel_map", [{"python3": "nowhere"}])
async def test_missing_target_tells_nothing_without_credentials(fetch: Any) -> None:
    headers = {"Origin": COLAB_ORIGIN, "Content-Type": "application/json"}
    response = await fetch("api/sessions", "POST", headers, session_body())
    assert response.code == 403
    assert b"echo" not in response.body


@pytest.mark.parametrize("kernel_map", [{"python3": "nowhere", "ir": "other"}])
async def test_start_up_names_targets_and_warns_about_missing(
    bridge_app: Any, server_log: Any
) -> None:
    await bridge_app.kernel_mapper.log_start_up()
    warnings = [r.getMessage() for r in server_log.records if r.levelname == "WARNING"]
    infos = [r.getMessage() for r in server_log.records if r.levelname == "INFO"]
    assert any("ir -> other" in m and "python3 -> nowhere" in m for m in infos), infos
    assert [m for m in warnings if "'nowhere'" in m], warnings
    assert not [m for m in warnings if "'other'" in m and "sends 'ir'" in m]


# -- bad input ---------------------------------------------------------------------


async def test_bad_body_gets_the_servers_own_error(
    fetch: Any, token: str, open_bridge: Any, jp_base_url: str
) -> None:
    response = await fetch("api/sessions", "POST", page_headers(token), "{not json")
    assert response.code == 400
    assert "Invalid JSON" in json.loads(response.body)["message"]
    client = await open_bridge()
    reply = await client.request("POST", f"{jp_base_url}api/sessions", body='["python3"]')
    assert reply.status in (400, 500), reply.body  # jupyter_server's answer to a non-object
    status = await client.request("GET", f"{jp_base_url}api/status")
    assert status.status == 200


@pytest.mark.parametrize(
    "value",
    [{"python3": ""}, {"": "other"}, {"python3": "bad name"}, {"python3": "a%b"}, {"x": 1}],
)
def test_bad_setting_is_refused(value: dict[str, Any]) -> None:
    with pytest.raises(TraitError, match="kernel_map"):
        ColabBridge(kernel_map=value)


def test_request_kind_on_raw_paths() -> None:
    assert request_kind("POST", "/a%40b/api/sessions", "/a%40b/") == "session"
    assert request_kind("patch", "/a%40b/api/sessions/abc-1", "/a%40b/") == "session"
    assert request_kind("POST", "/a%40b/api/kernels", "/a%40b/") == "kernel"
    for method, path in [
        ("GET", "/a%40b/api/sessions"),
        ("POST", "/a%40b/api/sessions/"),
        ("POST", "/a%40b/api/%73essions"),
        ("PATCH", "/a%40b/api/sessions/a/b"),
        ("POST", "/a%40b/api/kernels/x"),
        ("POST", "/api/kernels"),
    ]:
        assert request_kind(method, path, "/a%40b/") is None, (method, path)


def test_remap_body_shapes() -> None:
    names = {"python3", "other"}
    remap = remap_body(
        "kernel", "POST", b'{"name": "python3"}', {"python3": "other"}, "python3", names
    )
    assert remap is not None and json.loads(remap.body) == {"name": "other"}
    attach = b'{"kernel": {"id": "k1", "name": "python3"}}'
    assert remap_body("session", "POST", attach, {"python3": "other"}, "python3", names) is None
    assert (
        remap_body("session", "PATCH", b'{"path": "x"}', {"python3": "other"}, "python3", names)
        is None
    )
    for bad in (b"{not json", b"\xff", b"[1]", b'{"kernel": 3}', b'{"name": 3}'):
        kind = "kernel" if b"name" in bad else "session"
        assert remap_body(kind, "POST", bad, {"python3": "other"}, "python3", names) is None
    with pytest.raises(KernelMapError, match="other, python3"):
        remap_body("kernel", "POST", b"{}", {"python3": "gone"}, "python3", names)


def test_validate_and_describe() -> None:
    assert validate_map({"python3": "conda-env-r-ir"}) == {"python3": "conda-env-r-ir"}
    line, missing = describe_map({"python3": "x"}, {"python3"})
    assert "python3 -> x" in line and len(missing) == 1 and "'x'" in missing[0]
