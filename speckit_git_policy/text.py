"""Wording shared by every message: the "did you mean" hint for a near-miss name, and
the one escape of control characters for what a terminal shows."""

from __future__ import annotations

# typing is for type checkers only: the hook-path policy checker can word its
# unknown-key messages with this module at no import cost.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The choice most like ``word``, when one is close enough to be a likely typo."""
    import difflib  # only when there is a name to correct: hooks never pay for it

    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return close[0] if close else None


def did_you_mean(word: str, choices: Iterable[str], *, aside: bool = False) -> str:
    """The hint to append to a message about ``word``: "; did you mean 'x'?", or
    " (did you mean 'x'?)" with ``aside`` (for a hint inside a sentence); "" when
    nothing is close."""
    match = closest(word, choices)
    if match is None:
        return ""
    return f" (did you mean {match!r}?)" if aside else f"; did you mean {match!r}?"


# ---- control characters -----------------------------------------------------------------
# What a terminal would act on or a reader would misread, escaped the way Python's repr
# writes it: C0 controls but tab (ESC starts CSI/OSC sequences: clear screen, set the
# title), newline and carriage return (a forged output line), DEL, the C1 controls
# (U+009B is a one-character CSI), and the Unicode line separators and bidirectional
# controls (text that reads differently from what it is).
_NAMED = {0x0A: "\\n", 0x0D: "\\r"}
_ESCAPES: dict[int, str] = {
    **{code: f"\\x{code:02x}" for code in (*range(0x09), *range(0x0B, 0x20))},
    **_NAMED,
    **{code: f"\\x{code:02x}" for code in range(0x7F, 0xA0)},
    **{
        code: f"\\u{code:04x}"
        for code in (
            0x061C,
            0x200E,
            0x200F,
            0x2028,
            0x2029,
            *range(0x202A, 0x202F),
            *range(0x2066, 0x206A),
        )
    },
}
# The same characters as JSON escapes: json.dumps(ensure_ascii=False) escapes C0 (and
# newline) itself, but writes DEL, C1 and the others raw.
_JSON_ESCAPES = {code: f"\\u{code:04x}" for code in _ESCAPES if code >= 0x7F}


def printable(value: object) -> str:
    """``value`` as text that is safe to print on a terminal, every control character
    escaped (``\\x1b``, ``\\n``, ``\\x9b``, ``\\u202e``). Applied by the command line to
    every value it prints from the policy, the capsule or git (model ids, labels, commit
    subjects, messages); our own line breaks are never in a value."""
    text = value if isinstance(value, str) else str(value)
    if text.isascii() and text.isprintable():
        return text  # the common case, checked in C
    return text.translate(_ESCAPES)


def json_safe(document_text: str) -> str:
    """JSON text (``json.dumps(..., ensure_ascii=False)``) with DEL, the C1 controls,
    the line separators and the bidirectional controls escaped as ``\\uXXXX``: still
    the same JSON value, but nothing a terminal acts on. (Every such character can only
    be inside a string: JSON's own syntax is ASCII.)"""
    if document_text.isascii():
        return document_text
    return document_text.translate(_JSON_ESCAPES)


# ---- the system's refusals ----------------------------------------------------------------
_OS_FIXES = {
    "EROFS": "the file system is mounted read-only",
    "ENOSPC": "the disk is full: free some space and run the command again",
    "EDQUOT": "the disk quota is exhausted: free some space and run the command again",
    "EACCES": "permission denied: check the owner and mode of that path",
    "EPERM": "operation not permitted: check the owner and mode of that path",
}


def os_error_line(error: OSError) -> str:
    """One line for a refusal of the system (read-only file system, full disk, no
    permission): what, where and the fix, never a traceback."""
    import errno

    name = errno.errorcode.get(error.errno or 0, "")
    where = error.filename if error.filename is not None else None
    reason = _OS_FIXES.get(name) or (error.strerror or str(error))
    code = f" ({name})" if name else ""
    place = f"{printable(where)}: " if where is not None else ""
    return f"{place}{reason}{code}"
