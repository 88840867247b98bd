"""``git speckit-policy``: a thin click layer over the library.

Errors are turned into one line on stderr and an exit code here, in one place
(docs/DESIGN.md §9: 1 = a check failed or a decision was denied, 2 = bad usage or input,
3 = the tool's own failure: a bug, or the system refused a write).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, MutableMapping
from typing import Any

import click

from speckit_git_policy import __version__
from speckit_git_policy.errors import SpeckitError
from speckit_git_policy.text import printable


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
        except SpeckitError as e:
            _say_skipped(ctx)
            # Messages quote ids, paths and values: escaped, so the error stays one line.
            click.echo(f"error: {printable(e)}", err=True)
            ctx.exit(e.exit_code)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            _say_skipped(ctx)
            raise
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)
        except BrokenPipeError:
            ctx.exit(141)
        except OSError as e:
            # The system refused a write or a read (a read-only file system, a full disk, no
            # permission): the tool could not do its job, so exit 3, with the path and the fix.
            from speckit_git_policy.text import os_error_line

            click.echo(f"error: {os_error_line(e)}", err=True)
            _debug_traceback()
            ctx.exit(3)
        except Exception as e:  # noqa: BLE001 -- the tool's own bug: one line, never a traceback
            click.echo(
                f"error: internal error: {type(e).__name__}: {printable(e)} "
                "(set SPECKIT_DEBUG=1 for details)",
                err=True,
            )
            _debug_traceback()
            ctx.exit(3)  # the tool's own failure, not a failed check (docs/DESIGN.md §9)


def _debug_traceback() -> None:
    import os

    if os.environ.get("SPECKIT_DEBUG"):
        import traceback

        traceback.print_exc()


def _manual_or_help(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if not value:
        return  # click calls it for every command: import the manual's code only for --help
    from speckit_git_policy.cli.help_commands import manual_or_help

    manual_or_help(ctx, param, value)


def _say_skipped(ctx: click.Context) -> None:
    """What the capsule's readers skipped (it does not parse), one warning line each."""
    repo = (ctx.obj or {}).get("repo") if isinstance(ctx.obj, dict) else None
    notes = getattr(repo, "memo", {}).get("capsule_notes")
    for message in notes or []:
        text = "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in message)
        click.echo(f"warning: {text}", err=True)
    if notes:
        notes.clear()


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


# Every command: name -> (module of this package, attribute, first paragraph of its
# help). The group imports a command's module only when that command runs (or its
# help is asked for), so a command pays for its own imports alone; -h lists the
# commands from this table. tests/test_perf_readers.py keeps it equal to the commands.
COMMAND_TABLE: dict[str, tuple[str, str, str]] = {
    "validate": (
        "policy_commands",
        "validate",
        "Doc and policy lint of the sources: both exist, the policy follows the rules.",
    ),
    "capture": (
        "policy_commands",
        "capture",
        "Snapshot the policy now (from the work tree, or from --commit).",
    ),
    "list": ("policy_commands", "list_command", "Snapshots, newest first."),
    "show": ("policy_commands", "show", "One snapshot."),
    "current": (
        "policy_commands",
        "current",
        "The snapshot of the policy committed at HEAD, and drift.",
    ),
    "diff": ("policy_commands", "diff", "Key-level diff of two snapshots."),
    "schema": (
        "policy_commands",
        "schema",
        "JSON Schema (draft 2020-12) of model_policy.toml, for editors.",
    ),
    "demo": (
        "demo_commands",
        "demo",
        "Walk through init, commit, change, run, stage boundary, log, trace, blame, and a teammate's clone joining.",
    ),
    "verify": (
        "capsule_commands",
        "verify",
        "Hashes, parity of both copies, event lint, missed captures; each snapshot proven against its commits, the capsule's structure, seals, and what remotes had refused.",
    ),
    "prune": (
        "capsule_commands",
        "prune",
        "Remove filesystem snapshots by count or age (never one a run refers to).",
    ),
    "resolve": (
        "capsule_commands",
        "resolve",
        "Map a mv2:// URI to the capsule ref that holds it and the object id.",
    ),
    "push": (
        "capsule_commands",
        "push",
        "Push the capsule (refs/speckit/*) to a remote, a URL or a bundle file; a ref the remote rejects as a non-fast-forward is pulled, merged and pushed again.",
    ),
    "pull": (
        "capsule_commands",
        "pull",
        "Fetch a remote's capsule (a remote, a URL, a path or a bundle file) and merge it into this one: a union where local entries win; what is refused is listed.",
    ),
    "route": (
        "enforce_commands",
        "route",
        "Ordered candidate models for ROLE, and the reflex route when its gate passed.",
    ),
    "budget": ("enforce_commands", "budget", "Token and cost budgets."),
    "gate": ("enforce_commands", "gate", "Evaluate a promotion gate against measured samples."),
    "run": ("run_commands", "run", "Agent runs: events bound to the policy in force."),
    "trace": ("run_commands", "trace", "Run -> snapshots -> commits (author, date, subject)."),
    "blame": (
        "run_commands",
        "blame",
        "Each policy key in force for the run: value, commit, author, date, line.",
    ),
    "init": (
        "hook_commands",
        "init",
        "Write example policy sources when missing, then install the hooks.",
    ),
    "install": (
        "hook_commands",
        "install",
        "Install the git hooks (keeps and chains hooks already there) and set up the capsule: each remote's tracking refspec, one fetch, the merge, .speckit/policies/ restored; in a repository whose HEAD already carries a valid policy, capture it (adoption).",
    ),
    "uninstall": (
        "hook_commands",
        "uninstall",
        "Remove the git hooks and restore the ones they replaced.",
    ),
    "doctor": (
        "hook_commands",
        "doctor",
        "Prove the set-up works: hooks, interpreter, tool, capsule refspecs, missed captures, settings (and where each comes from).",
    ),
    "log": (
        "hook_commands",
        "log",
        "History of the policy in REV's history (default HEAD), newest first in git's order: one entry per commit that changed it and carries a snapshot.",
    ),
    "backfill": (
        "hook_commands",
        "backfill",
        "Capture every commit of HEAD's history that changed the policy, oldest first.",
    ),
    "report": (
        "evidence_commands",
        "report",
        "The audit report: policy timeline, runs, decisions, usage and verify's state.",
    ),
    "attest": (
        "evidence_commands",
        "attest",
        "Sign an in-toto statement of RUN (its log and snapshots), or check one with --verify.",
    ),
    "speckit": (
        "speckit_commands",
        "speckit",
        "GitHub Spec Kit: bind each feature's run to the policy.",
    ),
    "help": (
        "help_commands",
        "help_command",
        "Show the manual, or the help of COMMAND (like COMMAND --help).",
    ),
}


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
            command = getattr(importlib.import_module(f"{__name__}.{module}"), attribute)
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


def main() -> None:
    cli.main(args=sys.argv[1:])
