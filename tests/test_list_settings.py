"""List and dict settings on the command line (jupyter_colab_bridge/setting_types.py).

``--ColabBridge.allowed_origin_patterns='["..."]'`` is a list of one pattern;
the same with the quotes eaten by the shell (``[...]``) is refused at
start-up with a message showing both syntaxes, instead of becoming one
useless pattern. Dropping Colab's own origins warns at start-up.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from jupyter_server.serverapp import ServerApp
from traitlets import Dict, List, TraitError
from traitlets.config.loader import KVArgParseConfigLoader

from jupyter_colab_bridge.app import ColabBridge
from jupyter_colab_bridge.protocol.origins import COLAB_ORIGINS
from jupyter_colab_bridge.setting_types import DictSetting, ListSetting, read_dict, read_list
from jupyter_colab_bridge.settings import BridgeSettings
from tests.helpers.servers import start_or_exit

PATTERN = r"https://[a-z]+\.colab\.example\.com"


def from_command_line(*argv: str) -> ColabBridge:
    """A ColabBridge configured from ``argv`` the way ``jupyter server`` reads it (deferred)."""
    config = KVArgParseConfigLoader(list(argv), classes=[ServerApp]).load_config()
    bridge = ColabBridge()
    bridge.update_config(config)
    return bridge


def test_every_list_and_dict_setting_reads_the_command_line() -> None:
    for name, trait in BridgeSettings.class_own_traits(config=True).items():
        if isinstance(trait, List):
            assert isinstance(trait, ListSetting), name
        if isinstance(trait, Dict):
            assert isinstance(trait, DictSetting), name


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('["a", "b"]', ["a", "b"]),
        ("['a']", ["a"]),
        ("[]", []),
        ("http://localhost:5173", ["http://localhost:5173"]),
        (f'["{PATTERN}"]'.replace("\\", "\\\\"), [PATTERN]),  # JSON escapes
        (f"['{PATTERN}']", [PATTERN]),  # a Python literal keeps an unknown escape
    ],
)
def test_read_list(text: str, expected: list[str]) -> None:
    assert read_list(text, "x") == expected


@pytest.mark.parametrize(
    "text", ["[*]", f"[{PATTERN}]", "[a, b]", "['a']]", "[http://localhost:5173]"]
)
def test_a_list_without_its_quotes_is_refused_with_the_syntax(text: str) -> None:
    with pytest.raises(TraitError) as caught:
        read_list(text, "allowed_origins")
    message = str(caught.value)
    assert "looks like a list but is not one" in message
    assert "c.ColabBridge.allowed_origins = ['a', 'b']" in message
    assert '--ColabBridge.allowed_origins=\'["a", "b"]\'' in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"python3": "x"}', {"python3": "x"}),
        ("python3=x", {"python3": "x"}),
        ("a=b=c", {"a": "b=c"}),
    ],
)
def test_read_dict(text: str, expected: dict[str, str]) -> None:
    assert read_dict(text, "kernel_map") == expected


@pytest.mark.parametrize("text", ["python3", "{python3: x}", "{}x"])
def test_a_bad_dict_is_refused_with_the_syntax(text: str) -> None:
    with pytest.raises(TraitError, match=r"--ColabBridge\.kernel_map=key=value"):
        read_dict(text, "kernel_map")


@pytest.mark.parametrize(
    ("argv", "origins", "patterns"),
    [
        ([f"--ColabBridge.allowed_origin_patterns=['{PATTERN}']"], list(COLAB_ORIGINS), [PATTERN]),
        (
            ['--ColabBridge.allowed_origins=["http://a.example", "http://b.example"]'],
            ["http://a.example", "http://b.example"],
            [],
        ),
        (
            ["--ColabBridge.allowed_origins=http://a.example"] * 1
            + ["--ColabBridge.allowed_origins=http://b.example"],
            ["http://a.example", "http://b.example"],
            [],
        ),
        (["--ColabBridge.allowed_origins=http://a.example"], ["http://a.example"], []),
    ],
)
def test_lists_from_the_command_line(
    argv: list[str], origins: list[str], patterns: list[str]
) -> None:
    bridge = from_command_line(*argv)
    assert bridge.allowed_origins == origins
    assert bridge.allowed_origin_patterns == patterns


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--ColabBridge.kernel_map=python3=myenv"], {"python3": "myenv"}),
        (['--ColabBridge.kernel_map={"python3": "a", "ir": "b"}'], {"python3": "a", "ir": "b"}),
        (
            ["--ColabBridge.kernel_map=python3=a", "--ColabBridge.kernel_map=ir=b"],
            {"python3": "a", "ir": "b"},
        ),
    ],
)
def test_the_kernel_map_from_the_command_line(argv: list[str], expected: dict[str, str]) -> None:
    assert from_command_line(*argv).kernel_map == expected


@pytest.mark.parametrize(
    "arg",
    [
        f"--ColabBridge.allowed_origin_patterns=[{PATTERN}]",
        "--ColabBridge.allowed_origins=[*]",
        "--ColabBridge.kernel_map=python3",
    ],
)
def test_bad_values_are_refused(arg: str, caplog: pytest.LogCaptureFixture) -> None:
    """The extension stops the server (exit 1) with the syntax in its CRITICAL line."""
    config = KVArgParseConfigLoader([arg], classes=[ServerApp]).load_config()
    bridge = ColabBridge()
    bridge.log.addHandler(caplog.handler)  # an Application's log does not propagate
    try:
        with pytest.raises(SystemExit) as stopped:
            bridge.update_config(config)
    finally:
        bridge.log.removeHandler(caplog.handler)
    assert stopped.value.code == 1
    (line,) = [r.getMessage() for r in caplog.records if r.levelno == logging.CRITICAL]
    assert "Not starting" in line and "on the command line" in line


# -- a real server (tests.helpers.servers.start_or_exit) ---------------------------
def test_a_server_refuses_a_list_without_its_quotes(tmp_path: Path) -> None:
    code, text = start_or_exit(tmp_path, f"--ColabBridge.allowed_origin_patterns=[{PATTERN}]")
    assert code == 1, text[-2000:]
    assert "invalid configuration" in text and "Not starting" in text
    assert "looks like a list but is not one" in text
    assert '--ColabBridge.allowed_origin_patterns=\'["a", "b"]\'' in text


def test_a_server_without_colabs_origins_warns(tmp_path: Path) -> None:
    code, text = start_or_exit(tmp_path, '--ColabBridge.allowed_origins=["http://localhost:5173"]')
    assert code is None, text[-2000:]  # it started (and was stopped again)
    assert "Allowed page origins: http://localhost:5173" in text
    (warning,) = [line for line in text.splitlines() if "no longer allows Colab" in line]
    assert "WARNING" in warning or warning.startswith("[W")
    assert " and ".join(COLAB_ORIGINS) in warning
    assert repr([*COLAB_ORIGINS, "http://localhost:5173"]) in warning


def test_colabs_origins_with_more_do_not_warn(bridge_app: Any, server_log: Any) -> None:
    bridge_app._warn_without_colab()
    assert "no longer allows Colab" not in server_log.text()
