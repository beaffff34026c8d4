"""The start-up banner and ``jupyter colab-bridge url``: Colab's kernel, and the SSH forward.

A real server (pytest-jupyter); the banner is the extension's own start-up
line, the ``url`` entry the command's own description of a running server.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from jupyter_colab_bridge.backend_url import ssh_forward_hint
from jupyter_colab_bridge.cli import describe_servers, print_servers
from jupyter_colab_bridge.doctor.server_info import server_from_info
from tests.helpers.bridge_client import install_kernelspec

SSH = "203.0.113.7 52144 198.51.100.20 22"


@pytest.fixture
def bridge_config(jp_kernel_dir: Any) -> dict[str, Any]:
    return {"kernel_map": {"python3": install_kernelspec(str(jp_kernel_dir), "other")}}


async def banner(bridge_app: Any, server_log: Any) -> str:
    await bridge_app._log_banner()
    # the last: the server's own banner may be logged too, once the kernels are listed
    return [m for m in (r.getMessage() for r in server_log.records) if "is ready" in m][-1]


async def test_banner_names_colab_kernel(
    bridge_app: Any, server_log: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSH_CONNECTION", raising=False)
    text = await banner(bridge_app, server_log)
    assert "Colab's Python notebooks run on kernel: other (c.ColabBridge.kernel_map)" in text
    assert "ssh -N" not in text


async def test_banner_in_ssh_session_prints_the_forward(
    bridge_app: Any, server_log: Any, monkeypatch: pytest.MonkeyPatch, jp_http_port: int
) -> None:
    monkeypatch.setenv("SSH_CONNECTION", SSH)
    monkeypatch.setenv("USER", "ada")
    monkeypatch.setenv("LOGNAME", "ada")
    text = await banner(bridge_app, server_log)
    command = f"ssh -N -L {jp_http_port}:localhost:{jp_http_port} ada@198.51.100.20"
    assert command in text
    assert f"    http://localhost:{jp_http_port}/a%40b/?token=..." in text


@pytest.mark.parametrize(
    "value", ["", "garbage", "1.2.3.4 5 6", "1.2.3.4 5 not-an-ip 22", "a b $(reboot) d"]
)
def test_ssh_hint_ignores_values_sshd_does_not_set(value: str) -> None:
    assert ssh_forward_hint({"SSH_CONNECTION": value}, 8888, "u") is None


def test_ssh_hint_ipv6_and_listen_address() -> None:
    hint = ssh_forward_hint({"SSH_CONNECTION": "::1 5 fe80::1 22"}, 8888, "u")
    assert hint == "ssh -N -L 8888:localhost:8888 u@fe80::1"
    env = {"SSH_CONNECTION": SSH}
    for ip in ("", "0.0.0.0", "127.0.0.1", "localhost"):
        assert (
            ssh_forward_hint(env, 1, "u", listen_ip=ip) == "ssh -N -L 1:localhost:1 u@198.51.100.20"
        )
    only = ssh_forward_hint(env, 1, "u", listen_ip="10.0.0.5")
    assert only == "ssh -N -L 1:10.0.0.5:1 u@198.51.100.20"


async def test_url_command_names_kernel_and_forward(
    jp_serverapp: Any,
    http_server_client: Any,
    jp_config_dir: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    token: str,
) -> None:
    config = {"ColabBridge": {"kernel_map": {"python3": "other"}}}
    Path(jp_config_dir, "jupyter_server_config.json").write_text(json.dumps(config))
    monkeypatch.setenv("SSH_CONNECTION", SSH)
    server = server_from_info(jp_serverapp.server_info())
    (entry,) = await describe_servers([server])
    assert entry["colab_python_kernel"] == "other"
    assert entry["ssh_forward"].endswith("@198.51.100.20")
    assert entry["ssh_paste_url"] == f"http://localhost:{server.port}/a%40b/?token={token}"
    print_servers([entry])
    out = capsys.readouterr().out
    assert "Colab's Python notebooks run on kernel: other" in out
    assert f"on your laptop run: ssh -N -L {server.port}:localhost:{server.port} " in out
