"""Locate dotted keys in TOML text, so that validation errors can name a line.

``tomllib`` gives values, not positions. This scanner reads the text line by line,
tracking the current table header and skipping multi-line strings and arrays, and
records the line of every ``[table]`` header and ``key = value``. It is
iterative and keeps keys at most one part longer than the policy's nesting
limit, so a hostile document costs it time linear in its size.
"""

from __future__ import annotations

import re

from speckit_git_policy.policy.rules import MAX_DEPTH

# A key deeper than this is refused whatever it names (its prefix of this length locates it).
KEPT_PARTS = MAX_DEPTH + 1

_BARE = r"[A-Za-z0-9_-]+"
_QUOTED = r'"(?:[^"\\]|\\.)*"|\'[^\']*\''
_KEY = rf"(?:{_BARE}|{_QUOTED})(?:\s*\.\s*(?:{_BARE}|{_QUOTED}))*"
_HEADER = re.compile(rf"^\s*\[\[?\s*({_KEY})\s*\]\]?\s*(?:#.*)?$")
_ASSIGN = re.compile(rf"^\s*({_KEY})\s*=")
_PART = re.compile(rf"{_BARE}|{_QUOTED}")


def _split_key(text: str) -> tuple[str, ...]:
    parts = []
    for match in _PART.finditer(text):
        token = match.group(0)
        if token[0] in "\"'":
            token = token[1:-1]
        parts.append(token)
    return tuple(parts)


class _ValueScanner:
    """Tracks, across lines, whether the text is inside a multi-line string or an
    array/inline table, skipping brackets that sit inside strings or comments (a
    ``"]"`` in a string must not end an array, or later keys get the wrong line)."""

    def __init__(self) -> None:
        self.string: str | None = None  # the open multi-line delimiter
        self.depth = 0
        self.peak = 0  # the deepest nesting seen so far

    @property
    def inside(self) -> bool:
        return self.string is not None or self.depth > 0

    def feed(self, line: str, start: int = 0) -> None:
        i = start
        while i < len(line):
            if self.string is not None:
                end = _closing(line, i, self.string)
                if end < 0:
                    return
                i, self.string = end, None
                continue
            char = line[i]
            if char == "#":
                return
            triple = line[i : i + 3]
            if triple in ('"""', "'''"):
                self.string = triple
                i += 3
                continue
            if char in "\"'":
                end = _closing(line, i + 1, char)
                i = end if end >= 0 else len(line)
                continue
            if char in "[{":
                self.depth += 1
                self.peak = max(self.peak, self.depth)
            elif char in "]}":
                self.depth = max(0, self.depth - 1)
            i += 1


def _closing(line: str, start: int, delimiter: str) -> int:
    """Index just past ``delimiter`` closing a string opened before ``start``, or -1."""
    i = start
    while i < len(line):
        if delimiter[0] == '"' and line[i] == "\\":
            i += 2  # an escaped character, possibly a quote
            continue
        if line.startswith(delimiter, i):
            return i + len(delimiter)
        i += 1
    return -1


class KeyLines:
    """Map from dotted key (tuple of parts) to the 1-based line that defines it."""

    def __init__(self, text: str) -> None:
        self._lines: dict[tuple[str, ...], int] = {}
        table: tuple[str, ...] = ()
        scanner = _ValueScanner()
        for number, line in enumerate(text.splitlines(), start=1):
            if scanner.inside:
                scanner.feed(line)
                continue
            header = _HEADER.match(line)
            if header:
                table = _split_key(header.group(1))
                self._lines.setdefault(table[:KEPT_PARTS], number)
                continue
            assign = _ASSIGN.match(line)
            if not assign:
                continue
            parts = _split_key(assign.group(1))
            # ``a.b.c = 1`` also defines the tables ``a`` and ``a.b`` on this line, so an
            # error about ``a.b`` (unknown key, missing field) finds it too.
            for end in range(1, min(len(parts), max(KEPT_PARTS - len(table), 1)) + 1):
                self._lines.setdefault((table + parts[:end])[:KEPT_PARTS], number)
            scanner.feed(line, assign.end())

    def line_of(self, key: tuple[object, ...]) -> int | None:
        """The line of the longest prefix of ``key`` found in the text (ints are array indexes)."""
        parts = tuple(str(p) for p in key if not isinstance(p, int))
        while parts:
            if parts in self._lines:
                return self._lines[parts]
            parts = parts[:-1]
        return None

    def line_of_dotted(self, dotted: str) -> int | None:
        return self.line_of(_split_key(re.sub(r"\[\d+\]", "", dotted)))

    def span_of(self, key: tuple[str, ...]) -> int | None:
        return self._lines.get(key)

    def keys(self) -> dict[tuple[str, ...], int]:
        return dict(self._lines)


def line_nesting_deeper_than(text: str, limit: int) -> int:
    """The first line where arrays and inline tables nest more than ``limit`` deep
    (brackets in strings and comments do not count), else the deepest one's."""
    scanner = _ValueScanner()
    deepest, deepest_line = -1, 1
    for number, line in enumerate(text.splitlines(), start=1):
        scanner.peak = scanner.depth
        scanner.feed(line)
        if scanner.peak > limit:
            return number
        if scanner.peak > deepest:
            deepest, deepest_line = scanner.peak, number
    return deepest_line
