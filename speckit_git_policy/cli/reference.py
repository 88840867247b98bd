"""Generate docs/REFERENCE.md and the man page from the CLI itself, so neither can drift.

    python -m speckit_git_policy.cli.reference > docs/REFERENCE.md
    python -m speckit_git_policy.cli.reference --man > speckit_git_policy/man/git-speckit-policy.1

``tests/test_reference_docs.py`` and ``tests/test_manual.py`` fail when a committed
file differs. The man page is package data and, through ``data-files``, installed as
``<prefix>/share/man/man1/git-speckit-policy.1``, where ``man`` finds it from the PATH
(so ``git help speckit-policy`` and ``git speckit-policy --help`` show it).
"""

from __future__ import annotations

import sys

import click

from speckit_git_policy import __version__
from speckit_git_policy.cli import cli

MAN_PAGE = "man/git-speckit-policy.1"  # inside the package

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


# ---- the man page (roff, man(7) macros) ---------------------------------------------
MAN_DESCRIPTION = """\
Keeps a team's model policy auditable with git alone. The policy lives in the
repository: model_policy.toml says what, docs/MODEL-POLICY.md says why. Git hooks
validate it before a commit and, after a commit that changed it, compile an immutable
snapshot bound to that commit, stored twice, byte for byte: in .speckit/policies/ and
in a capsule of git refs under refs/speckit/<workspace>/ that travels with the
repository. Agent runs record their stages as events bound to the snapshot in force;
log, trace and blame lead from a run to the policy, the commit, the author and the line.

In a repository that already has a policy history, init and install capture HEAD
(adoption); backfill captures the commits before it, so that log and blame cover the
whole history.

Every command accepts -C <path> before the command name, like git; those that print
data take --json (one JSON document on stdout)."""

MAN_SETTINGS = [
    (
        "speckit.workspace",
        "default",
        "The workspace in mv2://<workspace>/... and refs/speckit/<workspace>/.",
    ),
    ("speckit.policyFile", "model_policy.toml", "The machine-authoritative source."),
    ("speckit.docFile", "docs/MODEL-POLICY.md", "The human rationale."),
    (
        "speckit.capsule",
        "true",
        "false turns capsule writes off; the filesystem copy keeps working.",
    ),
    ("speckit.autoPush", "true", "A plain git push also pushes the capsule (pre-push hook)."),
    ("speckit.sign", "false", "Sign the capsule commits that push sends."),
    (
        "speckit.requireSigned",
        "false",
        "Refuse an unsigned or badly signed capsule tip from a remote.",
    ),
]

MAN_SETTINGS_TEXT = """\
A team commits its settings in .speckitconfig at the root of the repository, in git-config
syntax ([speckit] workspace = team-a); a clone's own git config overrides it at any level
(local, global, system, git -c), and a command-line flag overrides both. Only the keys
below are read from the file, each checked; nothing in it is ever run. doctor shows where
each value in force comes from."""

MAN_EXIT = [
    ("0", "Success."),
    ("1", "A check failed or a decision was denied."),
    ("2", "Bad usage or bad input (an unknown id, run, URI or remote included)."),
    ("3", "The tool's own failure."),
]


def _roff(text: str) -> str:
    """Text safe in a roff line: backslashes and hyphens escaped, no line that starts
    with a control character."""
    escaped = text.replace("\\", "\\e").replace("-", "\\-")
    return "\n".join(
        ("\\&" + line) if line.startswith((".", "'")) else line for line in escaped.splitlines()
    )


def _paragraphs(text: str) -> list[str]:
    lines = []
    for block in click.unstyle(text).strip().split("\n\n"):
        lines += [".PP", _roff(" ".join(block.split()))]
    return lines


def _man_command(command: click.Command, parent: click.Context | None, out: list[str]) -> None:
    name = "git speckit-policy" if parent is None else (command.name or "")
    ctx = click.Context(command, info_name=name, parent=parent)
    if parent is not None and not command.hidden:
        out += [f'.SS "{_roff(ctx.command_path)}"', ".nf", _roff(_usage(ctx, command)), ".fi"]
        if command.help:
            out += _paragraphs(command.help)
        for param in command.get_params(ctx):
            if not isinstance(param, click.Option) or "--help" in param.opts:
                continue
            record = param.get_help_record(ctx)
            if record is not None:
                out += [".TP", f"\\fB{_roff(record[0])}\\fR", _roff(" ".join(record[1].split()))]
    if isinstance(command, click.Group):
        for sub_name in sorted(command.list_commands(ctx)):
            sub = command.get_command(ctx, sub_name)
            if sub is not None:
                _man_command(sub, ctx, out)


def render_man() -> str:
    """The manual, git-speckit-policy(1), from the CLI."""
    out = [
        f'.TH GIT\\-SPECKIT\\-POLICY 1 "" "speckit\\-git\\-policy {_roff(__version__)}" '
        '"speckit-git-policy manual"',
        ".SH NAME",
        "git\\-speckit\\-policy \\- model policy snapshots, auditable with git alone",
        ".SH SYNOPSIS",
        ".nf",
        "\\fBgit speckit\\-policy\\fR [\\fB\\-C\\fR \\fIpath\\fR] \\fIcommand\\fR [\\fIoptions\\fR] [\\fIarguments\\fR]",
        "\\fBgit speckit\\-policy help\\fR [\\fIcommand\\fR]",
        ".fi",
        ".SH DESCRIPTION",
    ]
    for block in MAN_DESCRIPTION.split("\n\n"):
        out += [".PP", _roff(" ".join(block.split()))]
    out.append(".SH COMMANDS")
    _man_command(cli, None, out)
    out += [".SH SETTINGS", *_paragraphs(MAN_SETTINGS_TEXT)]
    for key, default, meaning in MAN_SETTINGS:
        out += [".TP", f"\\fB{_roff(key)}\\fR (default: {_roff(default)})", _roff(meaning)]
    out.append(".SH EXIT STATUS")
    for code, meaning in MAN_EXIT:
        out += [".TP", f"\\fB{code}\\fR", _roff(meaning)]
    out += [
        ".SH FILES",
        ".TP",
        "\\fI.speckitconfig\\fR",
        "The team's committed settings (see SETTINGS).",
        ".TP",
        "\\fI.speckit/policies/snapshot\\-<policy_id>.json\\fR",
        "The filesystem copy of each snapshot (kept out of commits).",
        ".TP",
        "\\fIrefs/speckit/<workspace>/\\fR",
        "The capsule: snapshots, bindings and run logs, as git objects.",
        ".SH SEE ALSO",
        "\\fBgit\\fR(1), \\fBgithooks\\fR(5), \\fBgit\\-config\\fR(1); docs/GUIDE.md and "
        "docs/REFERENCE.md in the project.",
    ]
    return "\n".join(out) + "\n"


def main(argv: list[str]) -> None:
    click.echo(render_man() if "--man" in argv else render(), nl=False)


if __name__ == "__main__":
    main(sys.argv[1:])
