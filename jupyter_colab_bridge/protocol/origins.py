"""The origin allowlist: which web pages may open the bridge's WebSockets."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit

COLAB_ORIGIN = "https://colab.research.google.com"


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
    if compiled.fullmatch("") is not None or compiled.fullmatch("null") is not None:
        raise OriginConfigError(
            f"{pattern!r} in ColabBridge.allowed_origin_patterns matches an empty or "
            "'null' origin; write a pattern for real origins like "
            r"'https://[a-z0-9-]+\.example\.com'"
        )
    return compiled


class OriginPolicy:
    """Decides whether the page at an ``Origin`` may use the bridge.

    Exact origins compare case-insensitively; patterns must match the whole
    origin (``re.fullmatch``), never a prefix.
    """

    def __init__(self, origins: Iterable[str], patterns: Iterable[str] = ()) -> None:
        self.origins: frozenset[str] = frozenset(normalize_origin_entry(o) for o in origins)
        self.patterns: tuple[re.Pattern[str], ...] = tuple(
            compile_origin_pattern(p) for p in patterns
        )

    def allows(self, origin: str) -> bool:
        """Whether one ``Origin`` header value is on the allowlist."""
        if not origin or origin == "null" or "," in origin:
            return False
        lowered = origin.lower()
        if lowered in self.origins:
            return True
        return any(p.fullmatch(origin) or p.fullmatch(lowered) for p in self.patterns)

    def describe(self) -> Sequence[str]:
        """The allowlist as the user wrote it, for logs and banners."""
        return sorted(self.origins) + [f"re:{p.pattern}" for p in self.patterns]
