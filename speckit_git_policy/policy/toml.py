"""Reading ``model_policy.toml``: bytes to a document, every failure a located PolicyInvalid.

Whatever the bytes, the result is a document or a ``file:line`` PolicyInvalid,
never another exception: a byte order mark, bytes that are not UTF-8, TOML that
does not parse, and nesting deep enough to exhaust the parser's stack (or any
later walk's) are each named. Lines of keys are found on demand (``SourceLines``):
a valid policy, the usual commit, never pays for locating keys.
"""

from __future__ import annotations

import sys

from speckit_git_policy.errors import PolicyInvalid, PolicyIssue
from speckit_git_policy.policy import tomlfast
from speckit_git_policy.policy.rules import DEPTH_MESSAGE, MAX_DEPTH, too_deep

# typing is imported for type checkers only: the git hook's hot path must not pay for it.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Protocol

    from speckit_git_policy.policy.tomlpos import KeyLines

    class LineLookup(Protocol):
        """Where a dotted key is written (``tomlpos.KeyLines`` or ``SourceLines``)."""

        def line_of(self, key: tuple[object, ...]) -> int | None: ...

        def line_of_dotted(self, dotted: str) -> int | None: ...


BOM = b"\xef\xbb\xbf"
BOM_MESSAGE = "starts with a UTF-8 byte order mark (BOM); save it without one"


class SourceLines:
    """``KeyLines`` of a text, scanned on first use."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._key_lines: KeyLines | None = None

    def key_lines(self) -> KeyLines:
        if self._key_lines is None:
            from speckit_git_policy.policy.tomlpos import KeyLines

            self._key_lines = KeyLines(self.text)
        return self._key_lines

    def line_of(self, key: tuple[object, ...]) -> int | None:
        return self.key_lines().line_of(key)

    def line_of_dotted(self, dotted: str) -> int | None:
        return self.key_lines().line_of_dotted(dotted)


def dotted_key(loc: tuple[Any, ...]) -> str:
    """``("routing", "cloud", "judge", 0)`` → ``routing.cloud.judge[0]``."""
    return ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in loc).replace(".[", "[")


def parse_toml(data: bytes, file: str) -> tuple[dict[str, Any], SourceLines]:
    """Decode and parse TOML, nested at most MAX_DEPTH deep; errors become PolicyInvalid at file:line."""
    if data.startswith(BOM):
        raise PolicyInvalid([PolicyIssue(file, 1, "", BOM_MESSAGE)])
    if not data.strip():
        raise PolicyInvalid([PolicyIssue(file, 1, "", "file is empty; expected the policy tables")])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise PolicyInvalid([PolicyIssue(file, line, "", "is not valid UTF-8")]) from e
    lines = SourceLines(text)
    if text.count(".") > MAX_DEPTH:
        # Only then can a dotted key or header be too long, and the parser takes time
        # quadratic in a dotted key's length (30 s for 10,000 parts): refuse it first.
        _refuse_long_keys(lines, file)
    plain = tomlfast.loads(text)
    document = plain if plain is not None else _tomllib_loads(text, file, lines)
    deep = too_deep(document)
    if deep is not None:
        key = dotted_key(deep)
        raise PolicyInvalid([PolicyIssue(file, lines.line_of(deep), key, DEPTH_MESSAGE)])
    return document, lines


def _tomllib_loads(text: str, file: str, lines: SourceLines) -> dict[str, Any]:
    """The whole of TOML, and its errors as PolicyInvalid at file:line."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        error_line: int | None = getattr(e, "lineno", None)
        message = str(e)
        if error_line is None and "(at line " in message:
            error_line = int(message.rsplit("(at line ", 1)[1].split(",")[0])
        message = message.split(" (at line ")[0]
        raise PolicyInvalid([PolicyIssue(file, error_line, "", f"invalid TOML: {message}")]) from e
    except RecursionError as e:  # the parser recurses into inline tables and arrays
        from speckit_git_policy.policy.tomlpos import line_nesting_deeper_than

        line = line_nesting_deeper_than(text, MAX_DEPTH)
        raise PolicyInvalid(
            [PolicyIssue(file, line, _key_written_by(lines, line), DEPTH_MESSAGE)]
        ) from e


def _refuse_long_keys(lines: SourceLines, file: str) -> None:
    for key, line in lines.key_lines().keys().items():  # in line order
        if len(key) > MAX_DEPTH:
            raise PolicyInvalid([PolicyIssue(file, line, dotted_key(key), DEPTH_MESSAGE)])


def _key_written_by(lines: SourceLines, line: int) -> str:
    """The key whose value is on ``line``: the last one written on it or before it."""
    written = [(at, len(key), key) for key, at in lines.key_lines().keys().items() if at <= line]
    return dotted_key(max(written)[2]) if written else ""
