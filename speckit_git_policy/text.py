"""Wording shared by every message: the "did you mean" hint for a near-miss name."""

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
