"""Set-up and history commands: init, install, uninstall, doctor, log, backfill."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from speckit_git_policy.cli.common import (
    Progress,
    emit_json,
    emit_table,
    json_option,
    paint,
    repo_from,
    stores_from,
)
from speckit_git_policy.cli.plain import short
from speckit_git_policy.errors import SpeckitError
from speckit_git_policy.git.repo import GitRepo
from speckit_git_policy.text import printable

if TYPE_CHECKING:
    from speckit_git_policy.adoption import Adoption
    from speckit_git_policy.queries.history import LogEntry


def _report_changes(changes: list, as_json: bool) -> None:  # type: ignore[type-arg]
    if as_json:
        emit_json([change.as_json() for change in changes])
        return
    for change in changes:
        line = f"{change.action:<9} {printable(change.path)}"
        if change.legacy and change.action in ("installed", "updated", "unchanged"):
            kept = printable(change.legacy.rsplit("/", 1)[-1])
            line += f"  (chains the previous hook, kept as {kept})"
        click.echo(line)


shared_hooks_path_option = click.option(
    "--shared-hooks-path",
    "shared_hooks_path_ok",
    is_flag=True,
    help="Install even where a global or system core.hooksPath points "
    "(every repository using it then runs the hooks).",
)


@click.command()
@shared_hooks_path_option
@json_option
@click.pass_context
def install(ctx: click.Context, shared_hooks_path_ok: bool, as_json: bool) -> None:
    """Install the git hooks (keeps and chains hooks already there) and set up the capsule:
    each remote's tracking refspec, one fetch, the merge, .speckit/policies/ restored; in a
    repository whose HEAD already carries a valid policy, capture it (adoption)."""
    from speckit_git_policy.hooks.install import install as run_install
    from speckit_git_policy.hooks.install import set_up_capsule

    repo = repo_from(ctx)
    synced = set_up_capsule(repo)
    _report_changes(run_install(repo, shared_hooks_path_ok=shared_hooks_path_ok), as_json)
    _report_capsule(synced, err=as_json)
    _report_adoption(_adopt(repo), as_json)


def _report_capsule(synced: dict[str, object], err: bool = False) -> None:
    """What install did for the capsule (on stderr next to --json output)."""
    remotes = synced.get("remotes") or []
    assert isinstance(remotes, list)
    for item in remotes:
        line = f"{'capsule':<9} {item['remote']}: fetch refspec {item['action']}"
        if item.get("fetched") == "no":
            line += f"; not fetched now ({item.get('error')}): the next git fetch brings it"
        click.echo(line, err=err)
    restored = synced.get("restored") or []
    assert isinstance(restored, list)
    if restored:
        click.echo(f"{'restored':<9} {len(restored)} snapshot(s) into .speckit/policies/", err=err)
    refused = synced.get("refused") or []
    assert isinstance(refused, list)
    for item in refused:
        where = f"{item['ref']}:{item['path']}" if item["path"] else item["ref"]
        click.echo(
            f"warning: refused from the remote's capsule: {where}: {item['reason']}", err=True
        )


@click.command()
@json_option
@click.pass_context
def uninstall(ctx: click.Context, as_json: bool) -> None:
    """Remove the git hooks and restore the ones they replaced."""
    from speckit_git_policy.hooks.install import uninstall as run_uninstall

    _report_changes(run_uninstall(repo_from(ctx)), as_json)


@click.command()
@shared_hooks_path_option
@json_option
@click.pass_context
def init(ctx: click.Context, shared_hooks_path_ok: bool, as_json: bool) -> None:
    """Write example policy sources when missing, then install the hooks."""
    from speckit_git_policy.hooks.install import init as run_init
    from speckit_git_policy.hooks.install import set_up_capsule

    repo = repo_from(ctx)
    synced = set_up_capsule(repo)  # first: a clone's sources and snapshots come from its remote
    written, changes = run_init(repo, shared_hooks_path_ok=shared_hooks_path_ok)
    adoption = _adopt(repo)
    if as_json:
        emit_json(
            {
                "written": written,
                "hooks": [change.as_json() for change in changes],
                "adoption": adoption.as_json(),
                "capsule": synced,
            }
        )
        return
    for path in written:
        click.echo(f"wrote     {path}")
    _report_changes(changes, False)
    _report_adoption(adoption, False)
    _report_capsule(synced)


def _adopt(repo: GitRepo) -> Adoption:
    """After the hooks: capture HEAD when the repository has a policy history and no
    snapshot yet (docs/GUIDE.md, "Adopting the tool in a repository with history")."""
    from speckit_git_policy.adoption import adopt

    return adopt(repo)


def _report_adoption(adoption: Adoption, as_json: bool) -> None:
    if as_json:
        return  # `install --json` lists the hooks; `init --json` carries the adoption
    if adoption.status == "adopted":
        click.echo(f"adopted   {printable(adoption.message)}")
    elif adoption.status == "invalid":
        click.echo(f"warning: not adopted: {printable(adoption.message)}", err=True)


@click.command()
@json_option
@click.pass_context
def doctor(ctx: click.Context, as_json: bool) -> None:
    """Prove the set-up works: hooks, interpreter, tool, capsule refspecs, missed captures,
    settings (and where each comes from)."""
    from speckit_git_policy.hooks.doctor import doctor as run_doctor
    from speckit_git_policy.hooks.doctor import settings

    repo = repo_from(ctx)
    checks = run_doctor(repo)
    ok = all(check.ok for check in checks)
    try:
        found = settings(repo)
    except SpeckitError:
        found = []  # the settings check says why
    if as_json:
        emit_json(
            {
                "ok": ok,
                "checks": [check.as_json() for check in checks],
                "settings": [setting.as_json() for setting in found],
            }
        )
    else:
        for check in checks:
            click.echo(f"{'ok  ' if check.ok else 'FAIL'}  {check.name}: {printable(check.detail)}")
        if found:
            click.echo("\nsettings (where each value comes from):")
            shown = [(s.key, printable(s.value), printable(s.origin)) for s in found]
            width = max(len(key) for key, _, _ in shown)
            value_width = max(len(value) for _, value, _ in shown)
            for key, value, origin in shown:
                click.echo(f"  {key:<{width}}  {value:<{value_width}}  {origin}")
    if not ok:
        ctx.exit(1)


@click.command()
@click.option(
    "--since",
    metavar="REV",
    help="Only the commits from REV on (REV included), not the whole history.",
)
@json_option
@click.pass_context
def backfill(ctx: click.Context, since: str | None, as_json: bool) -> None:
    """Capture every commit of HEAD's history that changed the policy, oldest first.

    For a repository that had a policy before the tool was adopted: afterwards `log`
    and `blame` cover the whole history. Identical content is captured once; a commit
    already bound is left alone, so running it again does nothing.
    """
    from speckit_git_policy.adoption import backfill as run_backfill

    repo, stores = stores_from(ctx)
    result = run_backfill(repo, since=since, stores=stores, progress=Progress("capturing"))
    if as_json:
        emit_json(result.as_json())
        return
    click.echo(
        f"bound {len(result.commits)} commit(s): {result.captured} new snapshot(s), "
        f"{result.reused} reused; {result.already_bound} bound already"
    )
    for item in result.skipped:
        click.echo(f"skipped {short(item['commit'])}: {printable(item['reason'])}", err=True)


@click.command()
@click.option(
    "-n",
    "--max-count",
    "limit",
    type=click.IntRange(min=0),
    default=None,
    help="Show at most N entries.",
)
@click.option(
    "--all",
    "every_binding",
    is_flag=True,
    help="Every binding of every snapshot, not only REV's history.",
)
@click.argument("rev", metavar="[REV]", required=False)
@json_option
@click.pass_context
def log(
    ctx: click.Context, limit: int | None, every_binding: bool, rev: str | None, as_json: bool
) -> None:
    """History of the policy in REV's history (default HEAD), newest first in git's
    order: one entry per commit that changed it and carries a snapshot."""
    from speckit_git_policy.errors import BadInput
    from speckit_git_policy.queries.history import entries_json, policy_log
    from speckit_git_policy.text import json_safe

    if rev is not None and every_binding:
        raise BadInput("log takes REV or --all, not both")
    repo, stores = stores_from(ctx)
    entries = policy_log(repo, stores, limit, rev, every_binding=every_binding)
    if as_json:
        click.echo(json_safe(entries_json(entries)))  # emit_json's text, written faster
        return
    oldest = entries[-1] if entries and (limit is None or len(entries) < limit) else None
    emit_table(
        [
            [
                paint(short(e["commit"]), fg="yellow"),
                printable(e["policy_id"][:8]),
                printable((e["date"] or "")[:10]),
                printable(e["author"] or ""),
                printable(f"{e['subject'] or ''}  {_changed_summary(e, e is oldest)}"),
            ]
            for e in entries
        ]
    )


def _changed_summary(entry: LogEntry, first: bool) -> str:
    """The changed keys, shortened for a terminal (``--json`` has them all)."""
    if first:
        return "(first policy)"
    changed = entry["changed"]
    if not changed:
        return "(no key changed)"
    shown = ", ".join(changed[:4])
    return f"[{shown}{f', +{len(changed) - 4} more' if len(changed) > 4 else ''}]"


COMMANDS = [init, install, uninstall, doctor, log, backfill]
