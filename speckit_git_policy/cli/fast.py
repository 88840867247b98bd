"""The commands scripts call in loops, in their plainest forms, run without click.

Loading click costs about as much as starting Python again (its own modules, and
inspect, uuid, datetime, gettext behind them), and ``current``, ``list --json`` and
``run checkpoint`` are what a status line or an agent runner calls over and over. So
``main`` offers the command line here first, and exactly these forms run here:

    [-C PATH] current [--json]
    [-C PATH] list --json
    [-C PATH] run checkpoint RUN [--label TEXT] [--prompt TEXT] [--output TEXT] [--json]

(the options after RUN in any order, each once, written apart from their values; no
value that starts with "-"; stdout and stderr in UTF-8 on a POSIX system; no shell
completion asked for). They call the very functions the click commands call
(``plain.py``), print as ``click.echo`` prints, and end through the same error lines
and exit codes (``exits.py``). Any other command line, help and every mistake
included, goes to the click group, which stays the commands' one definition;
tests/test_fast_path.py runs both on each form and compares what they print.
"""

from __future__ import annotations

import os
import sys

from speckit_git_policy.cli import plain
from speckit_git_policy.cli.exits import exit_code, skipped_lines

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TextIO

    from speckit_git_policy.git.repo import GitRepo
    from speckit_git_policy.store import Stores

    Body = Callable[..., list[str]]

# checkpoint's options that take a value -> its parameter
_VALUE_OPTIONS = {"--label": "label", "--prompt": "prompt", "--output": "output_text"}


def run(args: list[str]) -> int | None:
    """Run ``args`` when it is one of the forms above and return the exit code; None
    for any other command line (click's to run)."""
    parsed = _parse(args)
    if parsed is None or not _plain_streams():
        return None
    directory, body, options = parsed
    opened: list[GitRepo] = []

    def say_skipped() -> None:
        _echo_all(skipped_lines(opened[0] if opened else None), sys.stderr)

    try:
        _echo_all(body(lambda: _stores(directory, opened), **options), sys.stdout)
        say_skipped()
    except BaseException as e:
        code = exit_code(e, say_skipped, lambda line: _echo(line, sys.stderr))
        if code is None:
            raise
        return code
    return 0


def _parse(args: list[str]) -> tuple[str | None, Body, dict[str, Any]] | None:
    directory = None
    if args[:1] == ["-C"]:
        if len(args) < 2 or args[1].startswith("-"):
            return None
        directory, args = args[1], args[2:]
    if args in (["current"], ["current", "--json"]):
        return directory, _current, {"as_json": len(args) == 2}
    if args == ["list", "--json"]:
        return directory, _list_json, {}
    if len(args) < 3 or args[:2] != ["run", "checkpoint"] or args[2].startswith("-"):
        return None
    options: dict[str, Any] = {"run_id": args[2], "as_json": False}
    rest, seen = args[3:], set()
    while rest:
        option = rest.pop(0)
        if option in seen:
            return None
        seen.add(option)
        if option == "--json":
            options["as_json"] = True
        elif option in _VALUE_OPTIONS and rest and not rest[0].startswith("-"):
            options[_VALUE_OPTIONS[option]] = rest.pop(0)
        else:
            return None
    return directory, _checkpoint, options


def _current(stores: Callable[[], tuple[GitRepo, Stores]], as_json: bool) -> list[str]:
    return plain.current(*stores(), as_json)


def _list_json(stores: Callable[[], tuple[GitRepo, Stores]]) -> list[str]:
    return plain.list_json(stores()[1])


def _checkpoint(
    stores: Callable[[], tuple[GitRepo, Stores]],
    run_id: str,
    as_json: bool,
    label: str | None = None,
    prompt: str | None = None,
    output_text: str | None = None,
) -> list[str]:
    repo, opened = stores()
    return plain.checkpoint(
        repo, opened, run_id, label, plain.payload_of(prompt, output_text), as_json
    )


def _stores(directory: str | None, opened: list[GitRepo]) -> tuple[GitRepo, Stores]:
    """``cli.common.stores_from``, without a click context."""
    from speckit_git_policy.git.repo import GitRepo
    from speckit_git_policy.store import Stores

    repo = GitRepo.discover(directory)
    repo.keep_config = True  # as repo_from: a command asks git for its settings once
    opened.append(repo)
    return repo, Stores(repo)


def _plain_streams() -> bool:
    """Whether ``click.echo`` would write to stdout and stderr as they are (it wraps a
    stream it finds misconfigured, and a Windows console), and no completion is asked."""
    import codecs

    if os.name != "posix" or "_GIT_SPECKIT_POLICY_COMPLETE" in os.environ:
        return False
    for stream in (sys.stdout, sys.stderr):
        encoding = getattr(stream, "encoding", None)
        try:
            if not isinstance(encoding, str) or codecs.lookup(encoding).name != "utf-8":
                return False
        except LookupError:
            return False
    return True


def _echo_all(lines: list[str], stream: TextIO) -> None:
    for line in lines:
        _echo(line, stream)


def _echo(line: str, stream: TextIO) -> None:
    """``click.echo(line)``: the line and a newline, flushed. click strips ANSI styles
    when the stream is not a terminal; no line these commands print holds one unless
    the repository does (JSON escapes it), and then click's own code strips it."""
    out = line + "\n"
    if "\x1b" in out:
        from click._compat import should_strip_ansi, strip_ansi

        if should_strip_ansi(stream):
            out = strip_ansi(out)
    stream.write(out)
    stream.flush()
