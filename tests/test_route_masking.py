"""The missing-route line masks the token before it is cut, whatever its encoding.

Read in the code by the fourth security review (issue 23): the line masked the
token by substring replacement after cutting the text to 200 characters, so a
token cut in two, or percent-encoded (wholly or in part, in either case of
hex digit), or split by the folding of id-like segments, was logged in part.
The pure tests drive :class:`MissingRouteReporter` with a request that has no
route; the live one asks a real server for a missing route.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote, unquote

import pytest
from jupyter_server.base.handlers import Template404

from jupyter_colab_bridge.protocol.missing_routes import MAX_ROUTE_CHARS
from jupyter_colab_bridge.server.missing_routes import MissingRouteReporter
from tests.helpers.bridge_client import COLAB_ORIGIN
from tests.helpers.cases import SECRET

TOKEN = "s3cret-t0ken"
#: A token whose first part is an id-like segment of its own once in a path.
ID_LIKE = "0123456789abcdef0123/Zq9"

LOGGER = "test_route_masking"


class NoRoute:
    """What the router finds for a path it lacks: jupyter_server's 404 page."""

    handler_class = Template404


class Request:
    method = "GET"

    def __init__(self, path: str) -> None:
        self.path = path


def every_byte_encoded(text: str, upper: bool = True) -> str:
    return "".join(f"%{b:02X}" if upper else f"%{b:02x}" for b in text.encode())


def first_char_encoded(text: str) -> str:
    return every_byte_encoded(text[0]) + text[1:]


def logged_line(caplog: Any, path: str, token: str) -> str:
    reporter = MissingRouteReporter("/", token, logging.getLogger(LOGGER))
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        reporter.check(Request(path), NoRoute())  # type: ignore[arg-type]
    (line,) = [r.getMessage() for r in caplog.records]
    return line


def assert_masked(line: str, token: str, marked: bool = True, part: int = 0) -> None:
    """No part of the token, in any encoding: half of it (or ``part`` characters) is a leak.

    ``marked``: ``<token>`` shows where it was (it may itself be cut off).
    """
    piece = token[: part or len(token) // 2]
    for text in (line, unquote(line), unquote(unquote(line))):
        assert piece not in text, line
    assert not marked or "<token>" in line, line


SHAPES = [
    pytest.param(lambda t: t, id="raw"),
    pytest.param(lambda t: every_byte_encoded(t), id="percent-encoded"),
    pytest.param(lambda t: every_byte_encoded(t, upper=False), id="percent-encoded-lower"),
    pytest.param(first_char_encoded, id="partly-encoded"),
    pytest.param(lambda t: quote(t, safe=""), id="quoted"),
    pytest.param(lambda t: every_byte_encoded(t).replace("%", "%25"), id="encoded-twice"),
]


@pytest.mark.parametrize("token", [TOKEN, SECRET, ID_LIKE])
@pytest.mark.parametrize("shape", SHAPES)
def test_token_is_masked_in_any_encoding(caplog: Any, token: str, shape: Any) -> None:
    line = logged_line(caplog, f"/api/colab/{shape(token)}/thing", token)
    assert_masked(line, token)


@pytest.mark.parametrize("token", [TOKEN, SECRET])
@pytest.mark.parametrize("offset", [-8, -5, -4, -1, 0])
def test_token_across_the_cut_is_masked(caplog: Any, token: str, offset: int) -> None:
    """The token starts just before the 200th character: it is masked before the cut."""
    prefix = "api/" + ("p." * MAX_ROUTE_CHARS)[: MAX_ROUTE_CHARS - 4 + offset]  # not id-like
    line = logged_line(caplog, f"/{prefix}{token}/more", token)
    assert_masked(line, token, marked=False, part=4)


def test_cut_line_stays_short(caplog: Any) -> None:
    line = logged_line(caplog, "/api/" + every_byte_encoded("x" * 500), TOKEN)
    assert len(line) < 600


async def test_encoded_token_in_a_missing_route_is_masked_live(
    fetch: Any, token: str, server_log: Any
) -> None:
    """A page's authenticated request for a missing route whose path holds the encoded token."""
    headers = {"Origin": COLAB_ORIGIN, "Authorization": f"token {token}"}
    response = await fetch(f"api/colab/{every_byte_encoded(token)}/new-thing", headers=headers)
    assert response.code == 404
    lines = [m for m in server_log.text().splitlines() if "does not serve" in m]
    assert len(lines) == 1, lines
    assert_masked(lines[0], token)
    assert (await fetch("api/status", headers=headers)).code == 200
