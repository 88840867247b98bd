"""``help [COMMAND]`` and the manual, as git does it.

``git speckit-policy --help`` and ``git help speckit-policy`` never reach this program:
git runs ``man git-speckit-policy`` itself, which finds the page the package installs
in ``<prefix>/share/man/man1`` through the PATH. ``git-speckit-policy --help`` and
``help`` without a command open the same page on a terminal, and print click's summary
when there is no terminal, no ``man`` or no page; ``help COMMAND`` prints the
command's help, like ``COMMAND --help``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys

import click

from speckit_git_policy.errors import BadInput


def manual_path() -> str | None:
    """The packaged man page (the same file ``data-files`` installs for ``man``)."""
    from importlib.resources import files

    from speckit_git_policy.cli.reference import MAN_PAGE

    page = files("speckit_git_policy").joinpath(MAN_PAGE)
    return str(page) if page.is_file() else None


def show_manual() -> bool:
    """Open the manual with ``man`` when stdout is a terminal; False when it could not
    (no terminal, no ``man``, no page, or ``man`` failed), so the caller prints help."""
    if not sys.stdout.isatty():
        return False
    man, page = shutil.which("man"), manual_path()
    if man is None or page is None:
        return False
    try:
        # A path (it holds a "/"): man reads that file, whatever MANPATH says.
        return subprocess.run([man, page], check=False).returncode == 0
    except OSError:
        return False


def manual_or_help(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    """The top-level ``--help``: the manual on a terminal, else click's help."""
    if not value or ctx.resilient_parsing:
        return
    if not show_manual():
        click.echo(ctx.get_help())
    ctx.exit()


@click.command("help")
@click.argument("command", nargs=-1, metavar="[COMMAND]...")
@click.pass_context
def help_command(ctx: click.Context, command: tuple[str, ...]) -> None:
    """Show the manual, or the help of COMMAND (like COMMAND --help)."""
    from speckit_git_policy.text import did_you_mean

    root = ctx.find_root()
    if not command:
        if not show_manual():
            click.echo(root.get_help())
        return
    current: click.Command = root.command
    context = root
    for name in command:
        if not isinstance(current, click.Group):
            raise BadInput(f"{context.command_path} has no subcommand {name!r}")
        found = current.get_command(context, name)
        if found is None:
            known = current.list_commands(context)
            raise BadInput(
                f"no command {' '.join([context.command_path, name])!r}{did_you_mean(name, known)}"
            )
        current = found
        context = click.Context(found, info_name=name, parent=context)
    click.echo(current.get_help(context))


COMMANDS = [help_command]
