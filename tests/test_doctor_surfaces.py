"""The doctor's lines for Colab's terminal (colab/tty) and language server (colab/lsp).

A real server (pytest-jupyter) with python-lsp-server installed; the doctor's
checks look at it as Colab's page does, and never start the shell.
"""

from __future__ import annotations

from typing import Any

import pytest

from jupyter_colab_bridge.doctor.checks import CHECKS, Observed, run_checks
from jupyter_colab_bridge.doctor.colab_client import Target
from jupyter_colab_bridge.doctor.diagnoses import INFO, PASS, WARN, CheckId
from jupyter_colab_bridge.doctor.observations import SurfaceSeen
from jupyter_colab_bridge.doctor.surfaces import language_server_result, terminal_result

SURFACES = [c for c in CHECKS if c.id in (CheckId.TERMINAL, CheckId.LANGUAGE_SERVER)]


@pytest.fixture
def target(http_server_client: Any, jp_http_port: int, jp_base_url: str, token: str) -> Target:
    return Target.parse(f"http://127.0.0.1:{jp_http_port}{jp_base_url}?token={token}")


async def test_both_pass_on_a_server_that_serves_them(target: Target, jp_serverapp: Any) -> None:
    terminal, language_server = await run_checks(Observed(target=target, timeout=60), SURFACES)
    assert terminal.status == PASS and "colab/tty is served" in terminal.summary
    assert language_server.status == PASS, language_server
    assert "answered initialize" in language_server.summary
    assert not jp_serverapp.web_app.settings["terminal_manager"].terminals  # no shell started


@pytest.mark.parametrize("bridge_config", [{"terminal": False, "language_server": False}])
async def test_both_say_off_when_turned_off(bridge_config: dict[str, Any], target: Target) -> None:
    terminal, language_server = await run_checks(Observed(target=target, timeout=60), SURFACES)
    assert (terminal.status, language_server.status) == (INFO, INFO)
    assert "is off" in terminal.summary and "is off" in language_server.summary


@pytest.mark.parametrize(
    ("seen", "status", "words"),
    [
        pytest.param(SurfaceSeen(status=403), WARN, "HTTP 403", id="tty-refused"),
        pytest.param(SurfaceSeen(error="no answer"), WARN, "no answer", id="tty-error"),
    ],
)
def test_terminal_verdicts(seen: SurfaceSeen, status: str, words: str) -> None:
    result = terminal_result(seen)
    assert result.status == status and words in result.summary


def test_language_server_without_one_says_what_to_install() -> None:
    result = language_server_result(SurfaceSeen(101, closed="No language server is installed"))
    assert result.status == INFO and "python-lsp-server" in result.fix
