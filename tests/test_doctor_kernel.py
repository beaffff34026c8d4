"""The doctor's kernel check runs on the kernel Colab gets, and its INFO lines.

A real server (pytest-jupyter) with ``ColabBridge.kernel_map`` sending
``python3`` to a second kernel; the doctor's check talks to it as Colab does.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from jupyter_colab_bridge.doctor.checks import check_kernel
from jupyter_colab_bridge.doctor.colab_client import BridgeSession, Target
from jupyter_colab_bridge.doctor.diagnoses import FAIL, INFO, PASS
from jupyter_colab_bridge.doctor.kernel_facts import facts_results, parse_facts
from tests.helpers.bridge_client import install_kernelspec


@pytest.fixture
def bridge_config(jp_kernel_dir: Any) -> dict[str, Any]:
    return {"kernel_map": {"python3": install_kernelspec(str(jp_kernel_dir), "other")}}


async def test_kernel_check_names_mapped_kernel_and_adds_info(
    http_server_client: Any, jp_http_port: int, jp_base_url: str, token: str, jp_serverapp: Any
) -> None:
    target = Target.parse(f"http://127.0.0.1:{jp_http_port}{jp_base_url}?token={token}")
    session = await BridgeSession.open(target)
    try:
        results = await check_kernel(session, 120)
    finally:
        session.close()
    by_id = {r.id: r for r in results}
    assert by_id["kernel"].status == PASS, by_id["kernel"]
    assert by_id["kernel"].summary.startswith("kernel other: 1+1 = 2")
    assert [r.status for r in results[1:]] == [INFO] * 4
    assert set(by_id) == {"kernel", "colab_package", "drive", "widgets", "packages"}
    assert "does not import in kernel other" in by_id["colab_package"].summary
    assert "ModuleNotFoundError" in by_id["colab_package"].summary
    assert "drive.py" in by_id["drive"].summary and "PyDrive2" in by_id["drive"].summary
    assert "kernel other: Python 3." in by_id["packages"].summary
    assert "numpy" in by_id["packages"].summary
    assert not jp_serverapp.kernel_manager.list_kernel_ids()  # deleted again


def test_facts_lines() -> None:
    facts = {
        "python": "3.12.1",
        "executable": "/envs/x/bin/python",
        "google_colab": None,
        "packages": {"ipywidgets": "7.7.1", "numpy": "1.26.4", "torch": "2.3.0"},
    }
    results = facts_results("myenv", facts)
    assert all(r.status == INFO for r in results)
    text = {r.id: r.summary for r in results}
    assert text["colab_package"].startswith("google.colab imports in kernel myenv")
    assert "renders ipywidgets 7 itself" in text["widgets"]
    assert "numpy 1.26.4, torch 2.3.0" in text["packages"]
    assert "not installed: pandas, tensorflow, jax" in text["packages"]
    facts["packages"] = {"ipywidgets": "8.1.2"}
    widgets = {r.id: r.summary for r in facts_results("k", facts)}["widgets"]
    assert "enable_custom_widget_manager" in widgets and "_widgets.py" in widgets


@pytest.mark.parametrize("result", ["", "2", "'not json'", "'[1]'", "__import__('os')", "None"])
def test_bad_kernel_answers_give_one_info_line(result: str) -> None:
    assert parse_facts(result) is None
    (line,) = facts_results("k", parse_facts(result))
    assert line.status == INFO and line.status != FAIL


def test_facts_round_trip() -> None:
    facts = {"python": "3.11", "packages": {}, "google_colab": "ModuleNotFoundError: x"}
    assert parse_facts(repr(json.dumps(facts))) == facts
