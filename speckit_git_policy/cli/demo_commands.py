"""``demo``: the whole story in a throwaway repository."""

from __future__ import annotations

import shlex
import shutil
import time
from pathlib import Path

import click


@click.command()
@click.option(
    "--dir",
    "parent",
    type=click.Path(file_okay=False, path_type=Path),
    help="Create the throwaway repository under this directory.",
)
@click.option("--cleanup", is_flag=True, help="Remove the repository afterwards.")
@click.pass_context
def demo(ctx: click.Context, parent: Path | None, cleanup: bool) -> None:
    """Walk through init, commit, change, run, stage boundary, log, trace, blame, and a
    teammate's clone joining."""
    from speckit_git_policy.demo import NEXT_STEPS, make_repo, run_demo

    started = time.monotonic()
    root = make_repo(parent)
    click.secho(f"# throwaway repository: {root}", bold=True)
    failed = False
    for number, result in enumerate(run_demo(root), start=1):
        click.secho(f"\n## {number}. {result.step.title}", bold=True)
        author = f"  (as {result.step.author})" if result.step.author else ""
        click.secho(f"$ {shlex.join(result.step.argv)}{author}", fg="cyan")
        if result.output.strip():
            click.echo(result.output.rstrip())
        if result.returncode != 0:
            click.secho(f"step failed with exit {result.returncode}", fg="red", err=True)
            failed = True
    click.echo(f"\ndone in {time.monotonic() - started:.1f}s")
    if cleanup:
        shutil.rmtree(root.parent, ignore_errors=True)  # the repository and the teammate's clone
    else:
        click.echo(NEXT_STEPS.format(root=root))
    if failed:
        ctx.exit(1)


COMMANDS = [demo]
