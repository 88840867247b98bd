"""The plain TOML a policy is written in, read without tomllib's imports.

tomllib brings typing, re, string, datetime and its own regular expressions: about
half of what the pre-commit hook costs (docs/DESIGN.md §10). ``loads`` reads the part
of TOML policies are made of — ``[bare.dotted]`` table headers; ``bare_key = value``
with strings (basic, with escapes, and literal), decimal integers, floats in plain or
exponent form, booleans and arrays of them (over several lines, with comments) — and
gives exactly what ``tomllib.loads`` gives. Anything else (dotted or quoted keys,
inline tables, arrays of tables, multi-line strings, dates, hexadecimal, ``inf``,
underscores in numbers, and any error) gives None: then tomllib reads the text, and
says what is wrong if anything is. tests/test_tomlfast.py holds the two to the same
answer on generated documents.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_WS = " \t"
_BARE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
_DIGITS = frozenset("0123456789")
_HEX = frozenset("0123456789abcdefABCDEF")
# What tomllib refuses in strings and comments: ASCII control characters but tab.
_CONTROL = frozenset([chr(code) for code in range(32) if code != 9] + ["\x7f"])
# Where a number or a boolean ends.
_VALUE_END = frozenset(" \t\n#,]")
_ESCAPES = {"b": "\b", "t": "\t", "n": "\n", "f": "\f", "r": "\r", '"': '"', "\\": "\\"}
_MAX_NESTING = 32  # arrays in arrays; deeper is tomllib's (and the depth rule's) to say
_MAX_INT_DIGITS = 18  # well inside 64 bits


class _Other(Exception):
    """Not the plain TOML this module reads: tomllib decides."""


def loads(text: str) -> dict[str, Any] | None:
    """``tomllib.loads(text)``, or None for text outside the plain part of TOML."""
    try:
        return _Reader(text.replace("\r\n", "\n")).document()
    except (_Other, IndexError):
        return None


class _Reader:
    def __init__(self, text: str) -> None:
        if "\r" in text:
            raise _Other  # a lone carriage return: an error, in tomllib's words
        self.text = text
        self.end = len(text)

    def document(self) -> dict[str, Any]:
        root: dict[str, Any] = {}
        table = root
        headers: set[tuple[str, ...]] = set()
        text, pos = self.text, 0
        while True:
            pos = self.skip_ws(pos)
            if pos >= self.end:
                return root
            char = text[pos]
            if char == "\n":
                pos += 1
                continue
            if char == "#":
                pos = self.skip_comment(pos)
                continue
            if char == "[":
                path, pos = self.header(pos + 1)
                if path in headers:
                    raise _Other  # a table declared twice
                headers.add(path)
                table = root
                for part in path:
                    table = table.setdefault(part, {})
                    if type(table) is not dict:
                        raise _Other  # a header over a value
            else:
                key, pos = self.key(pos)
                pos = self.skip_ws(pos)
                if pos >= self.end or text[pos] != "=":
                    raise _Other  # a dotted key, or no value
                value, pos = self.value(self.skip_ws(pos + 1), 0)
                if key in table:
                    raise _Other  # a key written twice, or over a table
                table[key] = value
            pos = self.line_end(pos)

    def skip_ws(self, pos: int) -> int:
        text, end = self.text, self.end
        while pos < end and text[pos] in _WS:
            pos += 1
        return pos

    def skip_comment(self, pos: int) -> int:
        """From a ``#`` to the newline that ends it (or the end of the text)."""
        newline = self.text.find("\n", pos)
        stop = self.end if newline < 0 else newline
        if not _CONTROL.isdisjoint(self.text[pos:stop]):
            raise _Other
        return stop

    def line_end(self, pos: int) -> int:
        """After a header or a value: blanks, a comment, then the line's end."""
        pos = self.skip_ws(pos)
        if pos < self.end and self.text[pos] == "#":
            pos = self.skip_comment(pos)
        if pos < self.end:
            if self.text[pos] != "\n":
                raise _Other
            pos += 1
        return pos

    def key(self, pos: int) -> tuple[str, int]:
        text, start = self.text, pos
        while pos < self.end and text[pos] in _BARE:
            pos += 1
        if pos == start:
            raise _Other  # a quoted key, or none
        return text[start:pos], pos

    def header(self, pos: int) -> tuple[tuple[str, ...], int]:
        if self.text[pos] == "[":
            raise _Other  # an array of tables
        parts = []
        while True:
            part, pos = self.key(self.skip_ws(pos))
            parts.append(part)
            pos = self.skip_ws(pos)
            char = self.text[pos]
            if char == "]":
                return tuple(parts), pos + 1
            if char != ".":
                raise _Other
            pos += 1

    def skip_array_blanks(self, pos: int) -> int:
        text, end = self.text, self.end
        while pos < end:
            char = text[pos]
            if char in " \t\n":
                pos += 1
            elif char == "#":
                pos = self.skip_comment(pos)
            else:
                break
        return pos

    def value(self, pos: int, nesting: int) -> tuple[Any, int]:
        char = self.text[pos]
        if char == '"':
            return self.basic_string(pos + 1)
        if char == "'":
            return self.literal_string(pos + 1)
        if char == "[":
            if nesting >= _MAX_NESTING:
                raise _Other
            return self.array(pos + 1, nesting + 1)
        start = pos
        text, end = self.text, self.end
        while pos < end and text[pos] not in _VALUE_END:
            pos += 1
        return _scalar(text[start:pos]), pos

    def array(self, pos: int, nesting: int) -> tuple[list[Any], int]:
        items: list[Any] = []
        pos = self.skip_array_blanks(pos)
        if self.text[pos] == "]":
            return items, pos + 1
        while True:
            item, pos = self.value(pos, nesting)
            items.append(item)
            pos = self.skip_array_blanks(pos)
            char = self.text[pos]
            if char == "]":
                return items, pos + 1
            if char != ",":
                raise _Other
            pos = self.skip_array_blanks(pos + 1)
            if self.text[pos] == "]":
                return items, pos + 1

    def basic_string(self, pos: int) -> tuple[str, int]:
        text = self.text
        if text.startswith('""', pos):
            if text.startswith('"""', pos):
                raise _Other  # a multi-line string
            return "", pos + 1
        pieces = []
        quote = text.find('"', pos)
        while True:
            if quote < 0:
                raise _Other
            backslash = text.find("\\", pos, quote)
            stop = quote if backslash < 0 else backslash
            piece = text[pos:stop]
            if not _CONTROL.isdisjoint(piece):
                raise _Other  # a newline or another control character
            pieces.append(piece)
            if backslash < 0:
                return "".join(pieces), quote + 1
            escaped, pos = self.escape(backslash + 1)
            pieces.append(escaped)
            if pos > quote:  # the quote was escaped (\"): the next one ends the string
                quote = text.find('"', pos)

    def escape(self, pos: int) -> tuple[str, int]:
        char = self.text[pos]
        simple = _ESCAPES.get(char)
        if simple is not None:
            return simple, pos + 1
        width = 4 if char == "u" else 8 if char == "U" else 0
        digits = self.text[pos + 1 : pos + 1 + width]
        if not width or len(digits) != width or not _HEX.issuperset(digits):
            raise _Other
        code = int(digits, 16)
        if not (0 <= code <= 0xD7FF or 0xE000 <= code <= 0x10FFFF):
            raise _Other
        return chr(code), pos + 1 + width

    def literal_string(self, pos: int) -> tuple[str, int]:
        text = self.text
        if text.startswith("''", pos):
            if text.startswith("'''", pos):
                raise _Other
            return "", pos + 1
        quote = text.find("'", pos)
        if quote < 0 or not _CONTROL.isdisjoint(text[pos:quote]):
            raise _Other
        return text[pos:quote], quote + 1


def _scalar(token: str) -> bool | int | float:
    if token == "true":
        return True
    if token == "false":
        return False
    body = token[1:] if token[:1] in ("+", "-") else token
    whole, dot, rest = body.partition(".")
    exponent = ""
    if dot:
        fraction, e, exponent = rest.replace("E", "e").partition("e")
        if not fraction or not _DIGITS.issuperset(fraction):
            raise _Other
    else:
        whole, e, exponent = whole.replace("E", "e").partition("e")
    if not whole or not _DIGITS.issuperset(whole) or (whole[0] == "0" and len(whole) > 1):
        raise _Other
    if e:
        digits = exponent[1:] if exponent[:1] in ("+", "-") else exponent
        if not digits or not _DIGITS.issuperset(digits):
            raise _Other
    if dot or e:
        return float(token)
    if len(whole) > _MAX_INT_DIGITS:
        raise _Other
    return int(token)
