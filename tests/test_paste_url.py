"""What the banner and ``jupyter colab-bridge url`` offer to paste, and how they flag trouble.

A real server (pytest-jupyter). A server without a token gets no URL to
paste, but two short lines: why Colab cannot use it, and how to set a token.
A kernel map to a kernel this server lacks is flagged on the banner's kernel
line itself. The banner and ``url`` list the allowed origins in one order.
"""

from __future__ import annotations

from typing import Any

import pytest
from jupyter_server.auth import passwd

from jupyter_colab_bridge.backend_url import no_token_lines
from jupyter_colab_bridge.cli import (
    allowlist_as_the_banner_shows_it,
    describe_servers,
    print_servers,
)
from jupyter_colab_bridge.doctor.server_info import server_from_info
from jupyter_colab_bridge.protocol.origins import COLAB_ORIGINS


async def banner(bridge_app: Any, server_log: Any) -> list[str]:
    await bridge_app._log_banner()
    texts = [m for m in (r.getMessage() for r in server_log.records) if "is ready" in m]
    return [line.strip() for line in texts[-1].splitlines()]


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
        lines = await banner(bridge_app, server_log)
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
        monkeypatch.setenv("SSH_CONNECTION", "203.0.113.7 52144 198.51.100.20 22")
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
        lines = await banner(bridge_app, server_log)
        assert lines[1:3] == list(no_token_lines(password=False))
        assert not any(line.startswith("http") for line in lines)


class TestMissingKernel:
    @pytest.fixture
    def bridge_config(self) -> dict[str, Any]:
        return {"kernel_map": {"python3": "nope"}}

    async def test_the_kernel_line_says_so(self, bridge_app: Any, server_log: Any) -> None:
        lines = await banner(bridge_app, server_log)
        (line,) = [x for x in lines if x.startswith("Colab's Python notebooks run on kernel")]
        assert line.startswith(
            "Colab's Python notebooks run on kernel: nope (c.ColabBridge.kernel_map) -- "
            "NOT A KERNEL OF THIS SERVER"
        )
        assert "python3" in line  # the kernels it has


async def test_a_kernel_that_exists_is_not_flagged(bridge_app: Any, server_log: Any) -> None:
    lines = await banner(bridge_app, server_log)
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
        lines = await banner(bridge_app, server_log)
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
