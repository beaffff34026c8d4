"""The start-up banner and ``jupyter colab-bridge url``: what they offer to paste, and why not.

A real server (pytest-jupyter); the banner is the extension's own start-up
line, the ``url`` entry the command's own description of a running server.
They name Colab's kernel (flagged if this server lacks it) and, in an SSH
session, the forward to run; a server without a token gets no URL to paste
but two lines that say why and how to set one; both list the allowed origins
in one order.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jupyter_server.auth import passwd

from jupyter_colab_bridge.backend_url import no_token_lines, ssh_forward_hint
from jupyter_colab_bridge.cli import (
    allowlist_as_the_banner_shows_it,
    describe_servers,
    print_servers,
)
from jupyter_colab_bridge.doctor.server_info import server_from_info
from jupyter_colab_bridge.protocol.origins import COLAB_ORIGINS
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


# --------------------------------------------------------------------------------------
# -- What the banner and ``url`` offer to paste, and how they flag trouble (issue 26,
# items 4 and 11).
#
# A server without a token gets no URL to paste, but two short lines: why Colab
# cannot use it, and how to set a token. A kernel map to a kernel this server
# lacks is flagged on the banner's kernel line itself. The banner and ``url``
# list the allowed origins in one order. Each class has its own server; these
# tests do not take the module's kernel map.
# (These tests were tests/test_paste_url.py.)
# --------------------------------------------------------------------------------------
async def banner_lines(bridge_app: Any, server_log: Any) -> list[str]:
    """The banner's lines, stripped."""
    return [line.strip() for line in (await banner(bridge_app, server_log)).splitlines()]


class TestPasswordOnly:
    @pytest.fixture
    def jp_server_config(self) -> dict[str, Any]:
        return {
            # ServerApp.token (deprecated, passed on) keeps pytest-jupyter from setting one
            "ServerApp": {"jpserver_extensions": {"jupyter_colab_bridge": True}, "token": ""},
            "IdentityProvider": {"token": ""},
            "PasswordIdentityProvider": {"hashed_password": passwd("pw-only")},
        }

    async def test_banner_offers_no_url(self, bridge_app: Any, server_log: Any) -> None:
        lines = await banner_lines(bridge_app, server_log)
        why, how = no_token_lines(password=True)
        assert lines[1:3] == [why, how]
        assert "password" in why and "JUPYTER_TOKEN" in how and "?token=" in how
        assert not any(line.startswith("http") for line in lines)
        assert not any("paste:" in line for line in lines)

    async def test_url_says_why_not(
        self,
        jp_serverapp: Any,
        http_server_client: Any,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        monkeypatch.setenv("SSH_CONNECTION", SSH)
        info = {**jp_serverapp.server_info(), "password": True}
        server = server_from_info(info)
        (entry,) = await describe_servers([server])
        assert entry["colab_can_use_url"] is False
        assert entry["why_not"] == list(no_token_lines(password=True))
        print_servers([entry])
        out = capsys.readouterr().out
        assert f"  {server.backend_url}  (not for Colab: no token)\n" in out
        for line in no_token_lines(password=True):
            assert f"    {line}\n" in out
        assert "then paste there" not in out  # no forward to a URL that cannot work


class TestNoAuthentication:
    @pytest.fixture
    def jp_server_config(self) -> dict[str, Any]:
        return {
            # ServerApp.token (deprecated, passed on) keeps pytest-jupyter from setting one
            "ServerApp": {"jpserver_extensions": {"jupyter_colab_bridge": True}, "token": ""},
            "IdentityProvider": {"token": ""},
        }

    async def test_banner_offers_no_url(self, bridge_app: Any, server_log: Any) -> None:
        lines = await banner_lines(bridge_app, server_log)
        assert lines[1:3] == list(no_token_lines(password=False))
        assert not any(line.startswith("http") for line in lines)


class TestMissingKernel:
    @pytest.fixture
    def bridge_config(self) -> dict[str, Any]:
        return {"kernel_map": {"python3": "nope"}}

    async def test_the_kernel_line_says_so(self, bridge_app: Any, server_log: Any) -> None:
        lines = await banner_lines(bridge_app, server_log)
        (line,) = [x for x in lines if x.startswith("Colab's Python notebooks run on kernel")]
        assert line.startswith(
            "Colab's Python notebooks run on kernel: nope (c.ColabBridge.kernel_map) -- "
            "NOT A KERNEL OF THIS SERVER"
        )
        assert "python3" in line  # the kernels it has


class TestDefaultKernel:
    @pytest.fixture
    def bridge_config(self) -> dict[str, Any]:
        return {}

    async def test_a_kernel_that_exists_is_not_flagged(
        self, bridge_app: Any, server_log: Any
    ) -> None:
        lines = await banner_lines(bridge_app, server_log)
        assert "Colab's Python notebooks run on kernel: python3" in lines
        assert not any("NOT A KERNEL" in line for line in lines)


class TestOriginOrder:
    @pytest.fixture
    def bridge_config(self) -> dict[str, Any]:
        return {
            "allowed_origins": ["https://zz.example", *COLAB_ORIGINS, "http://localhost:5173"],
            "allowed_origin_patterns": [r"https://[a-z]+\.colab\.example\.com"],
        }

    async def test_banner_and_url_agree(
        self, bridge_app: Any, server_log: Any, capsys: pytest.CaptureFixture[str]
    ) -> None:
        lines = await banner_lines(bridge_app, server_log)
        (shown,) = [x for x in lines if x.startswith("Allowed page origins: ")]
        config = bridge_app.allowed_origins, bridge_app.allowed_origin_patterns
        listed = allowlist_as_the_banner_shows_it(*config)
        assert shown == f"Allowed page origins: {', '.join(listed)}"
        entry = {
            "url": "http://localhost:1/?token=t",
            "colab_can_use_url": True,
            "why_not": [],
            "bridge": "enabled",
            "colab_origin_allowed": True,
            "allowed_origins": list(config[0]),
            "allowed_origin_patterns": list(config[1]),
            "colab_python_kernel": "python3",
            "ssh_forward": None,
            "ssh_paste_url": None,
            "settings_error": None,
            "root_dir": "/",
            "pid": 1,
        }
        print_servers([entry])
        assert f"    allowed origins: {', '.join(listed)}\n" in capsys.readouterr().out
