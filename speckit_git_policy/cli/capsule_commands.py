"""Commands over the two copies and the capsule: verify, prune, resolve, push, pull."""

from __future__ import annotations

import click

from speckit_git_policy.cli.common import (
    Progress,
    emit_json,
    format_option,
    json_option,
    repo_from,
    step_summary,
    stores_from,
)
from speckit_git_policy.errors import BadInput
from speckit_git_policy.text import printable


@click.command()
@click.option("--repair", is_flag=True, help="Restore a missing or corrupted copy from the other.")
@format_option
@json_option
@click.pass_context
def verify(ctx: click.Context, repair: bool, output_format: str, as_json: bool) -> None:
    """Hashes, parity of both copies, event lint, missed captures; each snapshot proven
    against its commits, the capsule's structure, seals, and what remotes had refused."""
    from speckit_git_policy.evidence.annotations import (
        GITHUB,
        SARIF,
        github_annotation,
        resolve_format,
    )
    from speckit_git_policy.evidence.summary import verify_summary
    from speckit_git_policy.queries.verify import verify as run_verify

    repo = repo_from(ctx)
    report = run_verify(repo, repair=repair, progress=Progress("verifying snapshots"))
    step_summary(verify_summary(report))
    if as_json:
        emit_json(report.as_json())
    elif resolve_format(output_format) == SARIF:
        import pathlib

        from speckit_git_policy.evidence.sarif import VERIFY_RULES, sarif_log, verify_findings
        from speckit_git_policy.policy.sources import source_paths

        emit_json(
            sarif_log(
                verify_findings(report, source_paths(repo)), pathlib.Path(repo.root), VERIFY_RULES
            )
        )
    elif resolve_format(output_format) == GITHUB:
        for problem in report.problems:
            level = "notice" if problem.repaired else problem.severity
            click.echo(github_annotation(level, problem.message, problem.path, None, problem.uri))
    else:
        for problem in report.problems:
            status = "repaired" if problem.repaired else problem.severity
            where = problem.uri or problem.path or ""
            click.echo(
                printable(f"{status}: {where + ': ' if where else ''}{problem.message}"),
                err=not problem.repaired,
            )
        broken = sum(problem.broken for problem in report.problems)
        # --repair is suggested only when it fixes something; other problems name their fix.
        hint = "try: git speckit-policy verify --repair" if report.repairable else "fixes above"
        click.echo(
            f"checked {report.checked} snapshot(s): "
            + ("ok" if report.ok else f"{broken} problem(s); {hint}")
        )
    if not report.ok:
        ctx.exit(1)


@click.command()
@click.option("--keep", type=click.IntRange(min=0), help="Keep the newest N snapshots.")
@click.option(
    "--older-than",
    "older_than",
    type=click.FloatRange(min=0),
    metavar="DAYS",
    help="Remove only snapshots older than DAYS.",
)
@click.option("--dry-run", is_flag=True, help="Say what would be removed; remove nothing.")
@json_option
@click.pass_context
def prune(
    ctx: click.Context, keep: int | None, older_than: float | None, dry_run: bool, as_json: bool
) -> None:
    """Remove filesystem snapshots by count or age (never one a run refers to)."""
    from speckit_git_policy.queries.prune import prune as run_prune

    if keep is None and older_than is None:
        raise BadInput("prune needs --keep N and/or --older-than DAYS")
    _, stores = stores_from(ctx)
    result = run_prune(
        stores,
        keep=keep,
        older_than_days=older_than,
        dry_run=dry_run,
        progress=Progress("reading snapshots"),
    )
    if as_json:
        emit_json(
            {
                "removed": result.removed,
                "dry_run": dry_run,
                "kept_for_runs": result.kept_for_runs,
                "kept_without_capsule_copy": result.kept_without_capsule_copy,
            }
        )
        return
    verb = "would remove" if dry_run else "removed"
    for policy_id in result.removed:
        click.echo(f"{verb} {stores.fs.relative_path(policy_id)}")
    for policy_id in result.kept_for_runs:
        click.echo(f"kept {policy_id}: a run refers to it")
    for policy_id in result.kept_without_capsule_copy:
        click.echo(f"kept {policy_id}: the capsule has no copy of it")
    click.echo(f"{verb} {len(result.removed)} snapshot(s)")


@click.command()
@click.argument("uri")
@json_option
@click.pass_context
def resolve(ctx: click.Context, uri: str, as_json: bool) -> None:
    """Map a mv2:// URI to the capsule ref that holds it and the object id."""
    from speckit_git_policy.store.capsule.capsule import Capsule

    capsule = Capsule.for_repo(repo_from(ctx))
    if capsule is None:
        raise BadInput("the capsule is turned off (git config speckit.capsule false)")
    place = capsule.resolve(uri)
    if as_json:
        emit_json(place)
    else:
        click.echo(printable(f"{place['ref']} {place['object']} {place['path']}"))


def _report_sync(result: dict[str, object], as_json: bool, verb: str) -> None:
    if as_json:
        emit_json(result)
        return
    refs = result.get("refs") or {}
    assert isinstance(refs, dict)
    if not refs:
        click.echo(f"{verb} {printable(str(result.get('remote')))}: no capsule refs")
    for ref, status in sorted(refs.items()):
        click.echo(f"{printable(str(status)):<14} {printable(ref)}")
    refused = result.get("refused") or []
    assert isinstance(refused, list)
    for item in refused:
        where = f"{item['ref']}:{item['path']}" if item["path"] else item["ref"]
        click.echo(f"refused: {printable(where)}: {printable(item['reason'])}", err=True)
    if refused:
        click.echo(
            f"{len(refused)} item(s) from {printable(str(result.get('remote')))} were kept out "
            "of the local capsule (it stays whole); `verify` lists them until the next sync",
            err=True,
        )


@click.command()
@click.argument("remote", required=False)
@json_option
@click.pass_context
def push(ctx: click.Context, remote: str | None, as_json: bool) -> None:
    """Push the capsule (refs/speckit/*) to a remote, a URL or a bundle file; a ref the
    remote rejects as a non-fast-forward is pulled, merged and pushed again."""
    from speckit_git_policy.store.capsule.sync import push as run_push

    _report_sync(run_push(repo_from(ctx), remote), as_json, "push")


@click.command()
@click.argument("remote", required=False)
@json_option
@click.pass_context
def pull(ctx: click.Context, remote: str | None, as_json: bool) -> None:
    """Fetch a remote's capsule (a remote, a URL, a path or a bundle file) and merge it
    into this one: a union where local entries win; what is refused is listed."""
    from speckit_git_policy.store.capsule.sync import pull as run_pull

    _report_sync(
        run_pull(repo_from(ctx), remote, progress=Progress("merging capsule refs")), as_json, "pull"
    )


COMMANDS = [verify, prune, resolve, push, pull]
