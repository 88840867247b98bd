"""The click group of ``git speckit-policy``: its options, the commands loaded from
``COMMAND_TABLE`` as they are used, and every error turned into one line on stderr and
an exit code (``cli/exits.py``, docs/DESIGN.md §9).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, MutableMapping
from typing import Any

import click

from speckit_git_policy import __version__
from speckit_git_policy.cli import COMMAND_TABLE
from speckit_git_policy.cli.exits import exit_code, skipped_lines


def _terminal_columns() -> int:
    """``shutil.get_terminal_size().columns``, without importing shutil (which imports
    bz2 and lzma): $COLUMNS, else the terminal's width, else 80."""
    import os

    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns > 0:
        return columns
    try:
        columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
    except (AttributeError, ValueError, OSError):
        columns = 0
    return columns or 80


class SpeckitContext(click.Context):
    def make_formatter(self) -> click.HelpFormatter:
        """click's formatter at the width click gives it (its own code when a width is forced)."""
        width = self.terminal_width
        if width is None and click.formatting.FORCED_WIDTH is None:
            limit = self.max_content_width if self.max_content_width is not None else 80
            width = max(min(_terminal_columns(), limit) - 2, 50)
        return self.formatter_class(width=width, max_width=self.max_content_width)


class SpeckitGroup(click.Group):
    """Maps library errors to exit codes; never shows a traceback."""

    context_class = SpeckitContext

    def main(self, *args: Any, **kwargs: Any) -> Any:
        import os

        completing = "_GIT_SPECKIT_POLICY_COMPLETE" in os.environ
        # Completion scripts are registered for the console script's own name; help
        # text shows the git subcommand form users type.
        kwargs.setdefault("prog_name", "git-speckit-policy" if completing else "git speckit-policy")
        kwargs.setdefault("complete_var", "_GIT_SPECKIT_POLICY_COMPLETE")
        return super().main(*args, **kwargs)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """click's command list, from the static table for commands not loaded yet
        (listing them must not import every command module)."""
        commands = self.commands
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            if isinstance(commands, LazyCommands) and name not in commands.loaded:
                # click's own shortening, of the table's text, on a stand-in command.
                summary = click.Command(name, help=commands.table[name][2])
                rows.append((name, summary.get_short_help_str(limit)))
                continue
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            result = super().invoke(ctx)
            _say_skipped(ctx)
            return result
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            _say_skipped(ctx)
            raise
        except BaseException as e:
            code = exit_code(e, lambda: _say_skipped(ctx), lambda line: click.echo(line, err=True))
            if code is None:
                raise
            ctx.exit(code)


def _manual_or_help(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if not value:
        return  # click calls it for every command: import the manual's code only for --help
    from speckit_git_policy.cli.help_commands import manual_or_help

    manual_or_help(ctx, param, value)


def _say_skipped(ctx: click.Context) -> None:
    """What the capsule's readers skipped, one warning line each (``exits.skipped_lines``)."""
    repo = (ctx.obj or {}).get("repo") if isinstance(ctx.obj, dict) else None
    for line in skipped_lines(repo):
        click.echo(line, err=True)


@click.group(cls=SpeckitGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-C", "directory", metavar="PATH", default=None, help="Run as if started in PATH (like git -C)."
)
@click.version_option(__version__, prog_name="git-speckit-policy")
# --help shows the manual, as git's does (on a terminal, when man is there); -h, click's
# summary (git's -h is the short usage). Subcommands keep both for their own help.
@click.option(
    "--help",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_manual_or_help,
    help="Show the manual (man git-speckit-policy); -h shows this summary.",
)
@click.pass_context
def cli(ctx: click.Context, directory: str | None) -> None:
    """Model policy snapshots, auditable with git alone."""
    ctx.obj = {"directory": directory}


class LazyCommands(MutableMapping[str, click.Command]):
    """The group's ``commands``: names from ``COMMAND_TABLE``, each command imported
    on first use; commands added at run time (``add_command``) sit beside them."""

    def __init__(self, table: dict[str, tuple[str, str, str]]) -> None:
        self.table = table
        self.loaded: dict[str, click.Command] = {}

    def __getitem__(self, name: str) -> click.Command:
        command = self.loaded.get(name)
        if command is None:
            if name not in self.table:
                raise KeyError(name)
            import importlib

            module, attribute, _summary = self.table[name]
            command = getattr(
                importlib.import_module(f"speckit_git_policy.cli.{module}"), attribute
            )
            self.loaded[name] = command
        return command

    def __setitem__(self, name: str, command: click.Command) -> None:
        self.loaded[name] = command

    def __delitem__(self, name: str) -> None:
        del self.loaded[name]

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(set(self.table) | set(self.loaded)))

    def __len__(self) -> int:
        return len(set(self.table) | set(self.loaded))


cli.commands = LazyCommands(COMMAND_TABLE)
