"""Helpers shared by the command modules: the repo from ``-C``, JSON and table output.

Every command imports this module, so it imports only click: the repository, the
stores and the JSON writer are loaded by the commands that use them (docs/DESIGN.md §10).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from speckit_git_policy.errors import SpeckitError

if TYPE_CHECKING:
    from speckit_git_policy.git.repo import GitRepo
    from speckit_git_policy.store import Stores

json_option = click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
format_option = click.option(
    "--format",
    "output_format",
    type=click.Choice(["auto", "plain", "github", "sarif"]),
    default="auto",
    show_default=True,
    help="Problem format: plain file:line, GitHub Actions annotations, or SARIF 2.1.0 on "
    "stdout (auto: github when GITHUB_ACTIONS=true).",
)


def step_summary(markdown: str) -> None:
    """Append to $GITHUB_STEP_SUMMARY under GitHub Actions; a failure to do so warns and
    never changes the command's verdict."""
    from speckit_git_policy.evidence.summary import append_step_summary

    try:
        append_step_summary(markdown)
    except SpeckitError as e:
        click.echo(f"warning: {e}", err=True)


def repo_from(ctx: click.Context) -> GitRepo:
    """The repository of ``-C`` (or the current directory), discovered once per command."""
    from speckit_git_policy.git.repo import GitRepo

    obj = ctx.find_root().obj
    repo = obj.get("repo")
    if not isinstance(repo, GitRepo):
        repo = obj["repo"] = GitRepo.discover(obj.get("directory"))
        # A command is a short-lived process: its speckit.* settings are asked of git
        # once, not once per reader (no command writes them).
        repo.keep_config = True
    return repo


def stores_from(ctx: click.Context) -> tuple[GitRepo, Stores]:
    from speckit_git_policy.store import Stores

    repo = repo_from(ctx)
    return repo, Stores(repo)


def emit_json(document: Any) -> None:
    from speckit_git_policy.cli.plain import json_document

    click.echo(json_document(document))


def emit_table(rows: list[list[str]]) -> None:
    """Left-aligned columns, like git's own listings (paged on a terminal)."""
    if not rows:
        return
    widths = [max(len(click.unstyle(row[i])) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = []
    for row in rows:
        cells = [
            cell + " " * (width - len(click.unstyle(cell))) for cell, width in zip(row, widths)
        ]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    emit_paged(lines)


# ---- terminal manners: colour, pager and progress only on a terminal ----------------


def use_colour() -> bool:
    import os
    import sys

    return sys.stdout.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


def paint(text: str, **style: object) -> str:
    """``click.style`` on a terminal without NO_COLOR; the plain text otherwise."""
    return click.style(text, **style) if use_colour() else text  # type: ignore[arg-type]


def _pager_command() -> str | None:
    """The pager git would use here: $GIT_PAGER, ``core.pager`` of the command's
    repository (``-C`` honoured), $PAGER, less; None for none or one not installed."""
    import os
    import shutil

    pager = os.environ.get("GIT_PAGER")
    if pager is None:
        ctx = click.get_current_context(silent=True)
        configured = None
        if ctx is not None and ctx.find_root().obj is not None:
            try:
                configured = repo_from(ctx).config_get("core.pager")
            except SpeckitError:
                configured = None  # no repository here: as git outside one, no repository setting
        pager = configured or os.environ.get("PAGER") or "less"
    if pager in ("", "cat"):
        return None
    return pager if shutil.which(pager.split()[0]) else None


def emit_paged(lines: list[str]) -> None:
    """Print lines; through a pager (as git does) when stdout is a terminal and they overflow it."""
    import os
    import shutil
    import subprocess
    import sys

    text = "\n".join(lines) + ("\n" if lines else "")
    height = shutil.get_terminal_size((80, 24)).lines
    pager = _pager_command() if sys.stdout.isatty() and len(lines) >= height else None
    if pager is None:
        click.echo(text, nl=False)
        return
    env = dict(os.environ)
    env.setdefault("LESS", "FRX")  # git's defaults: quit if one screen, raw colour, no init
    env.setdefault("LV", "-c")
    try:
        subprocess.run(pager, shell=True, input=text.encode(), env=env, check=False)
    except OSError:
        click.echo(text, nl=False)


class Progress:
    """A progress line on stderr when it is a terminal; nothing when piped."""

    def __init__(self, label: str) -> None:
        import sys

        self.label = label
        self.enabled = sys.stderr.isatty()

    def __call__(self, done: int, total: int) -> None:
        if self.enabled and total:
            # A line a percent (and the last): 100,000 runs need not make 100,000 writes.
            if done < total and done * 100 // total == (done - 1) * 100 // total and done > 1:
                return
            click.echo(
                f"\r{self.label}: {done}/{total} ({100 * done // total}%)", err=True, nl=False
            )
            if done >= total:
                click.echo("", err=True)

    def phase(self, label: str) -> None:
        """What the next calls count (``verify``: snapshots, then proofs, runs, refs)."""
        self.label = label
