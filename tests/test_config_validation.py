"""Settings the server refuses to start with: it stops, with the reason, instead of
serving the bridge with its defaults (jupyter_server would only log a warning).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from jupyter_colab_bridge.protocol.origins import OriginConfigError, compile_origin_pattern
from tests.helpers.servers import start_or_exit


@pytest.mark.parametrize(
    ("arg", "message"),
    [
        ("--ColabBridge.allowed_origins=*", "'*' is not allowed in ColabBridge.allowed_origins"),
        ("--ColabBridge.allowed_origins=", "an empty origin is not allowed"),
        ("--ColabBridge.allowed_origin_patterns=.*", "matches an empty or 'null' origin"),
        ("--ColabBridge.max_connections=0", "ColabBridge.max_connections must be at least 1"),
    ],
)
def test_bad_config_refuses_to_start(tmp_path: Any, arg: str, message: str) -> None:
    """jupyter_server would log a warning and serve the bridge with its defaults: we stop.

    From the adversarial tests (issue 3).
    """
    code, log = start_or_exit(tmp_path, arg)
    assert code not in (None, 0), log[-2000:]
    assert message in log
    assert "is running at" not in log


def test_bad_config_file_refuses_to_start(tmp_path: Any) -> None:
    """From the adversarial tests (issue 3)."""
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    (cfg / "jupyter_server_config.py").write_text(
        "c.ColabBridge.allowed_origins = ['https://colab.research.google.com', '*']\n"
    )
    code, log = start_or_exit(tmp_path)
    assert code not in (None, 0), log[-2000:]
    assert "Colab bridge: invalid configuration: '*' is not allowed" in log
    assert "is running at" not in log


def test_good_config_starts(tmp_path: Any) -> None:
    """The probe itself: a valid allowlist starts (and is stopped by the helper).

    From the adversarial tests (issue 3).
    """
    code, log = start_or_exit(
        tmp_path, "--ColabBridge.allowed_origins=https://colab.research.google.com"
    )
    assert code is None, log[-2000:]
    assert "Colab local runtime bridge" in log


ALLOW_ALL = ["https?://.+", "[^n].*", "https://.*", r"https?://[^/]+:\d+", "(?s).+", ".+"]


@pytest.mark.parametrize("pattern", ALLOW_ALL)
def test_allow_all_patterns_are_refused(pattern: str) -> None:
    """From the first security review (issue 12)."""
    with pytest.raises(OriginConfigError) as e:
        compile_origin_pattern(pattern)
    assert repr(pattern) in str(e.value)


@pytest.mark.parametrize(
    "pattern",
    [
        r"https://[a-z0-9-]+\.colab\.example\.com",
        r"http://localhost:\d+",
        r"http://127\.0\.0\.1:(5173|8080)",
        r"https://colab\.(research\.)?google\.com",
    ],
)
def test_specific_patterns_are_accepted(pattern: str) -> None:
    """From the first security review (issue 12)."""
    compile_origin_pattern(pattern)


@pytest.mark.parametrize("pattern", ["https?://.+", "[^n].*"])
def test_allow_all_pattern_stops_the_server(tmp_path: Path, pattern: str) -> None:
    """From the first security review (issue 12)."""
    code, log = start_or_exit(tmp_path, f"--ColabBridge.allowed_origin_patterns={pattern}")
    assert code not in (0, None), log[-2000:]
    assert repr(pattern) in log and "Not starting" in log, log[-2000:]
