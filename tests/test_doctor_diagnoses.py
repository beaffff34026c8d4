"""The doctor's pure verdicts added for the runtime API, both origins and JupyterHub.

The same verdicts are reached against real servers in tests/test_cli.py and
against a real JupyterHub in tests/hub/test_hub.py; here each branch alone.
"""

from __future__ import annotations

import json

import pytest

from jupyter_colab_bridge.doctor.colab_client import ApiAnswer, Target
from jupyter_colab_bridge.doctor.diagnoses import (
    FAIL,
    PASS,
    WARN,
    explain_refused_hub_token,
    hub_server_not_running,
    origin_result,
    resources_result,
)
from jupyter_colab_bridge.doctor.server_info import BridgeConfig
from tests.helpers.bridge_client import COLAB_GOOGLE_ORIGIN, COLAB_ORIGIN

HUB_URL = "https://hub.example.org/jhub/user/alice/?token=t0k"


def test_target_knows_a_hub_users_server() -> None:
    target = Target.parse(HUB_URL)
    assert target.hub_user == ("/jhub/", "alice")
    assert target.hub_url("token") == "https://hub.example.org:443/jhub/hub/token"
    assert Target.parse("http://localhost:8888/?token=x").hub_user is None


@pytest.mark.parametrize(
    ("answer", "stopped"),
    [
        (ApiAnswer(302, None, "6.1.1", "/jhub/hub/user/alice/api"), True),
        (ApiAnswer(503, None, "6.1.1", None), True),
        (ApiAnswer(200, "2.21.1", "6.1.1", None), False),  # running
        (ApiAnswer(302, None, None, "/jhub/hub/user/alice/api"), False),  # not a Hub
        (ApiAnswer(302, None, "6.1.1", "/elsewhere"), False),
    ],
)
def test_hub_server_not_running(answer: ApiAnswer, stopped: bool) -> None:
    result = hub_server_not_running(Target.parse(HUB_URL), answer)
    if not stopped:
        assert result is None
        return
    assert result is not None and result.status == FAIL
    assert "alice's server" in result.summary
    assert "https://hub.example.org:443/jhub/hub/home" in result.fix


@pytest.mark.parametrize(
    ("status", "owner", "cause"),
    [
        (403, None, "does not know this token"),
        (200, "bob", "the token is bob's, but this is alice's server"),
        (200, "alice", "lacks the scope"),
        (None, None, "refused the token"),
    ],
)
def test_refused_hub_token(status: int | None, owner: str | None, cause: str) -> None:
    found, fix = explain_refused_hub_token(Target.parse(HUB_URL), status, owner)
    assert cause in found
    assert "hub/token" in fix


def test_origin_result_both_or_one() -> None:
    config = BridgeConfig(allowed_origins=[COLAB_ORIGIN, COLAB_GOOGLE_ORIGIN])
    assert origin_result({COLAB_ORIGIN: 101, COLAB_GOOGLE_ORIGIN: 101}, config).status == PASS
    only_main = origin_result({COLAB_ORIGIN: 101, COLAB_GOOGLE_ORIGIN: 403}, config)
    assert only_main.status == WARN and COLAB_GOOGLE_ORIGIN in only_main.summary
    assert origin_result({COLAB_ORIGIN: 403, COLAB_GOOGLE_ORIGIN: 101}, config).status == FAIL


def _body(figures: object) -> bytes:
    return b")]}'\n" + json.dumps(figures).encode()


def test_resources_line() -> None:
    figures = {
        "memory": {"totalBytes": 16 * 2**30, "freeBytes": 12 * 2**30, "kernels": []},
        "disks": [
            {"filesystem": {"label": "kernel", "totalBytes": 100 * 2**30, "usedBytes": 40 * 2**30}}
        ],
        "gpus": [
            {
                "name": "NVIDIA H200",
                "memoryUsedBytes": 2**30,
                "memoryTotalBytes": 140 * 2**30,
                "gpuUtilization": 0.5,
                "memoryUtilization": 0.1,
                "everUsed": True,
            }
        ],
    }
    line = resources_result(200, _body(figures))
    assert line.status == PASS
    assert line.summary == (
        "RAM 12.0 GiB free of 16.0 GiB; disk 60.0 GiB free of 100.0 GiB; "
        "GPUs: NVIDIA H200 (1.0 GiB of 140.0 GiB used)"
    )
    figures["gpus"] = []
    assert "no GPU" in resources_result(200, _body(figures)).summary


@pytest.mark.parametrize(
    ("status", "body"),
    [(404, b"{}"), (500, b"oops"), (200, b'{"memory": {}}'), (200, _body({"memory": {}}))],
)
def test_resources_problems_warn(status: int, body: bytes) -> None:
    assert resources_result(status, body).status == WARN


def test_hub_paste_urls() -> None:
    from jupyter_colab_bridge.backend_url import hub_paste_urls

    env = {"JUPYTERHUB_SERVICE_PREFIX": "/user/alice/", "JUPYTERHUB_API_TOKEN": "server-cred"}
    assert hub_paste_urls(env) == (
        "https://<your hub>/user/alice/",
        "https://<your hub>/hub/token",
    )
    env["JUPYTERHUB_PUBLIC_URL"] = "https://hub.example.org/user/alice/"
    env["JUPYTERHUB_PUBLIC_HUB_URL"] = "https://hub.example.org/hub/"
    assert hub_paste_urls(env) == (
        "https://hub.example.org/user/alice/",
        "https://hub.example.org/hub/token",
    )
    assert hub_paste_urls({}) is None
