"""Direct mode's CORS header arithmetic (protocol/cors.py), without a server.

The live answers (a real server, preflights and credentialed replies) are in
test_direct_mode.py; these pin the pure functions they are built from.
"""

from __future__ import annotations

from tornado.httputil import HTTPHeaders

from jupyter_colab_bridge.protocol.cors import (
    ALLOWED_HEADERS,
    ALLOWED_METHODS,
    PREFLIGHT_MAX_AGE,
    add_vary,
    allow_credentials,
    merged_tokens,
    preflight_headers,
)

ORIGIN = "https://colab.research.google.com"


def test_add_vary_keeps_what_is_there_and_adds_no_repeats() -> None:
    headers = HTTPHeaders({"Vary": "Accept-Encoding"})
    add_vary(headers, "Origin", "accept-encoding")
    assert headers["Vary"] == "Accept-Encoding, Origin"
    add_vary(headers, "ORIGIN")
    assert headers["Vary"] == "Accept-Encoding, Origin"


def test_add_vary_on_empty_headers_and_with_nothing_to_add() -> None:
    headers = HTTPHeaders()
    add_vary(headers)
    assert "Vary" not in headers
    add_vary(headers, "Origin")
    assert headers["Vary"] == "Origin"


def test_add_vary_ignores_empty_items() -> None:
    headers = HTTPHeaders({"Vary": " , Cookie,, "})
    add_vary(headers, "Origin")
    assert headers["Vary"] == "Cookie, Origin"


def test_allow_credentials_names_the_exact_origin() -> None:
    headers = HTTPHeaders()
    allow_credentials(headers, ORIGIN)
    assert headers["Access-Control-Allow-Origin"] == ORIGIN
    assert headers["Access-Control-Allow-Credentials"] == "true"
    assert headers["Vary"] == "Origin"


def test_merged_tokens_adds_valid_names_once() -> None:
    assert merged_tokens(("GET", "PUT"), "put, X-Custom, x-custom") == "GET, PUT, X-Custom"


def test_merged_tokens_drops_what_is_not_an_http_token() -> None:
    requested = "bad name, x-a:b, ok-name, , <script>, caf\u00e9, x\r\ny"
    assert merged_tokens(("A",), requested) == "A, ok-name"


def test_preflight_answer() -> None:
    request = HTTPHeaders(
        {
            "Access-Control-Request-Method": "PATCH",
            "Access-Control-Request-Headers": "content-type, X-Extra",
        }
    )
    answer = preflight_headers(request, ORIGIN)
    assert answer["Access-Control-Allow-Origin"] == ORIGIN
    assert answer["Access-Control-Allow-Credentials"] == "true"
    assert answer["Access-Control-Allow-Methods"] == ", ".join(ALLOWED_METHODS)
    assert answer["Access-Control-Allow-Headers"] == ", ".join((*ALLOWED_HEADERS, "X-Extra"))
    assert answer["Access-Control-Max-Age"] == str(PREFLIGHT_MAX_AGE)
    assert "Access-Control-Allow-Private-Network" not in answer
    assert answer["Vary"] == (
        "Origin, Access-Control-Request-Method, Access-Control-Request-Headers, "
        "Access-Control-Request-Private-Network"
    )


def test_preflight_private_network_only_when_asked() -> None:
    asked = HTTPHeaders({"Access-Control-Request-Private-Network": "TRUE"})
    assert preflight_headers(asked, ORIGIN)["Access-Control-Allow-Private-Network"] == "true"
    other = HTTPHeaders({"Access-Control-Request-Private-Network": "yes"})
    assert "Access-Control-Allow-Private-Network" not in preflight_headers(other, ORIGIN)


def test_preflight_with_a_bad_method_allows_only_the_defaults() -> None:
    request = HTTPHeaders({"Access-Control-Request-Method": "GET POST"})
    answer = preflight_headers(request, ORIGIN)
    assert answer["Access-Control-Allow-Methods"] == ", ".join(ALLOWED_METHODS)
