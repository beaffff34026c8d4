"""Hostile inputs shared by the unit tests and the live-server tests."""

#: Request-frame paths the bridge must refuse under base_url ``/a%40b/``
#: (pytest-jupyter's default), each with a 400 reply frame.
BAD_REQUEST_PATHS = [
    "http://evil.example/api/status",
    "https://127.0.0.1:1/api/status",
    "//evil.example/api/status",
    "@evil.example/api/status",
    "/a%40b@evil.example/api",
    "api/status",
    "/a%40b/api\\status",
    "/a%40b/api/status\r\nHost: evil",
    "/a%40b/api/status\nX: y",
    "/a%40b/api/sta\ttus",
    "/a%40b/api/status\x00",
    "/a%40b/api/%00",
    "/a%40b/../etc/passwd",
    "/a%40b/%2e%2e/other",
    "/a%40b/api/%2E%2E/%2e%2e/x",
    "/a%40b/%2e%2e%2fother",
    "/a%40b/%5c%5cevil",
    "/api/status",
    "/a%40b/http_over_websocket",
    "/a%40b/http_over_websocket/diagnose",
    "/a%40b/http_over_websocket/proxied_ws/api/kernels",
    "/a%40b/http_over_%77ebsocket",
    "/a%40b/./http_over_websocket",
    "",
    "/a%40b\\api\\status",
    "/a%40b/api/status#frag",
    "/a%40b/" + "x" * 10_000,
    "/a%40b/%ff%fe",
]

# A token whose URL-encoded forms differ from the raw one; "S3cr3tXq" is
# searched for too, so any encoding of it is caught.
SECRET = "advS3cr3tXq/t0k+en"
SECRET_CORE = "S3cr3tXq"
WRONG = "WrongTok3nZz"

# The bridge's endpoints, relative to base_url (RELAY: the probe_routes fixture's echo socket).
MAIN = "http_over_websocket"
DIAGNOSE = "http_over_websocket/diagnose"
RELAY = "http_over_websocket/proxied_ws/adv-echo-ws"
KERNEL = "http_over_websocket/proxied_ws/api/kernels/00000000-0000-0000-0000-000000000000/channels"
ENDPOINTS = [MAIN, DIAGNOSE, RELAY, KERNEL]

DEV_PAGE = "http://localhost:5173"  # the docs' example of an origin users add
