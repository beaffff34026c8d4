"""Origin patterns and origin comparison (issue 16, findings 4 and 5c).

A pattern that also lets in a real-world unrelated origin (any ``.com``, any
``github.io`` page, any IPv6 literal) stops the server, naming the pattern;
so does an unescaped ``.`` between host labels, which matches any character
(``https://colab.research.google.com`` also matches
``https://colabXresearch.google.com``, a name anyone can register). Origins
are compared in the form browsers send (lower-case scheme and host), so an
upper-case host is refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

from jupyter_colab_bridge.protocol.origins import (
    UNRELATED_ORIGINS,
    OriginConfigError,
    OriginPolicy,
    compile_origin_pattern,
)
from tests.helpers.bridge_client import COLAB_ORIGIN, BridgeClient, connect
from tests.helpers.servers import start_or_exit

LOOSE = [
    r"https://.+\.com",
    r"https://.*\.github\.io",
    r"https?://\[.*\]",
    r"https://[a-z]+\.app",
    r"https://[a-z0-9-]+\.io",
]
UNESCAPED_DOT = [
    ("https://colab.research.google.com", "https://colabXresearch.google.com"),
    ("https://app.example.com", "https://appXexample.com"),
    (r"https://app\.example.com", "https://app.exampleXcom"),
    (r"https://[a-z]+.example\.com", "https://wwwXexample.com"),
    (r"http://localhost:\d+|https://app.example\.com", "https://appXexample.com"),
    (r"https://(app|www).example\.com", "https://appXexample.com"),
]
ORDINARY = [
    r"http://localhost:\d+",
    r"https://[a-z0-9-]+\.colab\.example\.com",
    r"https://colab\.research\.google\.com",
    r"http://127\.0\.0\.1:(5173|8080)",
    r"https://colab\.(research\.)?google\.com",
    r"https://[a-z0-9-]+\.colab\.example\.com(:\d+)?",
]


def test_sample_holds_real_world_shapes() -> None:
    hosts = " ".join(UNRELATED_ORIGINS)
    for shape in (".com", ".io", ".app", ".github.io", "://["):
        assert shape in hosts, shape


@pytest.mark.parametrize("pattern", LOOSE)
def test_loose_patterns_are_refused(pattern: str) -> None:
    with pytest.raises(OriginConfigError) as e:
        compile_origin_pattern(pattern)
    assert repr(pattern) in str(e.value)
    assert "unrelated origin" in str(e.value)


@pytest.mark.parametrize(("pattern", "also"), UNESCAPED_DOT)
def test_unescaped_dot_between_labels_is_refused(pattern: str, also: str) -> None:
    import re

    assert re.fullmatch(pattern, also), "the probe: the pattern really lets it in"
    with pytest.raises(OriginConfigError) as e:
        compile_origin_pattern(pattern)
    message = str(e.value)
    assert repr(pattern) in message
    assert r"'\.'" in message and "allowed_origins" in message


@pytest.mark.parametrize("pattern", ORDINARY)
def test_ordinary_patterns_start(pattern: str) -> None:
    compile_origin_pattern(pattern)


@pytest.mark.parametrize(
    "pattern", [r"https://.+\.com", "https://colab.research.google.com", r"https?://\[.*\]"]
)
def test_loose_pattern_stops_the_server(tmp_path: Path, pattern: str) -> None:
    code, log = start_or_exit(tmp_path, f"--ColabBridge.allowed_origin_patterns={pattern}")
    assert code == 1, log[-2000:]
    assert "Not starting" in log and repr(pattern) in log


def test_ordinary_pattern_starts_the_server(tmp_path: Path) -> None:
    code, log = start_or_exit(
        tmp_path, r"--ColabBridge.allowed_origin_patterns=https://colab\.research\.google\.com"
    )
    assert code is None, log[-2000:]


# -- 5c: origins in the form browsers send ------------------------------------------
UPPER = ["https://COLAB.research.google.com", "HTTPS://colab.research.google.com"]


@pytest.mark.parametrize("origin", UPPER)
def test_policy_refuses_upper_case(origin: str) -> None:
    policy = OriginPolicy([COLAB_ORIGIN], [r"https://[a-z]+\.example\.com"])
    assert policy.allows(COLAB_ORIGIN)
    assert not policy.allows(origin)
    assert not policy.allows("https://APP.example.com")


def test_configured_entry_is_lower_cased() -> None:
    assert OriginPolicy(["https://COLAB.Research.Google.com"]).allows(COLAB_ORIGIN)


@pytest.mark.parametrize("origin", UPPER)
async def test_upper_case_origin_is_refused_live(
    url: Any, fetch: Any, token: str, origin: str, server_log: Any, jp_base_url: str
) -> None:
    with pytest.raises(HTTPClientError) as e:
        await connect(url(), origin=origin)
    assert e.value.code == 403
    assert "an origin that is not allowed" in server_log.text()
    response = await fetch(
        f"api/status?token={token}", headers={"Origin": origin, "Sec-Fetch-Mode": "cors"}
    )
    # Not the bridge's credentialed CORS (jupyter_server itself echoes the origin
    # of any token-authenticated request, without credentials).
    assert "Access-Control-Allow-Credentials" not in response.headers
    preflight = await fetch(
        "api/status", "OPTIONS", {"Origin": origin, "Access-Control-Request-Method": "GET"}
    )
    assert preflight.code != 204 and "Access-Control-Allow-Origin" not in preflight.headers
    # Colab's real origin keeps working.
    ws = await connect(url())
    assert (await BridgeClient(ws).request("GET", f"{jp_base_url}api/status")).status == 200
    ws.close()
