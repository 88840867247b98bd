"""Generate docs/REFERENCE.md from the CLI itself, so the reference cannot drift.

    python -m speckit_git_policy.cli.reference > docs/REFERENCE.md

``tests/test_reference_docs.py`` fails when the committed file differs.
"""

from __future__ import annotations

import click

from speckit_git_policy.cli import cli

HEADER = """\
# Command reference

Generated from the CLI by `python -m speckit_git_policy.cli.reference`; do not edit
by hand (a test fails when this file and the CLI disagree). Every command accepts
`-C <path>` before the command name, like git.
"""


def _usage(ctx: click.Context, command: click.Command) -> str:
    pieces = command.collect_usage_pieces(ctx)
    return " ".join([ctx.command_path, *pieces])


def _options(ctx: click.Context, command: click.Command) -> list[str]:
    lines = []
    for param in command.get_params(ctx):
        # Options only (arguments are in the usage line), and not --help: click
        # versions differ on both, and the reference must not.
        if not isinstance(param, click.Option) or "--help" in param.opts:
            continue
        record = param.get_help_record(ctx)
        if record is None:
            continue
        names, help_text = record
        escaped = help_text.replace("|", "\\|")
        lines.append(f"| `{names}` | {escaped} |")
    return lines


def _document(command: click.Command, parent: click.Context | None, out: list[str]) -> None:
    name = "git speckit-policy" if parent is None else (command.name or "")
    ctx = click.Context(command, info_name=name, parent=parent)
    if parent is not None and not command.hidden:
        out.append(f"## `{ctx.command_path}`\n")
        out.append("```\n" + _usage(ctx, command) + "\n```\n")
        if command.help:
            out.append(click.unstyle(command.help).strip() + "\n")
        options = _options(ctx, command)
        if options:
            out.append("| option | meaning |\n|---|---|")
            out.extend(options)
            out.append("")
    if isinstance(command, click.Group):
        for sub_name in sorted(command.list_commands(ctx)):
            sub = command.get_command(ctx, sub_name)
            if sub is not None:
                _document(sub, ctx, out)


def render() -> str:
    out = [HEADER]
    _document(cli, None, out)
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":
    click.echo(render(), nl=False)
