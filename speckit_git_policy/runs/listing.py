"""Every run of the capsule, with its first and last events and current stage."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypedDict

from speckit_git_policy.errors import NotFound, SnapshotCorrupt
from speckit_git_policy.git.repo import as_repo
from speckit_git_policy.runs.events import (
    STAGE_TRANSITION,
    CapsuleDisabled,
    LogState,
    capsule_of,
    parse_event,
)

if TYPE_CHECKING:
    from speckit_git_policy.git.repo import RepoLike
    from speckit_git_policy.store.capsule.capsule import Capsule, RunSummary


class RunRow(TypedDict):
    """One run in ``run list``."""

    run_id: str
    uri: str
    events: int
    started_at: str
    last_at: str | None
    stage: str | None
    policy_id: str | None


def list_runs(repo: RepoLike = None) -> list[RunRow]:
    """Every run with its first and last event, newest start first.

    A run under a fresh summary (docs/CAPSULE-LAYOUT.md, "Run summaries") is listed
    from it, read in bulk through git; any other run from its log, as before."""
    from speckit_git_policy.store import Stores
    from speckit_git_policy.store.capsule.bulk import run_digests

    stores = Stores(as_repo(repo))
    workspace = stores.capsule_workspace
    if workspace is None:
        raise CapsuleDisabled()
    digests, slow = run_digests(stores.repo, workspace)
    rows: list[RunRow] = [_row_of_digest(workspace, d.run_id, d.digest) for d in digests]
    if slow:
        capsule = capsule_of(stores)
        for run_id in sorted(set(slow)):
            try:
                summary = capsule.run_summary(run_id)
            except NotFound:
                continue  # not where the layout puts it: noted by the reader
            row = _row_of_log(capsule, summary) if summary is not None else None
            if row is not None:
                rows.append(row)
    rows.sort(key=lambda row: (row["started_at"], row["run_id"]), reverse=True)
    return rows


def _row_of_digest(workspace: str, run_id: str, digest: dict[str, Any]) -> RunRow:
    """The row ``_row_of_log`` gives, from a summary's digest of the log."""
    from speckit_git_policy.store.capsule.layout import run_uri

    first, last = digest["first_timestamp"], digest["last_timestamp"]
    return {
        "run_id": run_id,
        "uri": run_uri(workspace, run_id),
        "events": digest["events"],
        "started_at": first,
        # As LogState.of([first, last]): the later of the two.
        "last_at": last if first is None or (last is not None and last > first) else first,
        "stage": digest["stage"],
        "policy_id": digest["last_policy_id"]
        if digest["last_policy_id"] is not None
        else digest["first_policy_id"],
    }


def _row_of_log(capsule: Capsule, summary: RunSummary) -> RunRow | None:
    # The first and last events (every event carries the policy in force; appends
    # and merges keep the log in timestamp order, so the last is the latest), and
    # for the stage the log back to its last StageTransition. None: a run whose
    # ends do not parse, skipped with a note (`verify` reports it).
    from speckit_git_policy.store.capsule.capsule import note

    run_id = summary["run_id"]
    try:
        first = parse_event(summary["first"], run_id, 0)
        last = parse_event(summary["last"], run_id, summary["events"] - 1)
    except SnapshotCorrupt as e:
        note(capsule.repo, f"run {run_id} skipped: {e}")
        return None
    state = LogState.of([first, last])
    return {
        "run_id": run_id,
        "uri": capsule.run_uri(run_id),
        "events": summary["events"],
        "started_at": first["timestamp"],
        "last_at": state.last_timestamp,
        "stage": _current_stage(capsule, run_id, summary["events"]),
        "policy_id": state.policy.policy_id if state.policy else None,
    }


def _current_stage(capsule: Capsule, run_id: str, length: int) -> str | None:
    for back, data in enumerate(capsule.run_events_backward(run_id)):
        try:
            event = parse_event(data, run_id, length - 1 - back)
        except SnapshotCorrupt:
            continue  # noted by the listing's reader; `verify` reports it
        if event["type"] == STAGE_TRANSITION:
            return event.get("to")
    return None
