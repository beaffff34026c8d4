"""Origin patterns that backtrack stop the server; an Origin's length is bounded first.

Fourth security review, R1 (issue 23): ``allowed_origin_patterns =
https://([a-z0-9]+-?)+\\.colab\\.example\\.com`` started, and one request with
``Origin: https://`` + ``a`` x 22 + ``.attacker.test`` stalled the server for
seconds, doubling with each further character: any web page chooses its own
host name. Now a pattern with a repeated group that holds another repetition,
or an alternation, and a pattern with two repetitions that can take the same
characters one after the other, stops the server at start with a message
naming it (as a loose pattern does). Every pattern the docs show still
starts. An ``Origin`` longer than any real origin is refused before any
pattern sees it.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tornado.httpclient import HTTPClientError

from jupyter_colab_bridge.protocol import origins
from jupyter_colab_bridge.protocol.backtracking import backtracking_problem
from jupyter_colab_bridge.protocol.origins import (
    OriginConfigError,
    OriginPolicy,
    compile_origin_pattern,
)
from jupyter_colab_bridge.setting_types import read_list
from tests.helpers.bridge_client import connect
from tests.helpers.servers import start_or_exit

ROOT = Path(__file__).resolve().parent.parent
REVIEW_PATTERN = r"https://([a-z0-9]+-?)+\.colab\.example\.com"

#: Patterns whose matching time can grow exponentially (or as a high power) with the origin.
BACKTRACKING = [
    pytest.param(REVIEW_PATTERN, id="review"),
    pytest.param(r"https://(a+)+\.example\.com", id="(a+)+"),
    pytest.param(r"https://(a|a)*\.example\.com", id="(a|a)*"),
    pytest.param(r"https://(.*)*\.example\.com", id="(.*)*"),
    pytest.param(r"https://([a-z]+)*\.example\.com", id="([a-z]+)*"),
    pytest.param(r"https://(\w+\.?)+example\.com", id="(w+.?)+"),
    pytest.param(r"https://((ab)+)+\.example\.com", id="((ab)+)+"),
    pytest.param(r"https://([a-z]|[a-z0-9])+\.example\.com", id="overlapping-alternatives"),
    pytest.param(r"https://(?:[a-z0-9]+){2,}\.example\.com", id="non-capturing{2,}"),
    pytest.param(r"https://[a-z0-9]+[a-z]+\.example\.com", id="adjacent-overlapping"),
    pytest.param(r"https://\w*[a-z0-9-]*\w+\.example\.com", id="three-adjacent"),
    pytest.param(r"https://[a-z]+-?[a-z]+\.example\.com", id="adjacent-across-optional"),
]

#: The review's bare shapes: refused, whichever rule speaks first.
BARE = ["(a+)+", "(a|a)*", "(.*)*", "([a-z0-9]+-?)+"]

#: Ordinary patterns, as users write them (and the tests of the other pattern rules).
ORDINARY = [
    r"http://localhost:\d+",
    r"https://[a-z0-9-]+\.colab\.example\.com",
    r"https://[a-z0-9-]+\.colab\.example\.com(:\d+)?",
    r"https://colab\.(research\.)?google\.com",
    r"http://127\.0\.0\.1:(5173|8080)",
    r"https://(dev|staging)-[a-z0-9]+\.example\.com",
    r"https://[a-z]+\.[a-z]+\.example\.com",
    r"https://[a-z0-9-]{1,63}\.example\.com",
    r"https://[a-z0-9.-]+\.example\.com",
    r"https://app\.example\.com(:(443|8443))?",
    r"http://\[::1\]:\d+",
]


def documented_patterns() -> list[str]:
    """Every origin pattern in a code block of the docs or the README, and in the setting's help.

    A line of a fenced code block that names ``allowed_origin_patterns`` gives
    its quoted strings (``r"..."``, ``'...'``) and its ``=value`` on a command line.
    """
    found: list[str] = []
    files = [*sorted((ROOT / "docs").rglob("*.md")), ROOT / "README.md"]
    for path in files:
        if "_build" in path.parts:
            continue
        fenced = False
        for line in path.read_text().splitlines():
            if line.lstrip().startswith("```"):
                fenced = not fenced
                continue
            if fenced and "allowed_origin_patterns" in line:
                found += pattern_strings(line)
    from jupyter_colab_bridge.app import ColabBridge

    help_text = ColabBridge.class_traits()["allowed_origin_patterns"].help
    found += pattern_strings(help_text.split("Example:", 1)[-1])
    return sorted({p for p in found if "://" in p})


def pattern_strings(text: str) -> list[str]:
    quoted = re.findall(r"""r?(["'])(.+?)(?<!\\)\1""", text)
    values = []
    for _, value in quoted:
        if value.startswith("["):  # a list on the command line, read as the setting reads it
            values += read_list(value, "allowed_origin_patterns")
        else:
            values.append(value)
    values += re.findall(r"allowed_origin_patterns=([^\s'\"\[]+)", text)
    return values


@pytest.mark.parametrize("pattern", BACKTRACKING)
def test_backtracking_pattern_is_refused(pattern: str) -> None:
    with pytest.raises(OriginConfigError) as e:
        compile_origin_pattern(pattern)
    message = str(e.value)
    assert repr(pattern) in message
    assert "backtrack" in message


@pytest.mark.parametrize("pattern", BARE)
def test_bare_review_shapes_are_refused(pattern: str) -> None:
    with pytest.raises(OriginConfigError) as e:
        compile_origin_pattern(pattern)
    assert repr(pattern) in str(e.value)


@pytest.mark.parametrize("pattern", ORDINARY)
def test_ordinary_patterns_are_accepted(pattern: str) -> None:
    compile_origin_pattern(pattern)


def test_the_docs_show_patterns() -> None:
    """The extraction below finds something (else the next test would prove nothing)."""
    assert documented_patterns(), "no pattern found in the docs' code blocks"


@pytest.mark.parametrize("pattern", documented_patterns())
def test_documented_patterns_are_accepted(pattern: str) -> None:
    compile_origin_pattern(pattern)


def test_backtracking_pattern_stops_the_server(tmp_path: Path) -> None:
    code, log = start_or_exit(tmp_path, f"--ColabBridge.allowed_origin_patterns={REVIEW_PATTERN}")
    assert code == 1, log[-2000:]
    assert "Not starting" in log and repr(REVIEW_PATTERN) in log and "backtrack" in log


# -- the Origin's length, bounded before matching -------------------------------
ALLOWED_PATTERN = r"https://[a-z0-9-]+\.colab\.example\.com"
LONG_ORIGIN = "https://" + "a" * 400 + ".colab.example.com"


def test_long_origin_is_refused_before_matching() -> None:
    """The pattern would match it; its length alone refuses it."""
    assert re.fullmatch(ALLOWED_PATTERN, LONG_ORIGIN)
    policy = OriginPolicy([], [ALLOWED_PATTERN])
    assert not policy.allows(LONG_ORIGIN)
    longest = "https://" + "a" * (origins.MAX_ORIGIN_CHARS - len("https://.colab.example.com"))
    assert policy.allows(longest + ".colab.example.com")


@pytest.fixture
def bridge_config() -> dict[str, Any]:
    return {"allowed_origin_patterns": [ALLOWED_PATTERN]}


async def test_long_origin_is_refused_live(
    url: Any, fetch: Any, token: str, server_log: Any
) -> None:
    """403 at the handshake with a log line that says why and quotes the origin cut short."""
    with pytest.raises(HTTPClientError) as e:
        await connect(url(), origin=LONG_ORIGIN)
    assert e.value.code == 403
    lines = [m for m in server_log.text().splitlines() if m.startswith("Colab bridge")]
    refusal = [m for m in lines if "longer than" in m]
    assert refusal, lines
    assert all(LONG_ORIGIN not in m for m in lines)
    # No direct-mode answer for it either: no CORS preflight, no credentialed CORS.
    preflight = await fetch(
        "api/status", "OPTIONS", {"Origin": LONG_ORIGIN, "Access-Control-Request-Method": "GET"}
    )
    assert preflight.code != 204
    # A real origin of the pattern still opens the bridge.
    ws = await connect(url(), origin="https://dev.colab.example.com")
    ws.close()


# -- the reading of the pattern itself ----------------------------------------------
@pytest.mark.parametrize(
    "pattern",
    [
        r"https://(?!evil)[a-z0-9-]+\.example\.com",
        r"https://(?P<host>[a-z0-9-]+)\.example\.com",
        r"(?i)https://APP\.example\.com",
        r"https://[\w-]+\.example\.com(?#a comment)",
        r"https://\x61pp\.example\.com",
        r"https://[^./:]+\.example\.com(:\d{2,5})?",
    ],
)
def test_other_syntax_is_read(pattern: str) -> None:
    assert backtracking_problem(pattern) is None


def test_unreadable_syntax_is_refused_not_guessed() -> None:
    pattern = r"(?x) https://app\.example\.com  # verbose"
    with pytest.raises(OriginConfigError) as e:
        compile_origin_pattern(pattern)
    assert "cannot read" in str(e.value) and repr(pattern) in str(e.value)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet="ab.-|()[]^$*+?{},:\\d1w", max_size=24))
def test_any_valid_regex_gets_an_answer(pattern: str) -> None:
    """The reading never fails on a pattern ``re`` accepts: a verdict or None, nothing else."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # "possible nested set"
            re.compile(pattern)
    except re.error:
        return
    result = backtracking_problem(pattern)
    assert result is None or isinstance(result, str)
