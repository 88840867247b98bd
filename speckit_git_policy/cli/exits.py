"""What the command line prints for an error a command raised, and its exit code: one
line on stderr, never a traceback (docs/DESIGN.md §9: 1 = a check failed or a decision
was denied, 2 = bad usage or input, 3 = the tool's own failure). Both ways a command
runs (the click group, ``fast.py``) go through here, so they cannot differ.
"""

from __future__ import annotations

from speckit_git_policy.errors import SpeckitError
from speckit_git_policy.text import printable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable


def exit_code(
    error: BaseException, say_skipped: Callable[[], None], err: Callable[[str], None]
) -> int | None:
    """Print what ``error`` calls for through ``err`` (``say_skipped`` first for one of
    ours) and return the exit code; None for an error that is not the command's to map
    (SystemExit and the like). Called while ``error`` is being handled."""
    if isinstance(error, SpeckitError):
        say_skipped()
        # Messages quote ids, paths and values: escaped, so the error stays one line.
        err(f"error: {printable(error)}")
        return error.exit_code
    if isinstance(error, KeyboardInterrupt):
        err("interrupted")
        return 130
    if isinstance(error, BrokenPipeError):
        return 141
    if isinstance(error, OSError):
        # The system refused a write or a read (a read-only file system, a full disk, no
        # permission): the tool could not do its job, so exit 3, with the path and the fix.
        from speckit_git_policy.text import os_error_line

        err(f"error: {os_error_line(error)}")
        _debug_traceback()
        return 3
    if isinstance(error, Exception):  # the tool's own bug: one line, never a traceback
        err(
            f"error: internal error: {type(error).__name__}: {printable(error)} "
            "(set SPECKIT_DEBUG=1 for details)"
        )
        _debug_traceback()
        return 3  # the tool's own failure, not a failed check (docs/DESIGN.md §9)
    return None


def _debug_traceback() -> None:
    import os

    if os.environ.get("SPECKIT_DEBUG"):
        import traceback

        traceback.print_exc()


def skipped_lines(repo: object) -> list[str]:
    """What the capsule's readers skipped (it does not parse), one warning line each;
    the notes are cleared once said."""
    notes = getattr(repo, "memo", {}).get("capsule_notes")
    lines = [
        "warning: " + "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in message)
        for message in notes or []
    ]
    if notes:
        notes.clear()
    return lines
