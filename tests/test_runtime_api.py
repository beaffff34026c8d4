"""Colab's runtime API (``api/colab/*``) on a real server, with real kernels, over real sockets.

pytest-jupyter's in-process server (``base_url`` ``/a%40b/``) with ipykernel
kernels; requests go over TCP as a browser's or Colab's page's would, directly
or through the bridge's tunnel. Only NVML is a fake (``fake_nvml``), as a GPU
cannot be had here; it is put in ``sys.modules`` before the first reading, so
the server imports it as it would import ``pynvml``.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Iterator
from pathlib import Path
from typing import Any, Callable, ClassVar

import psutil
import pytest
from jupyter_server.auth.authorizer import Authorizer
from tornado.httpclient import HTTPResponse

from tests.helpers.bridge_client import (
    COLAB_ORIGIN,
    open_kernel_channel,
    start_kernel,
)
from tests.helpers.fake_nvml import (
    NVML_ERROR_DRIVER_NOT_LOADED,
    NVML_ERROR_GPU_IS_LOST,
    TWO_GPUS_FIGURES,
    FakeNvml,
    two_gpus,
)
from tests.helpers.probes import Hold, until

ALLOWED = COLAB_ORIGIN
OTHER = "https://evil.example.com"
PREFIX = b")]}'\n"
PATHS = ("api/colab/resources", "api/colab/build-info", "api/colab/drive")
MiB = 2**20
GiB = 2**30


# -- set-up --------------------------------------------------------------------------


@pytest.fixture
def runtime_config() -> dict[str, Any]:
    """ColabBridge settings of the test; parametrize to change them."""
    return {}


@pytest.fixture
def bridge_config(runtime_config: dict[str, Any]) -> dict[str, Any]:
    return {"allowed_origins": [ALLOWED], **runtime_config}


class RecordingAuthorizer(Authorizer):
    """Allows everything but the resources in ``denied``; records what it was asked."""

    denied: ClassVar[frozenset[str]] = frozenset()
    asked: ClassVar[list[tuple[str, str]]] = []

    def is_authorized(self, handler: Any, user: Any, action: str, resource: str) -> bool:
        RecordingAuthorizer.asked.append((action, resource))
        return resource not in self.denied


class DenyColab(RecordingAuthorizer):
    denied = frozenset({"colab"})


@pytest.fixture
def authorizer_class() -> type[Authorizer] | None:
    return None


@pytest.fixture
def jp_server_config(
    jp_server_config: dict[str, Any], authorizer_class: type[Authorizer] | None
) -> dict[str, Any]:
    config = dict(jp_server_config)
    if authorizer_class is not None:
        RecordingAuthorizer.asked = []
        config["ServerApp"] = {**config["ServerApp"], "authorizer_class": authorizer_class}
    return config


@pytest.fixture
def root_fs() -> str:
    """Where the server's root_dir is: "tmp" (pytest's tmp_path) or "shm" (/dev/shm)."""
    return "tmp"


@pytest.fixture
def jp_root_dir(tmp_path: Path, root_fs: str) -> Iterator[Path]:
    if root_fs == "tmp":
        root = tmp_path / "root_dir"
        root.mkdir()
        yield root
        return
    shm = Path("/dev/shm")
    if not shm.is_dir() or shm.stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("no /dev/shm on a filesystem of its own")
    root = Path(tempfile.mkdtemp(dir=shm, prefix="colab-bridge-test-"))
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def get(fetch: Any, token: str) -> Callable[[str], Awaitable[Any]]:
    """GET ``path`` with the token; its JSON, after checking status, type and prefix."""

    async def _get(path: str) -> Any:
        response = await fetch(path, headers={"Authorization": f"token {token}"})
        assert response.code == 200, response.body
        return parse(response)

    return _get


def parse(response: HTTPResponse) -> Any:
    assert response.headers["Content-Type"].split(";")[0] == "application/json"
    assert response.body.startswith(PREFIX), response.body[:20]
    return json.loads(response.body[len(PREFIX) :])


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_resources(model: Any) -> None:
    """The exact shape and types of the contract (docs/protocol.md section 6)."""
    assert set(model) == {"memory", "disks", "gpus"}
    memory = model["memory"]
    assert set(memory) == {"totalBytes", "freeBytes", "kernels"}
    assert is_int(memory["totalBytes"]) and is_int(memory["freeBytes"])
    assert 0 < memory["freeBytes"] <= memory["totalBytes"]
    for kernel in memory["kernels"]:
        assert set(kernel) == {"uuid", "usedBytes"}
        assert isinstance(kernel["uuid"], str) and is_int(kernel["usedBytes"])
    (disk,) = model["disks"]
    assert set(disk) == {"filesystem"}
    assert set(disk["filesystem"]) == {"label", "totalBytes", "usedBytes"}
    assert disk["filesystem"]["label"] == "kernel"
    assert is_int(disk["filesystem"]["totalBytes"]) and is_int(disk["filesystem"]["usedBytes"])
    for gpu in model["gpus"]:
        assert set(gpu) == {
            "name",
            "memoryUsedBytes",
            "memoryTotalBytes",
            "gpuUtilization",
            "memoryUtilization",
            "everUsed",
        }
        assert isinstance(gpu["name"], str)
        assert is_int(gpu["memoryUsedBytes"]) and is_int(gpu["memoryTotalBytes"])
        assert isinstance(gpu["gpuUtilization"], float) and 0 <= gpu["gpuUtilization"] <= 1
        assert isinstance(gpu["memoryUtilization"], float) and 0 <= gpu["memoryUtilization"] <= 1
        assert isinstance(gpu["everUsed"], bool)


# -- the replies ------------------------------------------------------------------------


async def test_replies(fetch: Any, token: str, get: Any, jp_root_dir: Path) -> None:
    resources = await get("api/colab/resources")
    check_resources(resources)
    assert resources["memory"]["totalBytes"] == psutil.virtual_memory().total
    assert resources["memory"]["kernels"] == []
    assert await get("api/colab/build-info") == {"release_tag": None}
    assert await get("api/colab/drive") == {"dfs": []}
    # ?token= works as for any API call (Colab's page in direct mode)
    for path in PATHS:
        response = await fetch(f"{path}?token={token}")
        assert response.code == 200
        parse(response)


@pytest.mark.parametrize("root_fs", ["tmp", "shm"])
async def test_disk_is_root_dirs(get: Any, jp_root_dir: Path, root_fs: str) -> None:
    (disk,) = (await get("api/colab/resources"))["disks"]
    usage = psutil.disk_usage(str(jp_root_dir))
    assert disk["filesystem"]["totalBytes"] == usage.total
    assert abs(disk["filesystem"]["usedBytes"] - usage.used) < 256 * MiB
    if root_fs == "shm":
        assert os.stat(jp_root_dir).st_dev != os.stat("/").st_dev
        root = psutil.disk_usage("/")
        if root.total != usage.total:
            assert disk["filesystem"]["totalBytes"] != root.total


@pytest.mark.parametrize("path", PATHS)
async def test_credentials_required(fetch: Any, path: str) -> None:
    assert (await fetch(path)).code == 403
    assert (await fetch(f"{path}?token=wrong")).code == 403
    assert (await fetch(path, headers={"Authorization": "token wrong"})).code == 403


@pytest.mark.parametrize("authorizer_class", [DenyColab])
async def test_the_servers_authorizer_decides(
    fetch: Any, token: str, authorizer_class: type[Authorizer]
) -> None:
    auth = {"Authorization": f"token {token}"}
    for path in PATHS:
        assert (await fetch(path, headers=auth)).code == 403
    assert ("read", "colab") in RecordingAuthorizer.asked
    assert (await fetch("api/kernelspecs", headers=auth)).code == 200


@pytest.mark.parametrize("path", PATHS)
async def test_cors_for_colabs_page(fetch: Any, token: str, path: str) -> None:
    response = await fetch(f"{path}?token={token}", headers={"Origin": ALLOWED})
    assert response.code == 200
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
    parse(response)
    preflight = await fetch(
        path,
        headers={"Origin": ALLOWED, "Access-Control-Request-Method": "GET"},
        method="OPTIONS",
    )
    assert preflight.code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == ALLOWED
    other = await fetch(f"{path}?token={token}", headers={"Origin": OTHER})
    assert "Access-Control-Allow-Credentials" not in other.headers
    assert other.headers.get("Access-Control-Allow-Origin") in (None, OTHER)


async def test_through_the_tunnel(open_bridge: Any, jp_base_url: str, get: Any) -> None:
    client = await open_bridge(params={"min_version": "0.0.7"})
    for path in PATHS:
        reply = await client.request("GET", f"{jp_base_url}{path}")
        assert reply.status == 200
        assert reply.headers["Content-Type"].split(";")[0] == "application/json"
        assert reply.body.startswith(PREFIX)
        model = json.loads(reply.body[len(PREFIX) :])
        direct = await get(path)
        if path.endswith("resources"):
            check_resources(model)
            assert model["memory"]["totalBytes"] == direct["memory"]["totalBytes"]
        else:
            assert model == direct


@pytest.mark.parametrize("runtime_config", [{"runtime_api": False}])
async def test_runtime_api_off(
    fetch: Any, token: str, bridge_app: Any, runtime_config: dict[str, Any]
) -> None:
    for path in PATHS:
        response = await fetch(path, headers={"Authorization": f"token {token}"})
        assert response.code == 404
        assert not response.body.startswith(PREFIX)
    assert not hasattr(bridge_app, "resource_sampler")


@pytest.mark.parametrize("runtime_config", [{"release_tag": "workstation-2025.06"}])
async def test_release_tag(get: Any, runtime_config: dict[str, Any]) -> None:
    assert await get("api/colab/build-info") == {"release_tag": "workstation-2025.06"}


async def test_polling_is_not_activity(fetch: Any, token: str, jp_serverapp: Any, get: Any) -> None:
    settings = jp_serverapp.web_app.settings
    await fetch("api/kernelspecs", headers={"Authorization": f"token {token}"})
    before = settings["api_last_activity"]
    await asyncio.sleep(0.01)
    for path in PATHS:
        await get(path)
    assert settings["api_last_activity"] == before
    await fetch("api/kernelspecs", headers={"Authorization": f"token {token}"})
    assert settings["api_last_activity"] > before


# -- kernels --------------------------------------------------------------------------


async def run(channel: Any, code: str) -> str:
    stdout, reply, _ = await channel.execute(code)
    assert reply["status"] == "ok", reply
    return str(stdout)


async def kernel_memory(get: Any, kernel_id: str) -> int | None:
    kernels = (await get("api/colab/resources"))["memory"]["kernels"]
    used = [k["usedBytes"] for k in kernels if k["uuid"] == kernel_id]
    return used[0] if used else None


async def wait_memory(
    get: Any, kernel_id: str, condition: Callable[[int], bool], timeout: float = 60.0
) -> int:
    """Poll until the kernel's figure satisfies ``condition``; the figure."""
    seen: list[int | None] = [None]

    async def met() -> bool:
        seen[0] = await kernel_memory(get, kernel_id)
        return seen[0] is not None and condition(seen[0])

    assert await until(met, timeout, every=0.25), f"kernel memory never met it: {seen[0]}"
    assert seen[0] is not None
    return seen[0]


def kernel_pid(jp_serverapp: Any, kernel_id: str) -> int:
    return int(jp_serverapp.kernel_manager.get_kernel(kernel_id).provisioner.process.pid)


async def test_kernel_memory_grows_with_its_data(
    jp_fetch: Any,
    jp_serverapp: Any,
    jp_http_port: int,
    jp_base_url: str,
    token: str,
    get: Any,
    sockets: list[Any],
) -> None:
    kernel_id = await start_kernel(jp_fetch)
    assert await wait_memory(get, kernel_id, lambda used: used > 10 * MiB)
    channel = await open_kernel_channel(jp_http_port, jp_base_url, kernel_id, token)
    sockets.append(channel.ws)
    own = psutil.Process(kernel_pid(jp_serverapp, kernel_id)).memory_info().rss
    before = await wait_memory(get, kernel_id, lambda used: abs(used - own) < 64 * MiB)
    await run(channel, "x = b'x' * (300 * 2**20)")
    grown = await wait_memory(get, kernel_id, lambda used: used >= before + 280 * MiB)
    assert grown < before + 450 * MiB
    await run(channel, "del x")
    await wait_memory(get, kernel_id, lambda used: used < before + 100 * MiB)


async def test_kernel_memory_includes_its_child_processes(
    jp_fetch: Any,
    jp_serverapp: Any,
    jp_http_port: int,
    jp_base_url: str,
    token: str,
    get: Any,
    sockets: list[Any],
) -> None:
    kernel_id = await start_kernel(jp_fetch)
    channel = await open_kernel_channel(jp_http_port, jp_base_url, kernel_id, token)
    sockets.append(channel.ws)
    pid = kernel_pid(jp_serverapp, kernel_id)
    before = await wait_memory(get, kernel_id, lambda used: used > 10 * MiB)
    holder = "import time; x = b'x' * (200 * 2**20); print('ready', flush=True); time.sleep(600)"
    child_pid = int(
        await run(
            channel,
            "import subprocess, sys\n"
            f"child = subprocess.Popen([sys.executable, '-c', {holder!r}],"
            " stdout=subprocess.PIPE, text=True)\n"
            "child.stdout.readline()\n"
            "print(child.pid)\n",
        )
    )
    try:
        assert psutil.Process(child_pid).ppid() == pid
        used = await wait_memory(get, kernel_id, lambda used: used >= before + 180 * MiB)
        assert used - psutil.Process(pid).memory_info().rss >= 180 * MiB  # not the kernel's own
    finally:
        await run(channel, "child.kill(); child.wait(); child.stdout.close()")
    await wait_memory(get, kernel_id, lambda used: used < before + 100 * MiB)


async def test_kernel_left_out_once_shut_down(jp_fetch: Any, get: Any) -> None:
    kernel_id = await start_kernel(jp_fetch)
    await wait_memory(get, kernel_id, lambda used: used > 0)
    await jp_fetch("api", "kernels", kernel_id, method="DELETE")

    async def gone() -> bool:
        return await kernel_memory(get, kernel_id) is None

    assert await until(gone, 30, every=0.25), "the shut-down kernel is still listed"


# -- GPUs (fake NVML) -------------------------------------------------------------------


@pytest.mark.parametrize("runtime_config", [{"resources_max_age": 0}])
async def test_gpus(
    get: Any, monkeypatch: pytest.MonkeyPatch, runtime_config: dict[str, Any]
) -> None:
    gpus = two_gpus()
    nvml = FakeNvml(gpus)
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    first = (await get("api/colab/resources"))["gpus"]
    assert first == TWO_GPUS_FIGURES
    gpus[0].used, gpus[0].gpu_percent = 3 * GiB, 100
    gpus[1].error = NVML_ERROR_GPU_IS_LOST
    (only,) = (await get("api/colab/resources"))["gpus"]
    assert only["name"] == "NVIDIA H100 80GB HBM3"
    assert (only["memoryUsedBytes"], only["gpuUtilization"], only["everUsed"]) == (
        3 * GiB,
        1.0,
        True,
    )
    gpus[0].used = 0
    gpus[1].error = None
    third = (await get("api/colab/resources"))["gpus"]
    assert [(g["memoryUsedBytes"], g["everUsed"]) for g in third] == [(0, True), (10 * GiB, True)]
    assert nvml.calls["nvmlInit"] == 1


@pytest.mark.parametrize("runtime_config", [{"resources_max_age": 0}])
async def test_gpus_nvml_cannot_start(
    get: Any, monkeypatch: pytest.MonkeyPatch, server_log: Any, runtime_config: dict[str, Any]
) -> None:
    nvml = FakeNvml(two_gpus(), init_error=NVML_ERROR_DRIVER_NOT_LOADED)
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    for _ in range(3):
        resources = await get("api/colab/resources")
        check_resources(resources)
        assert resources["gpus"] == []
    assert nvml.calls["nvmlInit"] == 1
    lines = [r for r in server_log.records if "no GPU figures" in r.getMessage()]
    assert len(lines) == 1, server_log.text()


# -- cost: off the event loop, shared, reused --------------------------------------------


async def assert_loop_free_while_pending(fetch: Any, token: str, hold: Hold) -> None:
    """While a resources collection is held in its thread, the server answers api/status.

    The collection is released only after that answer: had it run on the event
    loop, neither would come (the hold would time out and the test fail).
    """
    auth = {"Authorization": f"token {token}"}
    pending = asyncio.ensure_future(fetch("api/colab/resources", headers=auth))
    assert await until(hold.entered.is_set), "the collection never started"
    status = await fetch("api/status", headers=auth)
    assert status.code == 200
    assert not pending.done()
    hold.released.set()
    response = await pending
    assert hold.released_in_time, "the collection was not released while held"
    assert response.code == 200
    check_resources(parse(response))


@pytest.mark.parametrize("runtime_config", [{"resources_max_age": 0}])
async def test_slow_disk_does_not_block_the_server(
    fetch: Any, token: str, monkeypatch: pytest.MonkeyPatch, runtime_config: dict[str, Any]
) -> None:
    real = psutil.disk_usage
    hold = Hold()

    def slow_disk_usage(path: str) -> Any:
        hold.block()
        return real(path)

    monkeypatch.setattr(psutil, "disk_usage", slow_disk_usage)
    await assert_loop_free_while_pending(fetch, token, hold)


@pytest.mark.parametrize("runtime_config", [{"resources_max_age": 0}])
async def test_slow_gpu_does_not_block_the_server(
    fetch: Any, token: str, monkeypatch: pytest.MonkeyPatch, runtime_config: dict[str, Any]
) -> None:
    gpus = two_gpus()
    gpus[1].hold = Hold()
    monkeypatch.setitem(sys.modules, "pynvml", FakeNvml(gpus))
    await assert_loop_free_while_pending(fetch, token, gpus[1].hold)


@pytest.mark.parametrize("runtime_config", [{"resources_max_age": 0}])
async def test_concurrent_requests_share_one_collection(
    fetch: Any,
    token: str,
    bridge_app: Any,
    monkeypatch: pytest.MonkeyPatch,
    runtime_config: dict[str, Any],
) -> None:
    real = psutil.disk_usage

    def slow_disk_usage(path: str) -> Any:
        time.sleep(0.5)
        return real(path)

    monkeypatch.setattr(psutil, "disk_usage", slow_disk_usage)
    auth = {"Authorization": f"token {token}"}
    responses = await asyncio.gather(
        *(fetch("api/colab/resources", headers=auth) for _ in range(6))
    )
    assert [r.code for r in responses] == [200] * 6
    assert len({r.body for r in responses}) == 1
    assert bridge_app.resource_sampler.collections == 1
    await fetch("api/colab/resources", headers=auth)
    assert bridge_app.resource_sampler.collections == 2  # max_age 0: a later one reads afresh


@pytest.mark.parametrize("runtime_config", [{"resources_max_age": 60}])
async def test_result_reused_within_max_age(
    get: Any, bridge_app: Any, runtime_config: dict[str, Any]
) -> None:
    first = await get("api/colab/resources")
    for _ in range(5):
        assert await get("api/colab/resources") == first
    assert bridge_app.resource_sampler.collections == 1


def test_negative_max_age_is_refused() -> None:
    from traitlets import TraitError

    from jupyter_colab_bridge.app import ColabBridge

    with pytest.raises(TraitError, match="resources_max_age must not be negative"):
        ColabBridge(resources_max_age=-1)
