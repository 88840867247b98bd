"""Locate dotted keys in TOML text, so that validation errors can name a line.

``tomllib`` gives values, not positions. This scanner reads the text line by line,
tracking the current table header and skipping multi-line strings and arrays, and
records the line of every ``[table]`` header and ``key = value``.
"""

from __future__ import annotations

import re

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


class KeyLines:
    """Map from dotted key (tuple of parts) to the 1-based line that defines it."""

    def __init__(self, text: str) -> None:
        self._lines: dict[tuple[str, ...], int] = {}
        table: tuple[str, ...] = ()
        in_string: str | None = None
        depth = 0
        for number, line in enumerate(text.splitlines(), start=1):
            if in_string:
                if in_string in line:
                    in_string = None
                continue
            if depth > 0:
                depth += line.count("[") - line.count("]")
                continue
            header = _HEADER.match(line)
            if header:
                table = _split_key(header.group(1))
                self._lines.setdefault(table, number)
                continue
            assign = _ASSIGN.match(line)
            if not assign:
                continue
            key = table + _split_key(assign.group(1))
            self._lines.setdefault(key, number)
            rest = line[assign.end():]
            for quote in ('"""', "'''"):
                if rest.count(quote) == 1:
                    in_string = quote
            code = rest.split("#", 1)[0]
            if code.strip().startswith("["):
                depth = code.count("[") - code.count("]")

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
