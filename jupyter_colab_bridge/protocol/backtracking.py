"""Does a regular expression backtrack badly? A conservative reading of its syntax.

Python's ``re`` is a backtracking matcher: a pattern in which one piece of
text can be taken in many ways (``(a+)+``, ``(a|a)*``, ``[a-z]+[a-z]+``)
needs time exponential, or a high power, in the length of a text that almost
matches. An origin pattern is matched against an ``Origin`` that any web page
chooses (its own host name), so such a pattern lets any page stall the server
(fourth security review, R1). :func:`backtracking_problem` reads the pattern's
syntax (the subset an origin pattern uses; anything it cannot read is
refused, not guessed) and names the first construct that can backtrack:

1. **nested repetition**: a repeated group (``*``, ``+``, ``{m,}``,
   ``{m,n}`` with ``n > 1``) holding anything of variable length (another
   ``*``, ``+``, ``?`` or ``{m,n}``): ``(a+)+``, ``([a-z0-9]+-?)+``,
   ``(.*)*``, ``(\\.[a-z]+)*``;
2. **overlapping alternatives under repetition**: a repeated group with
   alternatives that can start with the same character, or an empty one:
   ``(a|a)*``, ``([a-z]|[0-9a-z])+``;
3. **adjacent overlapping repetitions**: two variable repetitions in a row
   that can take the same characters, with nothing between them that only
   one of them could take: ``[a-z0-9]+[a-z]+``, ``\\w*-?\\w+``.

Why a conservative rule and not a precise one: deciding exactly whether a
regex backtracks exponentially needs an automaton analysis of the whole
pattern; the private parser of ``re`` (``re._parser``) is no public API. The
three shapes above cover the textbook cases and every example of the review,
and refuse only patterns an origin never needs: a host-name label is one
character class repeated (``[a-z0-9-]+``), labels are separated by ``\\.``,
an optional port is ``(:\\d+)?`` (repeated at most once). A refused pattern
can always be rewritten, as the error says, e.g. ``(\\.[a-z]+)*`` as
``[a-z.]*`` or by listing the hosts. The remaining polynomial cases (a
repetition, a required ``\\.``, a repetition that may also take dots) are
bounded by the length limit on the ``Origin`` (:mod:`.origins`).

Pure code, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field

_MAX_CODE = 0x10FFFF

#: A set of characters as sorted, inclusive code-point ranges.
Ranges = tuple[tuple[int, int], ...]

_DIGITS: Ranges = ((0x30, 0x39),)
_WORD: Ranges = ((0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A), (0x80, _MAX_CODE))
_SPACE: Ranges = ((0x09, 0x0D), (0x20, 0x20), (0x80, _MAX_CODE))
_NEWLINE: Ranges = ((0x0A, 0x0A),)
_CONTROL_ESCAPES = {"n": 0x0A, "t": 0x09, "r": 0x0D, "f": 0x0C, "v": 0x0B, "a": 0x07}


@dataclass(frozen=True)
class Chars:
    """The characters one position may take: ``ranges``, or all but them when ``negated``."""

    ranges: Ranges
    negated: bool = False

    def overlaps(self, other: Chars) -> bool:
        """Whether some character is in both (approximate only towards "yes")."""
        if self.negated and other.negated:
            return True
        if self.negated or other.negated:
            inverse, plain = (self, other) if self.negated else (other, self)
            return not all(_within(r, inverse.ranges) for r in plain.ranges)
        return any(a[0] <= b[1] and b[0] <= a[1] for a in self.ranges for b in other.ranges)

    def folded(self) -> Chars:
        """With both cases of ASCII letters (the ``i`` flag)."""
        extra = []
        for lo, hi in self.ranges:
            for base, other in ((0x41, 0x61), (0x61, 0x41)):
                a, b = max(lo, base), min(hi, base + 25)
                if a <= b:
                    extra.append((a - base + other, b - base + other))
        return Chars(_merge(self.ranges + tuple(extra)), self.negated)


def _within(r: tuple[int, int], ranges: Ranges) -> bool:
    return any(lo <= r[0] and r[1] <= hi for lo, hi in ranges)


def _merge(ranges: Ranges) -> Ranges:
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return tuple(out)


def _union(sets: list[Chars]) -> Chars:
    if any(s.negated for s in sets):
        return Chars((), negated=True)  # everything, as far as overlaps go
    return Chars(_merge(tuple(r for s in sets for r in s.ranges)))


ANY = Chars((), negated=True)
NOTHING = Chars(())


class Unreadable(ValueError):
    """A construct this reading does not cover (the pattern is refused, not guessed)."""


@dataclass
class Item:
    """One atom or group with its repetition: ``lo`` to ``hi`` times (``hi`` None: no limit)."""

    chars: Chars  # an atom's characters; for a group, every character it may take
    lo: int = 1
    hi: int | None = 1
    alternatives: list[list[Item]] | None = None  # a group's branches
    zero_width: bool = False

    @property
    def repeated(self) -> bool:
        """Taken more than once: ``*``, ``+``, ``{m,}``, ``{m,n}`` with ``n > 1``."""
        return self.hi is None or self.hi > 1

    @property
    def variable(self) -> bool:
        """Its length is not fixed: a quantifier other than ``{n}``, or a variable part."""
        if self.hi is None or self.hi != self.lo:
            return True
        return any(i.variable for branch in self.alternatives or [] for i in branch)


@dataclass
class _Parser:
    text: str
    pos: int = 0
    ignore_case: bool = False
    groups: int = field(default=0)

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def take(self) -> str:
        char = self.peek()
        self.pos += 1
        return char

    def alternatives(self) -> list[list[Item]]:
        branches = [self.sequence()]
        while self.peek() == "|":
            self.pos += 1
            branches.append(self.sequence())
        return branches

    def sequence(self) -> list[Item]:
        items: list[Item] = []
        while self.peek() not in ("", "|", ")"):
            item = self.atom()
            if item is None:
                continue
            self.quantifier(item)
            items.append(item)
        return items

    def quantifier(self, item: Item) -> None:
        char = self.peek()
        if char in ("*", "+", "?"):
            self.pos += 1
            item.lo, item.hi = {"*": (0, None), "+": (1, None), "?": (0, 1)}[char]
        elif char == "{":
            end = self.text.find("}", self.pos)
            body = self.text[self.pos + 1 : end] if end > 0 else ""
            low, comma, high = body.partition(",")
            if not body or not (low.isdigit() or low == "") or not (high.isdigit() or high == ""):
                return  # a literal "{", already read as such by ``re``
            if not comma and not low:
                return
            self.pos = end + 1
            item.lo = int(low) if low else 0
            item.hi = (int(high) if high else None) if comma else item.lo
        else:
            return
        if item.zero_width:
            raise Unreadable("a repeated zero-width assertion")
        if self.peek() in ("?", "+"):  # lazy or possessive: matched the same ways, or fewer
            self.pos += 1

    def atom(self) -> Item | None:
        char = self.take()
        if char == "(":
            return self.group()
        if char == "[":
            return Item(self.fold(self.char_class()))
        if char == "\\":
            return self.escape()
        if char == ".":
            return Item(Chars(_NEWLINE, negated=True))
        if char in ("^", "$"):
            return Item(NOTHING, zero_width=True)
        return Item(self.fold(Chars(((ord(char), ord(char)),))))

    def fold(self, chars: Chars) -> Chars:
        return chars.folded() if self.ignore_case else chars

    def group(self) -> Item | None:
        zero_width = False
        if self.peek() == "?":
            self.pos += 1
            kind = self.take()
            if kind == ":":
                pass
            elif kind == "P" and self.peek() == "<":
                end = self.text.index(">", self.pos)
                self.pos = end + 1
            elif kind == "P" and self.peek() == "=":
                end = self.text.index(")", self.pos)
                self.pos = end + 1
                return Item(ANY, lo=0, hi=None)  # a back-reference: any length
            elif kind in ("=", "!"):
                zero_width = True
            elif kind == "<" and self.peek() in ("=", "!"):
                self.pos += 1
                zero_width = True
            elif kind == "#":
                self.pos = self.text.index(")", self.pos) + 1
                return None
            elif kind.isalpha() or kind == "-":
                flags = kind + self.text[self.pos : self.text.index(")", self.pos)]
                if ":" in flags or "-" in flags or "x" in flags:
                    raise Unreadable(f"the flags (?{flags.split(':')[0]}")
                self.ignore_case = self.ignore_case or "i" in flags
                self.pos = self.text.index(")", self.pos) + 1
                return None
            else:
                raise Unreadable(f"the group (?{kind}")
        branches = self.alternatives()
        if self.take() != ")":
            raise Unreadable("an unbalanced parenthesis")
        chars = _union([i.chars for branch in branches for i in branch] or [NOTHING])
        return Item(chars, alternatives=branches, zero_width=zero_width)

    def escape(self) -> Item:
        char = self.take()
        classes = {"d": _DIGITS, "w": _WORD, "s": _SPACE}
        if char.lower() in classes:
            return Item(Chars(classes[char.lower()], negated=char.isupper()))
        if char in ("b", "B", "A", "Z"):
            return Item(NOTHING, zero_width=True)
        if char.isdigit() and char != "0":
            return Item(ANY, lo=0, hi=None)  # a back-reference: any length
        if char in ("x", "u", "U", "N", "0"):
            return Item(ANY)  # one character we do not decode: any, to be safe
        if char == "":
            raise Unreadable("a trailing backslash")
        code = _CONTROL_ESCAPES.get(char, ord(char))
        return Item(self.fold(Chars(((code, code),))))

    def char_class(self) -> Chars:
        negated = self.peek() == "^"
        if negated:
            self.pos += 1
        ranges: list[tuple[int, int]] = []
        first = True
        while True:
            char = self.take()
            if char == "":
                raise Unreadable("an unterminated character class")
            if char == "]" and not first:
                break
            first = False
            if char == "\\":
                code = self.class_escape(ranges)
                if code is None:
                    continue
            else:
                code = ord(char)
            if self.peek() == "-" and self.text[self.pos + 1 : self.pos + 2] not in ("]", ""):
                self.pos += 1
                end = self.take()
                end_code = ord(self.take()) if end == "\\" else ord(end)
                ranges.append((code, end_code))
            else:
                ranges.append((code, code))
        return Chars(_merge(tuple(ranges)), negated)

    def class_escape(self, ranges: list[tuple[int, int]]) -> int | None:
        char = self.take()
        classes = {"d": _DIGITS, "w": _WORD, "s": _SPACE}
        if char in classes:
            ranges.extend(classes[char])
            return None
        if char.lower() in classes or char in ("x", "u", "U", "N", "0"):
            ranges.append((0, _MAX_CODE))  # all, to be safe
            return None
        return _CONTROL_ESCAPES.get(char, ord(char))


def _first(branch: list[Item]) -> Chars | None:
    """The characters a branch may start with; None if it may match the empty text."""
    sets: list[Chars] = []
    for item in branch:
        if item.zero_width:
            continue
        if item.alternatives is None:
            sets.append(item.chars)
            may_be_empty = item.lo == 0
        else:
            firsts = [_first(b) for b in item.alternatives]
            sets.extend(f for f in firsts if f is not None)
            may_be_empty = item.lo == 0 or any(f is None for f in firsts)
        if not may_be_empty:
            return _union(sets)
    return None


def _flatten(branch: list[Item]) -> list[Item]:
    """``branch`` with its plain groups (once, one branch) written out in place."""
    out: list[Item] = []
    for item in branch:
        if (
            item.alternatives is not None
            and len(item.alternatives) == 1
            and item.lo == item.hi == 1
            and not item.zero_width
        ):
            out.extend(_flatten(item.alternatives[0]))
        else:
            out.append(item)
    return out


def _check_branch(branch: list[Item]) -> str | None:
    items = _flatten(branch)
    for item in items:
        problem = _check_item(item)
        if problem:
            return problem
    return _adjacent(items)


def _check_item(item: Item) -> str | None:
    if item.alternatives is None:
        return None
    if item.repeated and not item.zero_width:
        inner = [i for b in item.alternatives for i in b if i.variable]
        if inner:
            return "a repeated group holds a part of variable length (nested repetition)"
        if len(item.alternatives) > 1:
            firsts = [_first(b) for b in item.alternatives]
            if any(f is None for f in firsts):
                return "a repeated group has an alternative that may be empty"
            for i, a in enumerate(firsts):
                for b in firsts[i + 1 :]:
                    assert a is not None and b is not None
                    if a.overlaps(b):
                        return "a repeated group has alternatives that can start alike"
    for branch in item.alternatives:
        problem = _check_branch(branch)
        if problem:
            return problem
    return None


def _adjacent(items: list[Item]) -> str | None:
    """Two variable repetitions in a row that can take the same characters.

    Only a required part that the first repetition cannot take separates
    them (``[a-z]+\\.[a-z]+`` is fine: the dot must sit between them).
    """
    for i, first in enumerate(items):
        if first.zero_width or not (first.repeated and first.variable):
            continue
        for second in items[i + 1 :]:
            if second.zero_width:
                continue
            if second.repeated and second.variable and first.chars.overlaps(second.chars):
                return "two repetitions in a row can take the same characters"
            if second.lo > 0 and not first.chars.overlaps(second.chars):
                break
    return None


def backtracking_problem(pattern: str) -> str | None:
    """What in ``pattern`` can make ``re`` backtrack without bound, or None.

    See the module's docstring for the three shapes and why the rule is conservative.
    """
    parser = _Parser(pattern)
    try:
        branches = parser.alternatives()
        if parser.pos < len(pattern):
            raise Unreadable("an unbalanced parenthesis")
    except (Unreadable, ValueError, IndexError) as e:
        detail = str(e) if isinstance(e, Unreadable) else "its syntax"
        return f"it uses {detail}, which the backtracking check cannot read"
    for branch in branches:
        problem = _check_branch(branch)
        if problem:
            return problem
    return None
