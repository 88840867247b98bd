"""The parts of commands that need no click: the text they print, and the bodies of
the commands ``fast.py`` runs too. The click commands and the fast path call the same
functions here, so the two cannot differ."""

from __future__ import annotations

from speckit_git_policy.text import json_safe, printable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from speckit_git_policy.git.repo import GitRepo
    from speckit_git_policy.runs.records import Event
    from speckit_git_policy.store import Stores


def json_document(document: Any) -> str:
    """The command line's JSON: ``json.dumps(indent=2, ensure_ascii=False)``'s text."""
    from speckit_git_policy.cli.json_output import dumps

    # Non-ASCII stays readable; the control characters json.dumps leaves raw (DEL, C1)
    # are escaped as well, so no output carries one (docs/DESIGN.md §9).
    return json_safe(dumps(document))


def short(sha: str | None) -> str:
    return sha[:12] if sha else "-"


# ---- command bodies: what they print, as lines ------------------------------------------
def current(repo: GitRepo, stores: Stores, as_json: bool) -> list[str]:
    """``current``: the snapshot of the policy committed at HEAD, and drift."""
    from speckit_git_policy.capture import current as run_current

    state = run_current(repo, stores)
    if as_json:
        return [json_document(state)]
    policy = state["policy_id"] or "(never captured: run `git speckit-policy capture`)"
    lines = [f"{policy}  commit {short(state['commit'])}  hash {state['hash'][:12]}"]
    if state["drift"]:
        lines.append(
            "drift: the work tree's policy differs from HEAD's, or HEAD's was never captured"
        )
    return lines


def list_json(stores: Stores) -> list[str]:
    """``list --json``."""
    from speckit_git_policy.queries.snapshots import list_snapshots

    return [json_document(list_snapshots(stores))]


def checkpoint(
    repo: GitRepo,
    stores: Stores,
    run_id: str,
    label: str | None,
    payload: dict[str, str] | None,
    as_json: bool,
) -> list[str]:
    """``run checkpoint``."""
    from speckit_git_policy.runs.run import Run

    event = Run.open(repo, run_id, stores=stores).checkpoint(label, payload)
    return event_lines(event, as_json)


def payload_of(prompt: str | None, output_text: str | None) -> dict[str, str] | None:
    """The payload of ``--prompt`` and ``--output`` (None: neither given)."""
    payload = {k: v for k, v in (("prompt", prompt), ("output", output_text)) if v is not None}
    return payload or None


def event_lines(event: Event, as_json: bool) -> list[str]:
    """An event a command appended: its JSON, or its line."""
    return [json_document(event)] if as_json else [event_line(event)]


def event_line(event: Event) -> str:
    kind = event["type"]
    if kind == "StageTransition":
        what = f"{event.get('from') or '-'} -> {event.get('to')}"
    elif kind == "Checkpoint":
        what = str(event.get("label") or "")
    elif kind == "PolicySnapshotRef":
        what = ""
    elif kind == "UsageRecorded":
        cost = event.get("cost")
        what = (
            f"{event.get('stage')}: {event.get('model_served') or event.get('model_requested')} "
            f"{event.get('input_tokens')}+{event.get('output_tokens')} tokens, "
            f"cost {'unknown' if cost is None else f'{cost:g}'}"
        )
    else:
        what = str((event.get("decision") or {}).get("decision") or "")
    parts = [
        f"{event['seq']:>4}",
        event["timestamp"][:23].replace("T", " "),
        f"{kind:<17}",
        what,
        f"policy {str(event.get('policy_id'))[:8]}",
    ]
    if event.get("policy_changed"):
        parts.append(f"(policy changed, replaced {str(event.get('replaced_policy_id'))[:8]})")
    dropped = event.get("dropped")
    if dropped:
        parts.append(f"dropped: {', '.join(dropped)}")
    # Stages, labels and decisions are the run's own text, read back from the capsule.
    return printable("  ".join(part for part in parts if part))
