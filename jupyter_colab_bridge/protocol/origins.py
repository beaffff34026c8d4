"""The origin allowlist: which web pages may open the bridge's WebSockets."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit

from .backtracking import backtracking_problem

#: Colab's main origin; the doctor connects from it, as the page does.
COLAB_ORIGIN = "https://colab.research.google.com"

#: Every origin Colab serves notebooks from (docs/protocol.md section 4): the default allowlist.
COLAB_ORIGINS = ("https://colab.research.google.com", "https://colab.google.com")

#: Origins no one's allowlist should match: a pattern that matches any of them
#: would let unrelated pages in, so it stops the server (an allow-all in disguise).
#: Reserved names and addresses, and the shapes of real-world hosts anyone can
#: get: a ``.com``, ``.io`` and ``.app`` name, a ``github.io`` page, IPv6 literals.
UNRELATED_ORIGINS = (
    "https://evil.example",
    "https://evil.com",
    "https://attacker.io",
    "https://evil.app",
    "https://attacker.github.io",
    "http://[2001:db8::1]",
    "https://[2001:db8::7]:8443",
    "http://attacker.test:8080",
    "https://attacker.test",
    "http://192.0.2.1",
    "https://198.51.100.7:8443",
    "http://evil.invalid:1",
    "https://colab.research.google.com.evil.example",
    "chrome-extension://abcdefghijklmnopabcdefghijklmnop",
)

_DEFAULT_PORTS = {"http": 80, "https": 443}

#: The longest ``Origin`` judged: longer than any real ``scheme://host:port``
#: (a DNS name is at most 253 characters, a port 5 digits). A longer one is
#: refused before any pattern sees it, so that no pattern's matching time can
#: grow with what a page sends (fourth security review, R1).
MAX_ORIGIN_CHARS = 300


def origin_too_long(origin: str) -> bool:
    """Whether an ``Origin`` value is longer than any real origin (:data:`MAX_ORIGIN_CHARS`)."""
    return len(origin) > MAX_ORIGIN_CHARS


class OriginConfigError(ValueError):
    """An allowlist entry that would be unsafe or can never match."""


def normalize_origin_entry(entry: str) -> str:
    """Check one configured exact origin and return it in canonical (lower) case."""
    if not isinstance(entry, str) or not entry.strip():
        raise OriginConfigError("an empty origin is not allowed in ColabBridge.allowed_origins")
    text = entry.strip()
    if text == "*" or text.lower() == "null":
        raise OriginConfigError(
            f"{text!r} is not allowed in ColabBridge.allowed_origins: list the exact "
            "origins of the pages you trust, like 'https://colab.research.google.com'"
        )
    parts = urlsplit(text)
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.path not in ("",)
        or parts.query
        or parts.fragment
        or parts.username
        or parts.password
    ):
        raise OriginConfigError(
            f"{text!r} in ColabBridge.allowed_origins is not an origin: write "
            "scheme://host[:port] with no path, like 'https://colab.research.google.com'"
        )
    return text.lower()


def compile_origin_pattern(pattern: str) -> re.Pattern[str]:
    """Compile one configured origin pattern, refusing match-everything ones."""
    if not isinstance(pattern, str) or not pattern.strip():
        raise OriginConfigError(
            "an empty pattern is not allowed in ColabBridge.allowed_origin_patterns"
        )
    try:
        compiled = re.compile(pattern)
    except re.error as e:
        raise OriginConfigError(
            f"{pattern!r} in ColabBridge.allowed_origin_patterns is not a valid "
            f"regular expression: {e}"
        ) from None
    problem = backtracking_problem(pattern)  # first: the checks below run the pattern
    if problem is not None:
        raise OriginConfigError(
            f"{pattern!r} in ColabBridge.allowed_origin_patterns can backtrack without bound "
            f"({problem}), so any web page could stall the server with one long Origin; "
            "write each host label as one repeated character class, like "
            r"'https://[a-z0-9-]+\.example\.com', or list the exact origins in "
            "ColabBridge.allowed_origins"
        )
    if compiled.fullmatch("") is not None or compiled.fullmatch("null") is not None:
        raise OriginConfigError(
            f"{pattern!r} in ColabBridge.allowed_origin_patterns matches an empty or "
            "'null' origin; write a pattern for real origins like "
            r"'https://[a-z0-9-]+\.example\.com'"
        )
    for origin in UNRELATED_ORIGINS:
        if compiled.fullmatch(origin) is not None:
            raise OriginConfigError(
                f"{pattern!r} in ColabBridge.allowed_origin_patterns also matches "
                f"{origin!r}, an unrelated origin, so it would let any site in; write a "
                r"pattern for your own origins only, like 'https://[a-z0-9-]+\.example\.com'"
            )
    dot = bare_dot(pattern)
    if dot is not None:
        # The pattern read literally, with an X for that dot: an origin it lets in.
        also = (pattern[:dot] + "X" + pattern[dot + 1 :]).replace("\\.", ".")
        example = f", such as {also!r}" if compiled.fullmatch(also) else ""
        raise OriginConfigError(
            f"{pattern!r} in ColabBridge.allowed_origin_patterns has an unescaped '.' "
            f"(at {pattern[max(0, dot - 6) : dot + 7]!r}), which matches any character, so "
            f"it also lets in hosts that differ there{example}, a name anyone can register; "
            r"write '\.' for a dot between host labels, or list the exact origin in "
            "ColabBridge.allowed_origins"
        )
    return compiled


def bare_dot(pattern: str) -> int | None:
    """The index of the first ``.`` of ``pattern`` that matches one arbitrary character.

    That is a ``.`` outside a character class, not escaped and not followed by
    a quantifier (``.+``, ``.*``, ``.?``, ``.{m,n}`` are judged by the unrelated
    origins they match). In an origin it sits between host labels, where the
    writer almost always meant a literal dot. None when there is none.
    """
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            i += 2
            continue
        if char == "[":
            i += 1
            if i < len(pattern) and pattern[i] == "^":
                i += 1
            if i < len(pattern) and pattern[i] == "]":
                i += 1  # a literal ']' first in the class
            while i < len(pattern) and pattern[i] != "]":
                i += 2 if pattern[i] == "\\" else 1
            i += 1
            continue
        if char == "." and (i + 1 >= len(pattern) or pattern[i + 1] not in "*+?{"):
            return i
        i += 1
    return None


def is_same_origin(origin: str, scheme: str, host: str) -> bool:
    """Whether ``Origin`` names the server itself (``scheme`` and ``Host`` of the request).

    Default ports compare equal to none; case does not matter.
    """
    try:
        theirs = urlsplit(origin.lower())
        ours = urlsplit(f"{scheme}://{host}".lower())
        their_port = theirs.port or _DEFAULT_PORTS.get(theirs.scheme)
        our_port = ours.port or _DEFAULT_PORTS.get(ours.scheme)
    except ValueError:
        return False
    return (theirs.scheme, theirs.hostname, their_port) == (ours.scheme, ours.hostname, our_port)


class OriginPolicy:
    """Decides whether the page at an ``Origin`` may use the bridge.

    Origins are compared in the form browsers send them, scheme and host in
    lower case (configured exact origins are lower-cased; an ``Origin`` with
    an upper-case letter is refused); patterns must match the whole origin
    (``re.fullmatch``), never a prefix.
    """

    def __init__(self, origins: Iterable[str], patterns: Iterable[str] = ()) -> None:
        self.origins: frozenset[str] = frozenset(normalize_origin_entry(o) for o in origins)
        self.patterns: tuple[re.Pattern[str], ...] = tuple(
            compile_origin_pattern(p) for p in patterns
        )

    def allows(self, origin: str) -> bool:
        """Whether one ``Origin`` header value is on the allowlist (its length bounded first)."""
        if not origin or origin_too_long(origin) or origin == "null" or "," in origin:
            return False
        if origin != origin.lower():
            return False  # browsers send scheme and host in lower case
        if origin in self.origins:
            return True
        return any(p.fullmatch(origin) for p in self.patterns)

    def describe(self) -> Sequence[str]:
        """The allowlist as the user wrote it, for logs and banners."""
        return sorted(self.origins) + [f"re:{p.pattern}" for p in self.patterns]
