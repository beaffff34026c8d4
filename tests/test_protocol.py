"""Unit tests of the pure protocol code: frames, paths, origins, versions, auth URL."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jupyter_colab_bridge.protocol.auth_url import AuthUrlError, token_from_auth_url
from jupyter_colab_bridge.protocol.frames import (
    MAX_CHUNK_BYTES,
    TEXT_JSON_REQUIRED,
    FrameError,
    ReplyFramer,
    parse_request_frame,
)
from jupyter_colab_bridge.protocol.handshake import (
    PROTOCOL_VERSION,
    diagnose_frame,
    is_outdated,
    min_version_problem,
    parse_version,
)
from jupyter_colab_bridge.protocol.origins import OriginConfigError, OriginPolicy
from jupyter_colab_bridge.protocol.paths import PathError, check_proxied_path, check_request_path
from tests.helpers.bridge_client import COLAB_ORIGIN
from tests.helpers.cases import BAD_REQUEST_PATHS


# -- request frames ---------------------------------------------------------
def test_parse_minimal_frame() -> None:
    req = parse_request_frame('{"message_id": "7", "method": "get", "path": "/api/status"}')
    assert (req.message_id, req.method, req.path, req.body) == ("7", "GET", "/api/status", None)


def test_body_base64_wins_and_keeps_binary() -> None:
    raw = bytes(range(256))
    frame = {
        "message_id": "1",
        "method": "PUT",
        "path": "/x",
        "body": "ignored",
        "body_base64": base64.b64encode(raw).decode(),
    }
    assert parse_request_frame(json.dumps(frame)).body == raw


def test_empty_body_base64_falls_back_to_body() -> None:
    frame = {"message_id": "1", "method": "POST", "path": "/x", "body": "héllo", "body_base64": ""}
    assert parse_request_frame(json.dumps(frame)).body == "héllo".encode()


@pytest.mark.parametrize(
    "message", ["not json", "", "{", b"\xff\xfe", "[1, 2]", '"text"', "42", "null"]
)
def test_not_a_json_object(message: str | bytes) -> None:
    with pytest.raises(FrameError) as e:
        parse_request_frame(message)
    assert json.loads(e.value.reply()) == {
        "status": 400,
        "statusText": TEXT_JSON_REQUIRED,
        "done": True,
    }


def test_missing_keys_echo_message_id() -> None:
    with pytest.raises(FrameError) as e:
        parse_request_frame('{"message_id": "9", "method": "GET"}')
    reply = json.loads(e.value.reply())
    assert reply["message_id"] == "9" and reply["status"] == 400 and reply["done"] is True
    assert reply["statusText"].startswith(
        "Invalid request. The body must contain the following keys:"
    )
    assert "path" in reply["statusText"]


def test_missing_keys_without_message_id() -> None:
    with pytest.raises(FrameError) as e:
        parse_request_frame("{}")
    assert "message_id" not in json.loads(e.value.reply())


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("method", 5),
        ("method", "GE T"),
        ("method", "GET\r\n"),
        ("method", ""),
        ("method", "CONNECT"),
        ("method", "trace"),
        ("path", 5),
        ("path", None),
        ("body", 5),
        ("body", {"a": 1}),
        ("body_base64", 5),
        ("body_base64", "not base64!"),
        ("body_base64", "QUJ"),
        ("message_id", {"a": 1}),
        ("message_id", True),
        ("message_id", None),
        ("message_id", "x" * 100_000),
    ],
)
def test_wrong_field_gives_400(field: str, value: object) -> None:
    frame = {"message_id": "m", "method": "GET", "path": "/api/status", field: value}
    with pytest.raises(FrameError) as e:
        parse_request_frame(json.dumps(frame))
    reply = json.loads(e.value.reply())
    assert reply["status"] == 400 and reply["done"] is True
    assert "Traceback" not in reply["statusText"]
    if field != "message_id":
        assert reply["message_id"] == "m"
    else:
        assert "message_id" not in reply  # never echo a huge or odd id


def test_numeric_message_id_is_echoed() -> None:
    assert parse_request_frame('{"message_id": 12, "method": "GET", "path": "/"}').message_id == 12


def test_nonstandard_method_allowed() -> None:
    assert (
        parse_request_frame('{"message_id": 1, "method": "propfind", "path": "/"}').method
        == "PROPFIND"
    )


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(),
        st.binary(),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(),
            lambda children: st.lists(children) | st.dictionaries(st.text(), children),
            max_leaves=10,
        ).map(json.dumps),
    )
)
def test_parser_never_crashes(message: str | bytes) -> None:
    try:
        parse_request_frame(message)
    except FrameError as e:
        reply = json.loads(e.reply())
        assert reply["status"] == 400 and reply["done"] is True


# -- reply framing ----------------------------------------------------------
def _frames(body_chunks: list[bytes]) -> list[dict[str, object]]:
    framer = ReplyFramer("id")
    framer.start(200, "OK", {"Content-Type": "x"})
    frames = [json.loads(f) for chunk in body_chunks for f in framer.feed(chunk)]
    frames.append(json.loads(framer.finish()))
    return frames


def test_empty_body_is_one_frame_without_data() -> None:
    assert _frames([]) == [
        {
            "message_id": "id",
            "status": 200,
            "statusText": "OK",
            "headers": {"Content-Type": "x"},
            "done": True,
        }
    ]


@pytest.mark.parametrize(
    "size", [1, MAX_CHUNK_BYTES - 1, MAX_CHUNK_BYTES, MAX_CHUNK_BYTES + 1, 5 * MAX_CHUNK_BYTES + 17]
)
def test_chunks_at_most_64k_and_reassemble(size: int) -> None:
    body = bytes((i * 7) % 256 for i in range(size))
    pieces = [body[i : i + 10_000] for i in range(0, size, 10_000)]
    frames = _frames(pieces)
    assert frames[0]["status"] == 200 and "headers" in frames[0]
    for f in frames[1:]:
        assert set(f) == {"message_id", "data", "done"}
    assert [f["done"] for f in frames] == [False] * (len(frames) - 1) + [True]
    raw = [base64.b64decode(str(f["data"])) for f in frames]
    assert all(0 < len(r) <= MAX_CHUNK_BYTES for r in raw)
    assert b"".join(raw) == body


@settings(max_examples=100, deadline=None)
@given(st.lists(st.binary(max_size=70_000), max_size=6))
def test_framing_property(chunks: list[bytes]) -> None:
    frames = _frames(chunks)
    body = b"".join(base64.b64decode(str(f.get("data", ""))) for f in frames)
    assert body == b"".join(chunks)
    assert frames[-1]["done"] is True and all(f["done"] is False for f in frames[:-1])


# -- versions -------------------------------------------------------------------
def test_protocol_version_is_at_least_0_0_7() -> None:
    assert parse_version(PROTOCOL_VERSION) >= parse_version("0.0.7")


@pytest.mark.parametrize("v", ["0.0.1a2", "0.0.1a3", "0.0.1", "0.0.7", PROTOCOL_VERSION])
def test_acceptable_min_versions(v: str) -> None:
    assert min_version_problem(v) is None and not is_outdated(v)


def test_prerelease_ordering() -> None:
    assert parse_version("0.0.1a3") < parse_version("0.0.1") < parse_version("0.0.7")


@pytest.mark.parametrize("v", ["abc", "", "1..2", "0.0.7; rm -rf"])
def test_invalid_min_version(v: str) -> None:
    assert min_version_problem(v) == f'Invalid "min_version" provided: {v}'


def test_too_new_min_version() -> None:
    assert min_version_problem("99.0") == (
        f"Requested version (99.0) > Current version ({PROTOCOL_VERSION}). "
        "Please upgrade this package."
    )
    assert is_outdated("99.0") and not is_outdated("garbage")


def test_diagnose_frame() -> None:
    assert json.loads(diagnose_frame("1", True, False)) == {
        "message_id": "1",
        "extension_version": PROTOCOL_VERSION,
        "has_authentication_cookie": True,
        "is_outdated_extension": False,
    }


# -- request paths ----------------------------------------------------------
@pytest.mark.parametrize(
    "path",
    [
        "/a%40b/api/status",
        "/a%40b/api/contents/x%20y.ipynb?content=1&type=file",
        "/a%40b/",
        "/a%40b/files/%C3%A9.txt",
    ],
)
def test_good_paths(path: str) -> None:
    assert check_request_path(path, "/a%40b/") == path


@pytest.mark.parametrize("path", BAD_REQUEST_PATHS)
def test_bad_paths(path: str) -> None:
    with pytest.raises(PathError):
        check_request_path(path, "/a%40b/")


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_paths_never_escape_base(path: str) -> None:
    try:
        checked = check_request_path(path, "/base/")
    except PathError:
        return
    assert checked.startswith("/base/") and "\\" not in checked and "\n" not in checked


@pytest.mark.parametrize(
    "path", ["api/kernels/x/channels", "terminals/websocket/1", "api/events/subscribe"]
)
def test_good_proxied_paths(path: str) -> None:
    assert check_proxied_path(path) == path


@pytest.mark.parametrize(
    "path",
    [
        "",
        "/api",
        "../x",
        "api/../../x",
        "api/%2e%2e/x",
        "http_over_websocket",
        "http_over_websocket/diagnose",
        "a//b",
        "a\\b",
        "a@b",
        "a\r\nb",
    ],
)
def test_bad_proxied_paths(path: str) -> None:
    with pytest.raises(PathError):
        check_proxied_path(path)


# -- origins --------------------------------------------------------------------
def test_default_like_policy() -> None:
    policy = OriginPolicy([COLAB_ORIGIN])
    assert policy.allows(COLAB_ORIGIN)
    for origin in [
        "null",
        "colab.research.google.com",
        "https://colab.research.google.com.evil.example",
        "https://colab.research.google.com:444",
        "http://colab.research.google.com",
        "https://evilcolab.research.google.com",
        "https://colab.research.google.com, https://evil.example",
        "",
    ]:
        assert not policy.allows(origin), origin


def test_patterns_are_fullmatch() -> None:
    policy = OriginPolicy([], [r"https://[a-z]+\.example\.com"])
    assert policy.allows("https://app.example.com")
    assert not policy.allows("https://app.example.com.evil.net")
    assert not policy.allows("xhttps://app.example.com")


@pytest.mark.parametrize(
    "entry",
    ["*", "", " ", "null", "colab.research.google.com", "https://x.com/path", "ftp://x.com"],
)
def test_bad_origin_entries(entry: str) -> None:
    with pytest.raises(OriginConfigError):
        OriginPolicy([entry])


@pytest.mark.parametrize("pattern", ["", ".*", "(", "null|https://x.com"])
def test_bad_patterns(pattern: str) -> None:
    with pytest.raises(OriginConfigError):
        OriginPolicy([], [pattern])


# -- auth URL -------------------------------------------------------------------
def test_auth_url_same_server() -> None:
    assert (
        token_from_auth_url("http://localhost:9000/?token=abc", "http", "localhost:9000", "/")
        == "abc"
    )
    assert (
        token_from_auth_url("https://LOCALHOST/jb/tree?token=t", "https", "localhost:443", "/jb/")
        == "t"
    )


@pytest.mark.parametrize(
    ("url", "host", "base"),
    [
        ("http://localhost:8889/?token=abc", "localhost:8888", "/"),
        ("http://evil.example:8888/?token=abc", "localhost:8888", "/"),
        ("https://localhost:8888/?token=abc", "localhost:8888", "/"),
        ("ftp://localhost:8888/?token=abc", "localhost:8888", "/"),
        ("http://user:pw@localhost:8888/?token=abc", "localhost:8888", "/"),
        ("http://localhost:8888/?token=abc&token=b", "localhost:8888", "/"),
        ("http://localhost:8888/user/bob/?token=abc", "localhost:8888", "/user/alice/"),
        ("http://localhost:99999/?token=abc", "localhost:8888", "/"),
        ("not a url", "localhost:8888", "/"),
    ],
)
def test_auth_url_refused(url: str, host: str, base: str) -> None:
    with pytest.raises(AuthUrlError) as e:
        token_from_auth_url(url, "http", host, base)
    assert "abc" not in str(e.value)


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:8888/",
        "http://localhost:8888/?tok=abc",
        "http://localhost:8888/?token=",
        "http://localhost:8888/tree?token=&x=1",
    ],
)
def test_auth_url_without_token_carries_no_credential(url: str) -> None:
    assert token_from_auth_url(url, "http", "localhost:8888", "/") is None
