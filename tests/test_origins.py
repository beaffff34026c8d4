"""Who may open the bridge's sockets, and which origins a server may be set to allow.

The handshake: bad origins (and the legacy Sec-WebSocket-Origin, repeated
Origin headers) are refused with 403 on every endpoint and logged; without an
Origin a script needs credentials; a Host that is not local is refused (DNS
rebinding), and a forged local Host reaches nothing else (docs/protocol.md
section 4). Origins are compared in the form browsers send (lower-case scheme
and host), so an upper-case host is refused.

The settings: an allowlist or pattern that lets in any origin, an unrelated
real-world origin or, through an unescaped ``.``, a name anyone can register,
stops the server with the reason, as does any other setting it refuses to
start with (jupyter_server would only log a warning and serve the defaults);
so does a pattern that can backtrack without bound. An ``Origin`` longer than
any real origin is refused before any pattern sees it.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tornado.httpclient import HTTPClientError

from jupyter_colab_bridge.protocol import origins
from jupyter_colab_bridge.protocol.backtracking import backtracking_problem
from jupyter_colab_bridge.protocol.origins import (
    UNRELATED_ORIGINS,
    OriginConfigError,
    OriginPolicy,
    compile_origin_pattern,
)
from tests.conftest import TOKEN
from tests.helpers.bridge_client import (
    COLAB_ORIGIN,
    BridgeClient,
    connect,
    connected,
    handshake_status,
    wait_closed,
)
from tests.helpers.cases import (
    DIAGNOSE,
    ENDPOINTS,
    MAIN,
    RELAY,
    SECRET,
)
from tests.helpers.probes import (
    Listener,
    raw_handshake_status,
)
from tests.helpers.servers import start_or_exit


@pytest.fixture
def token() -> str:
    """The server's token: one whose URL-encoded forms differ from the raw one."""
    return SECRET


BAD_ORIGINS = [
    "null",
    "colab.research.google.com",
    "https://colab.research.google.com.evil.example",
    "https://evilcolab.research.google.com",
    "http://colab.research.google.com",
    "https://colab.research.google.com:8443",
    "https://colab.research.google.com, https://evil.example",
]


# Each a way to present a bad origin at the handshake: "origin" sends it as the
# Origin header, "headers" adds a header beside Colab's Origin, "raw" sends the
# header lines byte for byte (repeated headers stay separate lines).
BAD_ORIGIN_CASES = [
    *(
        pytest.param("origin", [("Origin", origin)], id=f"origin-{label}")
        for origin, label in zip(
            BAD_ORIGINS,
            ["null", "no-scheme", "suffix", "prefix", "http", "port", "two-in-one"],
        )
    ),
    pytest.param(
        "headers", [("Sec-WebSocket-Origin", COLAB_ORIGIN)], id="legacy-colab-beside-origin"
    ),
    pytest.param(
        "headers",
        [("Sec-WebSocket-Origin", "https://evil.example")],
        id="legacy-evil-beside-origin",
    ),
    pytest.param("raw", [("Sec-WebSocket-Origin", COLAB_ORIGIN)], id="legacy-header-alone"),
    pytest.param(
        "raw", [("Origin", COLAB_ORIGIN), ("Origin", "https://evil.example")], id="two-origins"
    ),
    pytest.param("raw", [("Origin", COLAB_ORIGIN), ("Origin", COLAB_ORIGIN)], id="origin-twice"),
]


@pytest.mark.parametrize(("way", "headers"), BAD_ORIGIN_CASES)
@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("with_token", [True, False])
@pytest.mark.usefixtures("probe_routes")
async def test_bad_origins_refused_403_on_every_endpoint(
    url: Any,
    jp_http_port: int,
    endpoint: str,
    with_token: bool,
    way: str,
    headers: list[tuple[str, str]],
    server_log: Any,
) -> None:
    """A bad origin is refused with 403, token or not, and the refusal is logged once.

    From the adversarial tests (issue 3), where the twelve ways were one test.
    """
    token = SECRET if with_token else None
    if way == "raw":
        assert await raw_handshake_status(url, jp_http_port, endpoint, token, headers) == 403, (
            headers
        )
        assert (
            await raw_handshake_status(
                url, jp_http_port, endpoint, SECRET, [("Origin", COLAB_ORIGIN)]
            )
            == 101
        ), "the raw probe works"
    else:
        kwargs: dict[str, Any] = (
            {"origin": headers[0][1]} if way == "origin" else {"headers": dict(headers)}
        )
        status = await handshake_status(url(endpoint, token=token), **kwargs)
        assert status == 403, headers
    refusals = [
        r for r in server_log.records if "refused a WebSocket from origin" in r.getMessage()
    ]
    assert len(refusals) == 1, [r.getMessage() for r in refusals]


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.usefixtures("probe_routes")
async def test_no_origin_needs_credentials(
    url: Any, jp_base_url: str, sockets: list[Any], endpoint: str
) -> None:
    """From the adversarial tests (issue 3)."""
    status = await handshake_status(url(endpoint, token=None), origin=None)
    assert status == 403
    ws = await connect(
        url(endpoint, token=None), origin=None, headers={"Authorization": f"token {SECRET}"}
    )
    sockets.append(ws)
    if endpoint == MAIN:
        assert (await BridgeClient(ws).request("GET", f"{jp_base_url}api/status")).status == 200
    elif endpoint == DIAGNOSE:
        ws.write_message("1")
        assert json.loads(await ws.read_message())["message_id"] == "1"
    elif endpoint == RELAY:
        assert "host" in json.loads(await ws.read_message())
    else:
        assert (await wait_closed(ws))[0] == 404


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.usefixtures("probe_routes")
async def test_non_local_host_refused(url: Any, jp_http_port: int, endpoint: str) -> None:
    """From the adversarial tests (issue 3)."""
    for host in ("evil.example", f"evil.example:{jp_http_port}", "rebind.attacker.test:80"):
        status = await handshake_status(url(endpoint, auth_host=host), headers={"Host": host})
        assert status == 403


@pytest.mark.usefixtures("probe_routes")
async def test_forged_local_host_reaches_nothing_there(
    url: Any, jp_base_url: str, jp_http_port: int, sockets: list[Any], listener: Listener
) -> None:
    """From the adversarial tests (issue 3)."""
    forged = f"127.0.0.1:{listener.port}"
    # The auth URL matches the forged Host (as a rebinding page would make it): the token is
    # checked in-process and nothing is contacted.
    ws = await connect(url(MAIN, auth_host=forged), headers={"Host": forged})
    sockets.append(ws)
    client = BridgeClient(ws)
    echo = await client.request("GET", f"{jp_base_url}adv-headers")
    assert echo.status == 200
    hosts = [v for k, v in echo.json()["headers"] if k.lower() == "host"]
    assert hosts == [f"127.0.0.1:{jp_http_port}"]
    assert (await client.request("GET", f"{jp_base_url}api/status")).status == 200
    relay = await connect(url(RELAY, auth_host=forged), headers={"Host": forged})
    sockets.append(relay)
    assert json.loads(await relay.read_message())["host"] == f"127.0.0.1:{jp_http_port}"
    ws2 = await connect(
        url(MAIN, token=None), headers={"Host": forged, "Authorization": f"token {SECRET}"}
    )
    sockets.append(ws2)
    assert (await BridgeClient(ws2).request("GET", f"{jp_base_url}api/status")).status == 200
    assert listener.connections() == 0


# --------------------------------------------------------------------------------------
# -- Origin patterns and origin comparison (issue 16, findings 4 and 5c).
#
# A pattern that also lets in a real-world unrelated origin (any ``.com``, any
# ``github.io`` page, any IPv6 literal) stops the server, naming the pattern;
# so does an unescaped ``.`` between host labels, which matches any character
# (``https://colab.research.google.com`` also matches
# ``https://colabXresearch.google.com``, a name anyone can register). Origins
# are compared in the form browsers send (lower-case scheme and host), so an
# upper-case host is refused.
# (These tests were tests/test_origin_patterns.py.)
# --------------------------------------------------------------------------------------
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
#: Ordinary patterns, as users write them: each starts (none is loose, none backtracks).
ORDINARY = [
    r"http://localhost:\d+",
    r"https://[a-z0-9-]+\.colab\.example\.com",
    r"https://colab\.research\.google\.com",
    r"http://127\.0\.0\.1:(5173|8080)",
    r"https://colab\.(research\.)?google\.com",
    r"https://[a-z0-9-]+\.colab\.example\.com(:\d+)?",
    r"https://(dev|staging)-[a-z0-9]+\.example\.com",
    r"https://[a-z]+\.[a-z]+\.example\.com",
    r"https://[a-z0-9-]{1,63}\.example\.com",
    r"https://[a-z0-9.-]+\.example\.com",
    r"https://app\.example\.com(:(443|8443))?",
    r"http://\[::1\]:\d+",
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
    assert re.fullmatch(pattern, also), "the probe: the pattern really lets it in"
    with pytest.raises(OriginConfigError) as e:
        compile_origin_pattern(pattern)
    message = str(e.value)
    assert repr(pattern) in message
    assert r"'\.'" in message and "allowed_origins" in message


@pytest.mark.parametrize("pattern", ORDINARY)
def test_ordinary_patterns_start(pattern: str) -> None:
    """The first security review's accepted patterns (issue 12), and the fourth's (R1, issue 23).

    (The fourth review's ``test_ordinary_patterns_are_accepted`` took the same
    list; its patterns are here.)
    """
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
    status = await handshake_status(url(), origin=origin)
    assert status == 403
    assert "an origin that is not allowed" in server_log.text()
    response = await fetch(
        f"api/status?token={quote(token, safe='')}",
        headers={"Origin": origin, "Sec-Fetch-Mode": "cors"},
    )
    # Not the bridge's credentialed CORS (jupyter_server itself echoes the origin
    # of any token-authenticated request, without credentials).
    assert "Access-Control-Allow-Credentials" not in response.headers
    preflight = await fetch(
        "api/status", "OPTIONS", {"Origin": origin, "Access-Control-Request-Method": "GET"}
    )
    assert preflight.code != 204 and "Access-Control-Allow-Origin" not in preflight.headers
    # Colab's real origin keeps working.
    async with connected(url()) as ws:
        assert (await BridgeClient(ws).request("GET", f"{jp_base_url}api/status")).status == 200


# --------------------------------------------------------------------------------------
# -- Settings the server refuses to start with: it stops, with the reason, instead of
# serving the bridge with its defaults (jupyter_server would only log a warning).
# (These tests were tests/test_config_validation.py.)
# --------------------------------------------------------------------------------------
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


@pytest.mark.parametrize("pattern", ["https?://.+", "[^n].*"])
def test_allow_all_pattern_stops_the_server(tmp_path: Path, pattern: str) -> None:
    """From the first security review (issue 12)."""
    code, log = start_or_exit(tmp_path, f"--ColabBridge.allowed_origin_patterns={pattern}")
    assert code not in (0, None), log[-2000:]
    assert repr(pattern) in log and "Not starting" in log, log[-2000:]


# --------------------------------------------------------------------------------------
# -- Origin patterns that backtrack stop the server; an Origin's length is bounded first
# (fourth security review, R1, issue 23).
#
# ``allowed_origin_patterns = https://([a-z0-9]+-?)+\.colab\.example\.com``
# started, and one request with ``Origin: https://`` + ``a`` x 22 +
# ``.attacker.test`` stalled the server for seconds, doubling with each further
# character: any web page chooses its own host name. Now a pattern with a
# repeated group that holds another repetition, or an alternation, and a pattern
# with two repetitions that can take the same characters one after the other,
# stops the server at start with a message naming it (as a loose pattern does).
# Every pattern the docs show still starts (the ordinary ones are ``ORDINARY``
# above). An ``Origin`` longer than any real origin is refused before any
# pattern sees it.
# (These tests were tests/test_backtracking_patterns.py.)
# --------------------------------------------------------------------------------------
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


def documented_patterns() -> list[str]:
    """Every origin pattern in a code block of the docs or the README, and in the setting's help.

    A line of a fenced code block that names ``allowed_origin_patterns`` gives
    its quoted strings (``r"..."``, ``'...'``, a quoted command-line list
    ``'["..."]'``) and its ``=value`` on a command line.
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
    """The patterns ``text`` quotes; a quoted list is read as the command line reads it."""
    from jupyter_colab_bridge.setting_types import read_list

    quoted = re.findall(r"""r?(["'])(.+?)(?<!\\)\1""", text)
    values: list[str] = []
    for _, value in quoted:
        if value.startswith("["):
            values += [str(v) for v in read_list(value, "allowed_origin_patterns")]
        else:
            values.append(value)
    values += re.findall(r"allowed_origin_patterns=([^\s'\"\[]+)", text)
    return values


@pytest.mark.parametrize("pattern", BACKTRACKING)
def test_backtracking_pattern_is_refused(pattern: str) -> None:
    """From the fourth security review (R1, issue 23)."""
    with pytest.raises(OriginConfigError) as e:
        compile_origin_pattern(pattern)
    message = str(e.value)
    assert repr(pattern) in message
    assert "backtrack" in message


@pytest.mark.parametrize("pattern", BARE)
def test_bare_review_shapes_are_refused(pattern: str) -> None:
    """From the fourth security review (R1, issue 23)."""
    with pytest.raises(OriginConfigError) as e:
        compile_origin_pattern(pattern)
    assert repr(pattern) in str(e.value)


def test_the_docs_show_patterns() -> None:
    """The extraction below finds something (else the next test would prove nothing).

    From the fourth security review (R1, issue 23).
    """
    assert documented_patterns(), "no pattern found in the docs' code blocks"


@pytest.mark.parametrize("pattern", documented_patterns())
def test_documented_patterns_are_accepted(pattern: str) -> None:
    """From the fourth security review (R1, issue 23)."""
    compile_origin_pattern(pattern)


def test_backtracking_pattern_stops_the_server(tmp_path: Path) -> None:
    """From the fourth security review (R1, issue 23)."""
    code, log = start_or_exit(tmp_path, f"--ColabBridge.allowed_origin_patterns={REVIEW_PATTERN}")
    assert code == 1, log[-2000:]
    assert "Not starting" in log and repr(REVIEW_PATTERN) in log and "backtrack" in log


# -- the Origin's length, bounded before matching -------------------------------
ALLOWED_PATTERN = r"https://[a-z0-9-]+\.colab\.example\.com"
LONG_ORIGIN = "https://" + "a" * 400 + ".colab.example.com"


def test_long_origin_is_refused_before_matching() -> None:
    """The pattern would match it; its length alone refuses it.

    From the fourth security review (R1, issue 23).
    """
    assert re.fullmatch(ALLOWED_PATTERN, LONG_ORIGIN)
    policy = OriginPolicy([], [ALLOWED_PATTERN])
    assert not policy.allows(LONG_ORIGIN)
    longest = "https://" + "a" * (origins.MAX_ORIGIN_CHARS - len("https://.colab.example.com"))
    assert policy.allows(longest + ".colab.example.com")


class TestLongOriginLive:
    """A server that allows ``ALLOWED_PATTERN``, with the suite's own token."""

    @pytest.fixture
    def bridge_config(self) -> dict[str, Any]:
        return {"allowed_origin_patterns": [ALLOWED_PATTERN]}

    @pytest.fixture
    def token(self) -> str:
        return TOKEN

    async def test_long_origin_is_refused_live(
        self, url: Any, fetch: Any, token: str, server_log: Any, jp_base_url: str
    ) -> None:
        """403 at the handshake with a log line that says why and quotes the origin cut short.

        From the fourth security review (R1, issue 23).
        """
        with pytest.raises(HTTPClientError) as e:
            await connect(url(), origin=LONG_ORIGIN)
        assert e.value.code == 403
        lines = [m for m in server_log.text().splitlines() if m.startswith("Colab bridge")]
        refusal = [m for m in lines if "longer than" in m]
        assert refusal, lines
        assert all(LONG_ORIGIN not in m for m in lines)
        # No direct-mode answer for it either: no CORS preflight, no credentialed CORS.
        preflight = await fetch(
            "api/status",
            "OPTIONS",
            {"Origin": LONG_ORIGIN, "Access-Control-Request-Method": "GET"},
        )
        assert preflight.code != 204
        # A real origin of the pattern still opens the bridge.
        async with connected(url(), origin="https://dev.colab.example.com") as ws:
            reply = await BridgeClient(ws).request("GET", f"{jp_base_url}api/status")
            assert reply.status == 200


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
    """From the fourth security review (R1, issue 23)."""
    assert backtracking_problem(pattern) is None


def test_unreadable_syntax_is_refused_not_guessed() -> None:
    """From the fourth security review (R1, issue 23)."""
    pattern = r"(?x) https://app\.example\.com  # verbose"
    with pytest.raises(OriginConfigError) as e:
        compile_origin_pattern(pattern)
    assert "cannot read" in str(e.value) and repr(pattern) in str(e.value)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet="ab.-|()[]^$*+?{},:\\d1w", max_size=24))
def test_any_valid_regex_gets_an_answer(pattern: str) -> None:
    """The reading never fails on a pattern ``re`` accepts: a verdict or None, nothing else.

    From the fourth security review (R1, issue 23).
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # "possible nested set"
            re.compile(pattern)
    except re.error:
        return
    result = backtracking_problem(pattern)
    assert result is None or isinstance(result, str)
