"""Commands over snapshots: validate, capture, list, show, current, diff, schema."""

from __future__ import annotations

import sys

import click

from speckit_git_policy.cli import plain
from speckit_git_policy.cli.common import (
    emit_json,
    emit_table,
    format_option,
    json_option,
    paint,
    repo_from,
    step_summary,
    stores_from,
)
from speckit_git_policy.cli.plain import short
from speckit_git_policy.text import printable


@click.command()
@click.option(
    "--staged", is_flag=True, help="Validate what the index holds (what will be committed)."
)
@format_option
@json_option
@click.pass_context
def validate(ctx: click.Context, staged: bool, output_format: str, as_json: bool) -> None:
    """Doc and policy lint of the sources: both exist, the policy follows the rules."""
    from speckit_git_policy.evidence.annotations import (
        GITHUB,
        SARIF,
        github_annotation,
        resolve_format,
    )
    from speckit_git_policy.evidence.summary import validate_summary
    from speckit_git_policy.policy.lint import validate as run_validate
    from speckit_git_policy.policy.sources import INDEX, WORKTREE, source_paths

    repo = repo_from(ctx)
    issues = run_validate(repo, INDEX if staged else WORKTREE)
    step_summary(validate_summary(issues))
    if as_json:
        emit_json({"ok": not issues, "errors": [issue.as_json() for issue in issues]})
    elif resolve_format(output_format) == SARIF:
        import pathlib

        from speckit_git_policy.evidence.sarif import VALIDATE_RULES, issue_findings, sarif_log

        emit_json(
            sarif_log(
                issue_findings(issues, source_paths(repo)), pathlib.Path(repo.root), VALIDATE_RULES
            )
        )
    elif resolve_format(output_format) == GITHUB:
        for issue in issues:
            click.echo(
                github_annotation("error", issue.message, issue.file, issue.line, issue.key or None)
            )
    else:
        for issue in issues:
            click.echo(printable(issue.render()), err=True)
        if not issues:
            click.echo("policy is valid")
    if issues:
        ctx.exit(1)


@click.command()
@click.option("--commit", "commit", metavar="REV", help="Capture from this commit's tree.")
@click.option(
    "--allow-invalid",
    is_flag=True,
    help="Record a policy that fails validation (marked), e.g. a --no-verify commit's.",
)
@json_option
@click.pass_context
def capture(ctx: click.Context, commit: str | None, allow_invalid: bool, as_json: bool) -> None:
    """Snapshot the policy now (from the work tree, or from --commit)."""
    from speckit_git_policy.capture import capture as run_capture
    from speckit_git_policy.errors import PolicyInvalid
    from speckit_git_policy.policy.lint import validate as run_validate
    from speckit_git_policy.policy.sources import WORKTREE

    repo, stores = stores_from(ctx)
    # Bad input changes nothing (docs/DESIGN.md §10): check before anything is written.
    origin = repo.resolve_commit(commit) if commit is not None else WORKTREE
    issues = run_validate(repo, origin)
    if issues and not allow_invalid:
        raise PolicyInvalid(issues)
    result = run_capture(repo, commit=commit, trigger="manual", stores=stores)
    if as_json:
        emit_json(result.as_json())
        return
    verb = "captured" if result.created else "reused"
    at = f"commit {short(result.commit)}" if result.commit else "uncommitted edits (dirty)"
    click.echo(f"{verb} {result.policy_id} ({at})")
    click.echo(f"  hash {result.hash}\n  uri  {result.uri}\n  path {result.path}")
    if not result.validated:
        click.echo("  warning: this policy does not pass validation", err=True)


@click.command(name="list")
@json_option
@click.pass_context
def list_command(ctx: click.Context, as_json: bool) -> None:
    """Snapshots, newest first."""
    from speckit_git_policy.queries.snapshots import list_snapshots

    _, stores = stores_from(ctx)
    if as_json:
        for line in plain.list_json(stores):
            click.echo(line)
        return
    rows = list_snapshots(stores)
    emit_table(
        [
            [
                paint(r["policy_id"][:8], fg="yellow"),
                printable((r["created_at"] or "")[:19].replace("T", " ")),
                printable(short(r["commit"])),
                printable(r["hash"][:12]),
            ]
            for r in rows
        ]
    )


@click.command()
@click.argument("snapshot", metavar="ID|PREFIX|URI|current")
@click.option("--raw", is_flag=True, help="Print the exact stored bytes.")
@json_option
@click.pass_context
def show(ctx: click.Context, snapshot: str, raw: bool, as_json: bool) -> None:
    """One snapshot."""
    from speckit_git_policy.capture import resolve_snapshot

    repo, stores = stores_from(ctx)
    policy_id = resolve_snapshot(repo, stores, snapshot)
    data, document = stores.read_verified(policy_id)
    if raw:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    document = dict(document, bindings=stores.bindings(policy_id), uri=stores.uri(policy_id))
    emit_json(document)


@click.command()
@json_option
@click.pass_context
def current(ctx: click.Context, as_json: bool) -> None:
    """The snapshot of the policy committed at HEAD, and drift."""
    for line in plain.current(*stores_from(ctx), as_json):
        click.echo(line)


@click.command()
@click.argument("old", metavar="A")
@click.argument("new", metavar="B")
@json_option
@click.pass_context
def diff(ctx: click.Context, old: str, new: str, as_json: bool) -> None:
    """Key-level diff of two snapshots."""
    from speckit_git_policy.capture import resolve_snapshot
    from speckit_git_policy.snapshot import diff_documents

    repo, stores = stores_from(ctx)
    before = stores.load(resolve_snapshot(repo, stores, old))
    after = stores.load(resolve_snapshot(repo, stores, new))
    changes = diff_documents(before, after)
    if as_json:
        emit_json(changes)
        return
    import json

    for change in changes:
        old_value, new_value = json.dumps(change["old"]), json.dumps(change["new"])
        click.echo(f"{printable(change['key'])}: {old_value} -> {new_value}")


@click.command()
@json_option
def schema(as_json: bool) -> None:
    """JSON Schema (draft 2020-12) of model_policy.toml, for editors."""
    del as_json  # the schema is JSON either way; --json is accepted as on every data command (docs/DESIGN.md §9)
    from speckit_git_policy.policy.schema import schema_text

    # The committed file, generated from the models: printing it needs no pydantic.
    click.echo(schema_text(), nl=False)


COMMANDS = [validate, capture, list_command, show, current, diff, schema]
