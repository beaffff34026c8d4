"""Request and reply frames of HTTP over WebSocket (docs/protocol.md sections 1.1 to 1.3).

Parsing a request frame, and building the reply frames of one HTTP response
(chunked, base64). Nothing here does I/O, so every rule of the wire contract
can be tested alone; :mod:`jupyter_colab_bridge.server.tunnel` only translates
between these functions and tornado.

JSON is strict both ways: a non-finite ``message_id`` (``NaN``, ``1e400``) is
refused like any other invalid id, and every reply frame is written with
``allow_nan=False``, so a browser's ``JSON.parse`` reads every reply.
"""

from __future__ import annotations

import binascii
import json
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Callable, Union

_b64encode: Callable[[Any], bytes]
_b64decode: Callable[..., bytes]
try:  # SIMD base64 (a dependency): ~10-20x CPython's, same output; releases the GIL
    from pybase64 import b64decode as _b64decode
    from pybase64 import b64encode as _b64encode
except ImportError:  # pragma: no cover - depends on the environment
    from base64 import b64decode as _b64decode
    from base64 import b64encode as _b64encode

#: The most raw body bytes one reply frame carries (before base64).
MAX_CHUNK_BYTES = 65536

#: The longest ``message_id`` echoed back; Colab's ids are short strings.
MAX_MESSAGE_ID_LENGTH = 256

REQUIRED_KEYS = ("message_id", "method", "path")

TEXT_JSON_REQUIRED = "JSON input is required."
TEXT_MISSING_KEYS = (
    "Invalid request. The body must contain the following keys: message_id, method, path."
)
TEXT_INTERNAL_ERROR = "Uncaught server-side exception. Check logs for additional details."

MessageId = Union[str, int, float]

#: A frame longer than this (characters) has its ``body_base64`` cut out before
#: the JSON is parsed (:func:`parse_request_frame`), so the parser never scans it.
LARGE_FRAME_CHARS = 1024 * 1024

# Where a frame's body_base64 text starts; the value ends at the next quote
# (base64 has no quotes, and an escape sends the frame the ordinary way).
_BODY_BASE64_START = re.compile(r'"body_base64"\s*:\s*"')
_BODY_BASE64_START_BYTES = re.compile(rb'"body_base64"\s*:\s*"')
#: What the cut-out body_base64 is replaced with: never valid base64.
_CUT_MARKER = "\\u0000"

# RFC 9110 "token" characters: a method is one or more of these.
_METHOD_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
#: Methods that make no sense through a tunnel and are refused.
FORBIDDEN_METHODS = frozenset({"CONNECT", "TRACE"})
#: Methods that change state, hence need XSRF protection.
MUTATING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_MAX_METHOD_LENGTH = 32

_MISSING = object()


class FrameError(Exception):
    """A request frame that cannot be served; becomes a 400 reply frame."""

    def __init__(self, text: str, message_id: Any = _MISSING, status: int = 400) -> None:
        super().__init__(text)
        self.text = text
        self.status = status
        self.message_id = message_id

    def reply(self) -> str:
        """The error reply frame for this error."""
        return error_frame(self.status, self.text, self.message_id)


@dataclass(frozen=True)
class BridgeRequest:
    """One HTTP request carried by a request frame."""

    message_id: MessageId
    method: str
    path: str
    body: bytes | None


def _echoable_id(value: Any) -> Any:
    """Return ``value`` if it is safe to echo as a message id, else ``_MISSING``."""
    if isinstance(value, bool):
        return _MISSING
    if isinstance(value, str) and len(value) <= MAX_MESSAGE_ID_LENGTH:
        return value
    if isinstance(value, float) and not math.isfinite(value):
        return _MISSING  # NaN or Infinity: no browser can parse it back
    if isinstance(value, (int, float)) and len(repr(value)) <= MAX_MESSAGE_ID_LENGTH:
        return value
    return _MISSING


class NotUtf8Error(FrameError):
    """A text frame that is not UTF-8: RFC 6455 closes the socket (1007), nothing is replied."""

    def __init__(self) -> None:
        super().__init__("The frame is not valid UTF-8 text.")


def parse_request_frame(message: str | bytes, cut_large_body: bool = True) -> BridgeRequest:
    """Parse one request frame, or raise :class:`FrameError` with its reply text.

    The method and body are checked here; the path is checked against the
    server's ``base_url`` by
    :func:`jupyter_colab_bridge.protocol.paths.check_request_path`. In a frame
    longer than :data:`LARGE_FRAME_CHARS` the ``body_base64`` text is cut out
    before the JSON is parsed and decoded apart (the result is the same).
    """
    large = cut_large_body and len(message) > LARGE_FRAME_CHARS
    cut = _cut_body_base64(message) if large and isinstance(message, str) else None
    if cut is None:
        return _request_from(_load_json(message))
    head, body_base64 = cut
    del cut
    contents = _load_json(head)
    if contents.get("body_base64") != "\x00":
        return parse_request_frame(message, cut_large_body=False)  # not the body_base64
    return _request_from(contents, body_base64)


def parse_text_frame_bytes(data: bytes) -> BridgeRequest:
    """Parse a large text frame from its raw UTF-8 bytes, never decoding its body to text.

    The ``body_base64`` value is decoded straight from a view of ``data`` (no
    copy, no ``str`` of the frame); only the rest is decoded as UTF-8 and
    parsed as JSON. The result is that of :func:`parse_request_frame` on the
    decoded text. Raises :class:`NotUtf8Error` for a frame that is not UTF-8.
    """
    cut = _cut_body_base64_bytes(data)
    if cut is None:
        return parse_request_frame(_utf8(data), cut_large_body=False)
    head, body_base64 = cut
    del cut
    contents = _load_json(_utf8(head))
    if contents.get("body_base64") != "\x00":
        return parse_request_frame(_utf8(data), cut_large_body=False)
    try:
        return _request_from(contents, body_base64)
    except FrameError:
        if not body_base64.tobytes().isascii():
            _utf8(data)  # raises NotUtf8Error unless the frame is UTF-8 after all
        raise


def _utf8(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise NotUtf8Error() from None


def _load_json(text: str | bytes) -> dict[str, Any]:
    try:
        contents = json.loads(text)
    except (ValueError, TypeError, RecursionError):
        raise FrameError(TEXT_JSON_REQUIRED) from None
    if not isinstance(contents, dict):
        raise FrameError(TEXT_JSON_REQUIRED)
    return contents


def _request_from(
    contents: dict[str, Any], cut_body: str | memoryview | None = None
) -> BridgeRequest:
    """The request of a parsed frame; ``cut_body``: its ``body_base64`` cut out before."""
    if cut_body is not None:
        contents["body_base64"] = cut_body
    message_id = _echoable_id(contents.get("message_id", _MISSING))
    missing = [key for key in REQUIRED_KEYS if key not in contents]
    if missing:
        raise FrameError(
            f"{TEXT_MISSING_KEYS} Missing: {', '.join(missing)}.", message_id=message_id
        )
    if message_id is _MISSING:
        raise FrameError(
            'Invalid request. "message_id" must be a string or a finite number of at most '
            f"{MAX_MESSAGE_ID_LENGTH} characters."
        )

    method = contents["method"]
    if not isinstance(method, str):
        raise FrameError('Invalid request. "method" must be a string.', message_id)
    # Checked before upper-casing: "ß".upper() is the valid token "SS".
    if len(method) > _MAX_METHOD_LENGTH or not _METHOD_RE.fullmatch(method):
        raise FrameError('Invalid request. "method" must be an HTTP method name.', message_id)
    method = method.upper()
    if method in FORBIDDEN_METHODS:
        raise FrameError(f'Invalid request. Method "{method}" is not allowed.', message_id)

    path = contents["path"]
    if not isinstance(path, str):
        raise FrameError('Invalid request. "path" must be a string.', message_id)

    return BridgeRequest(message_id, method, path, _parse_body(contents, message_id))


def _cut_body_base64(message: str) -> tuple[str, str] | None:
    """The frame with its ``body_base64`` text replaced by a marker, and that text."""
    match = _BODY_BASE64_START.search(message)
    if match is None:
        return None
    start = match.end()
    end = message.find('"', start)
    if end < 0 or message.find("\\", start, end) >= 0:
        return None  # unterminated, or escaped: the JSON parser decides
    return f"{message[:start]}{_CUT_MARKER}{message[end:]}", message[start:end]


def _cut_body_base64_bytes(data: bytes) -> tuple[bytes, memoryview] | None:
    """As :func:`_cut_body_base64` on raw bytes; the text is a view of ``data``, not a copy."""
    match = _BODY_BASE64_START_BYTES.search(data)
    if match is None:
        return None
    start = match.end()
    end = data.find(b'"', start)
    if end < 0 or data.find(b"\\", start, end) >= 0:
        return None
    return data[:start] + _CUT_MARKER.encode() + data[end:], memoryview(data)[start:end]


def _parse_body(contents: Mapping[str, Any], message_id: Any) -> bytes | None:
    body_base64 = contents.get("body_base64")
    if body_base64 is not None and not isinstance(body_base64, (str, memoryview)):
        raise FrameError('Invalid request. "body_base64" must be a string.', message_id)
    if body_base64:
        try:
            return _b64decode(body_base64, validate=True)
        except (binascii.Error, ValueError):
            raise FrameError(
                'Invalid request. "body_base64" is not valid base64.', message_id
            ) from None
    body = contents.get("body")
    if body is None:
        return None
    if not isinstance(body, str):
        raise FrameError('Invalid request. "body" must be a string.', message_id)
    try:
        return body.encode("utf-8")
    except UnicodeEncodeError:
        raise FrameError('Invalid request. "body" is not valid Unicode text.', message_id) from None


def error_frame(status: int, text: str, message_id: Any = _MISSING) -> str:
    """A one-frame error reply (docs/protocol.md section 1.3)."""
    reply: dict[str, Any] = {}
    if message_id is not _MISSING:
        reply["message_id"] = message_id
    reply.update(status=status, statusText=text, done=True)
    return json.dumps(reply, allow_nan=False)


def head_frame(
    message_id: MessageId,
    status: int,
    status_text: str,
    headers: Mapping[str, str],
    data: bytes | bytearray | memoryview | None,
    done: bool,
) -> str:
    """The first frame of a reply: status, reason, headers and maybe data."""
    prefix = json.dumps(
        {"message_id": message_id, "status": status, "statusText": status_text, "headers": headers},
        allow_nan=False,
    )[:-1]
    if data is None or len(data) == 0:
        return f'{prefix}, "done": {"true" if done else "false"}}}'
    # base64 needs no JSON escaping: splice it in instead of re-scanning it.
    b64 = _b64encode(data).decode("ascii")
    return f'{prefix}, "data": "{b64}", "done": {"true" if done else "false"}}}'


def data_frame(message_id_json: str, data: bytes | bytearray | memoryview, done: bool) -> str:
    """A later frame of a reply; ``message_id_json`` is the id already JSON-encoded."""
    b64 = _b64encode(data).decode("ascii")
    return (
        f'{{"message_id": {message_id_json}, "data": "{b64}", '
        f'"done": {"true" if done else "false"}}}'
    )


class ReplyFramer:
    """Turns one HTTP response (head, body chunks, end) into reply frames.

    Every frame but the last carries exactly :data:`MAX_CHUNK_BYTES` of body;
    the last carries the rest and ``done: true``. A frame is emitted only once
    it is known not to be the last, so an empty body gives a single frame.
    """

    def __init__(self, message_id: MessageId, chunk_size: int = MAX_CHUNK_BYTES) -> None:
        self.message_id = message_id
        self._id_json = json.dumps(message_id, allow_nan=False)
        self._chunk = chunk_size
        self._head: tuple[int, str, dict[str, str]] | None = None
        self._pending = bytearray()
        self.finished = False

    def start(self, status: int, status_text: str, headers: Mapping[str, str]) -> None:
        """Record the response's status line and headers."""
        self._head = (status, status_text, dict(headers))

    def feed(self, data: bytes) -> Iterator[str]:
        """Add body bytes; yield the frames that are now complete."""
        self._pending += data
        while len(self._pending) > self._chunk:
            view = memoryview(self._pending)
            try:
                frame = self._frame(view[: self._chunk], done=False)
            finally:
                view.release()
            del self._pending[: self._chunk]
            yield frame

    def finish(self) -> str:
        """The last frame (``done: true``) with what body is left."""
        self.finished = True
        return self._frame(self._pending, done=True)

    def _frame(self, data: bytes | bytearray | memoryview, done: bool) -> str:
        if self._head is not None:
            status, text, headers = self._head
            self._head = None
            return head_frame(self.message_id, status, text, headers, data, done)
        return data_frame(self._id_json, data, done)
