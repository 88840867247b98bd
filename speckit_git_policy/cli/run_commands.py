"""Run commands (docs/DESIGN.md §6, §9): run start|stage|checkpoint|show|list, trace, blame."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from speckit_git_policy.cli import plain
from speckit_git_policy.cli.common import (
    emit_json,
    emit_paged,
    emit_table,
    json_option,
    paint,
    stores_from,
)
from speckit_git_policy.cli.plain import event_line, event_lines, payload_of, short
from speckit_git_policy.text import printable

if TYPE_CHECKING:
    from speckit_git_policy.runs.records import Event

payload_options = [
    click.option(
        "--prompt", default=None, help="Prompt text to record (kept if capture.mode allows)."
    ),
    click.option(
        "--output",
        "output_text",
        default=None,
        help="Model output to record (kept only under capture.mode = full_io).",
    ),
]


def _with_payload(command: Any) -> Any:
    for option in reversed(payload_options):
        command = option(command)
    return command


def _emit_event(event: Event, as_json: bool) -> None:
    for line in event_lines(event, as_json):
        click.echo(line)


@click.group()
def run() -> None:
    """Agent runs: events bound to the policy in force."""


@run.command()
@click.option("--run-id", "run_id", default=None, help="The run's id (default: a new one).")
@json_option
@click.pass_context
def start(ctx: click.Context, run_id: str | None, as_json: bool) -> None:
    """Capture the policy and start a run (PolicySnapshotRef event)."""
    from speckit_git_policy.runs.run import Run

    repo, stores = stores_from(ctx)
    info = Run.start(repo, run_id, stores=stores).info()
    if as_json:
        emit_json(info)
        return
    at = f"commit {short(info['commit'])}" if info["commit"] else "uncommitted edits (dirty)"
    click.echo(printable(f"started run {info['run_id']} under {info['policy_uri']} ({at})"))


@run.command(name="stage")
@click.argument("run_id", metavar="RUN")
@click.argument("stage_name", metavar="STAGE")
@_with_payload
@json_option
@click.pass_context
def stage_command(
    ctx: click.Context,
    run_id: str,
    stage_name: str,
    prompt: str | None,
    output_text: str | None,
    as_json: bool,
) -> None:
    """Record a stage transition (the policy is re-checked at the boundary)."""
    from speckit_git_policy.runs.run import Run

    repo, stores = stores_from(ctx)
    event = Run.open(repo, run_id, stores=stores).stage(stage_name, payload_of(prompt, output_text))
    _emit_event(event, as_json)


@run.command()
@click.argument("run_id", metavar="RUN")
@click.option("--label", default=None, help="What this checkpoint marks.")
@_with_payload
@json_option
@click.pass_context
def checkpoint(
    ctx: click.Context,
    run_id: str,
    label: str | None,
    prompt: str | None,
    output_text: str | None,
    as_json: bool,
) -> None:
    """Record a checkpoint (the policy is re-checked at the boundary)."""
    repo, stores = stores_from(ctx)
    payload = payload_of(prompt, output_text)
    for line in plain.checkpoint(repo, stores, run_id, label, payload, as_json):
        click.echo(line)


@run.command()
@click.argument("run_id", metavar="RUN")
@json_option
@click.pass_context
def show(ctx: click.Context, run_id: str, as_json: bool) -> None:
    """The run's events, in order."""
    from speckit_git_policy.runs.events import capsule_of, read_events

    _, stores = stores_from(ctx)
    events = read_events(capsule_of(stores), run_id, skip_unreadable=True)
    if as_json:
        emit_json(events)
        return
    emit_paged([event_line(event) for event in events])


@run.command(name="list")
@json_option
@click.pass_context
def list_command(ctx: click.Context, as_json: bool) -> None:
    """Runs, newest first."""
    from speckit_git_policy.runs.listing import list_runs

    repo, _ = stores_from(ctx)
    rows = list_runs(repo)
    if as_json:
        emit_json(rows)
        return
    emit_table(
        [
            [
                printable(r["run_id"]),
                printable((r["started_at"] or "")[:19].replace("T", " ")),
                f"{r['events']} events",
                printable(r["stage"] or "-"),
                printable((r["policy_id"] or "-")[:8]),
            ]
            for r in rows
        ]
    )


@click.command()
@click.argument("run_id", metavar="RUN")
@json_option
@click.pass_context
def trace(ctx: click.Context, run_id: str, as_json: bool) -> None:
    """Run -> snapshots -> commits (author, date, subject)."""
    from speckit_git_policy.queries.trace import trace as run_trace

    repo, stores = stores_from(ctx)
    result = run_trace(repo, run_id, stores=stores)
    if as_json:
        emit_json(result)
        return
    lines = [f"run {printable(run_id)}: {len(result['events'])} events"]
    lines.extend(event_line(event) for event in result["events"])
    for snapshot in result["snapshots"]:
        policy = paint(printable(snapshot["policy_id"]), fg="yellow")
        lines.append(f"\npolicy {policy}  hash {printable(str(snapshot['hash'])[:12])}")
        lines.append(f"  uri     {printable(snapshot['uri'])}")
        if snapshot["commit"] is None:
            lines.append("  commit  - (captured from uncommitted edits)")
            continue
        lines.append(f"  commit  {printable(snapshot['commit'])}")
        if snapshot["author"] is None:
            lines.append("          (commit not in this clone; try: git speckit-policy pull)")
        else:
            lines.append(
                f"  author  {printable(snapshot['author'])}\n  date    {printable(snapshot['date'])}\n"
                f"  subject {printable(snapshot['subject'])}"
            )
    emit_paged(lines)


@click.command()
@click.argument("run_id", metavar="RUN")
@click.argument("key", required=False)
@json_option
@click.pass_context
def blame(ctx: click.Context, run_id: str, key: str | None, as_json: bool) -> None:
    """Each policy key in force for the run: value, commit, author, date, line."""
    import json

    from speckit_git_policy.queries.trace import blame as run_blame

    repo, stores = stores_from(ctx)
    rows = run_blame(repo, run_id, key, stores=stores)
    if as_json:
        emit_json(rows)
        return
    emit_table(
        [
            [
                short(r["commit"]),
                printable((r["author"] or "-").split(" <")[0]),
                printable((r["date"] or "")[:10]),
                f"{r['line'] or '-':>3}",
                printable(f"{r['key']} = {json.dumps(r['value'], ensure_ascii=False)}"),
            ]
            for r in rows
        ]
    )


COMMANDS = [run, trace, blame]
