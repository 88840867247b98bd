"""Spec Kit commands (docs/DESIGN.md §7): speckit install|uninstall, and speckit stage, which
the installed hooks, runtime event and workflow run."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from speckit_git_policy.cli.common import emit_json, json_option, repo_from

if TYPE_CHECKING:
    from speckit_git_policy.git.repo import GitRepo


def _root(ctx: click.Context) -> tuple[GitRepo, Path]:
    """The repository and the Spec Kit project (``-C`` or the current directory)."""
    from speckit_git_policy.integrations.speckit.recorder import project_root

    repo = repo_from(ctx)
    directory = ctx.find_root().obj.get("directory")
    return repo, project_root(Path(directory) if directory else Path.cwd())


@click.group()
def speckit() -> None:
    """GitHub Spec Kit: bind each feature's run to the policy."""


@speckit.command()
@click.option(
    "--integration",
    metavar="NAME",
    default=None,
    help="The agent integration the workflow runs (default: the project's own).",
)
@json_option
@click.pass_context
def install(ctx: click.Context, integration: str | None, as_json: bool) -> None:
    """Install the policy extension, the /speckit.policy preset and the speckit-policy workflow."""
    from speckit_git_policy.integrations.speckit.installer import install as install_bundle

    _repo, root = _root(ctx)
    result = install_bundle(root, integration)
    if as_json:
        emit_json(result)
        return
    for part in result["changed"]:
        click.echo(f"installed {part}")
    for part in result["unchanged"]:
        click.echo(f"{part} already up to date")
    click.echo(
        f"Spec Kit project {result['root']} ({', '.join(result['integrations']) or 'no integration'}): "
        'run the policy-bound cycle with: specify workflow run speckit-policy --input spec="..."'
    )


@speckit.command()
@click.pass_context
def uninstall(ctx: click.Context) -> None:
    """Remove the policy extension, preset and workflow (runs already recorded stay)."""
    from speckit_git_policy.integrations.speckit.installer import uninstall as remove_bundle

    _repo, root = _root(ctx)
    removed = remove_bundle(root)
    click.echo(f"removed {', '.join(removed)}" if removed else "nothing to remove")


@speckit.command(name="stage")
@click.argument("stage_name", metavar="specify|plan|tasks|implement|done|session_start")
@click.option(
    "--via",
    type=click.Choice(["workflow", "hook", "event", "cli"]),
    default="hook",
    show_default=True,
    help="Who records the stage (kept in the event).",
)
@click.option("--role", default=None, help="The role to route the stage to (default: by stage).")
@json_option
@click.pass_context
def stage_command(
    ctx: click.Context, stage_name: str, via: str, role: str | None, as_json: bool
) -> None:
    """Record a Spec Kit stage in the current feature's run (idempotent); exit 1 when the
    policy refuses the stage's budget."""
    import sys

    from speckit_git_policy.integrations.speckit.recorder import SESSION, record

    repo, root = _root(ctx)
    payload = None
    if stage_name == SESSION and not sys.stdin.isatty():
        payload = sys.stdin.read(1024 * 1024)  # the agent's event payload (its session id)
    report = record(repo, root, stage_name, via=via, role=role, payload=payload)
    if as_json:
        emit_json(report)
    else:
        click.echo(report["message"])
    if not report["ok"]:
        ctx.exit(1)


COMMANDS = [speckit]
