"""``git speckit-policy``: a thin click layer over the library.

Errors are turned into one line on stderr and an exit code here, in one place
(docs/DESIGN.md §9: 1 = a check failed or a decision was denied, 2 = bad usage or input,
3 = the tool's own failure: a bug, or the system refused a write).
"""

from __future__ import annotations

import sys
from typing import Any

import click

from speckit_git_policy import __version__
from speckit_git_policy.errors import SpeckitError
from speckit_git_policy.text import printable


class SpeckitGroup(click.Group):
    """Maps library errors to exit codes; never shows a traceback."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        import os

        completing = "_GIT_SPECKIT_POLICY_COMPLETE" in os.environ
        # Completion scripts are registered for the console script's own name; help
        # text shows the git subcommand form users type.
        kwargs.setdefault("prog_name", "git-speckit-policy" if completing else "git speckit-policy")
        kwargs.setdefault("complete_var", "_GIT_SPECKIT_POLICY_COMPLETE")
        return super().main(*args, **kwargs)

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


# Each module of this package lists its click commands in COMMANDS.
COMMAND_MODULES = [
    "policy_commands",
    "demo_commands",
    "capsule_commands",
    "enforce_commands",
    "run_commands",
    "hook_commands",
    "evidence_commands",
    "speckit_commands",
    "help_commands",
]


def _register() -> None:
    import importlib

    for name in COMMAND_MODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        for command in module.COMMANDS:
            cli.add_command(command)


_register()


def main() -> None:
    cli.main(args=sys.argv[1:])
