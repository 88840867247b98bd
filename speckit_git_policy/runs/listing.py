"""Every run of the capsule, with its first and last events and current stage."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypedDict

from speckit_git_policy.errors import SnapshotCorrupt
from speckit_git_policy.git.repo import RepoLike, as_repo
from speckit_git_policy.runs.events import STAGE_TRANSITION, LogState, capsule_of, parse_event

if TYPE_CHECKING:
    from speckit_git_policy.store.capsule.capsule import Capsule


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
    """Every run with its first and last event, newest start first."""
    from speckit_git_policy.store import Stores
    from speckit_git_policy.store.capsule.capsule import note

    capsule = capsule_of(Stores(as_repo(repo)))
    rows: list[RunRow] = []
    # Per run, the first and last events (every event carries the policy in force;
    # appends and merges keep the log in timestamp order, so the last is the
    # latest), and for the stage the log back to its last StageTransition.
    for summary in capsule.run_summaries():
        run_id = summary["run_id"]
        try:
            first = parse_event(summary["first"], run_id, 0)
            last = parse_event(summary["last"], run_id, summary["events"] - 1)
        except SnapshotCorrupt as e:
            note(capsule.repo, f"run {run_id} skipped: {e}")  # `verify` reports it
            continue
        state = LogState.of([first, last])
        rows.append(
            {
                "run_id": run_id,
                "uri": capsule.run_uri(run_id),
                "events": summary["events"],
                "started_at": first["timestamp"],
                "last_at": state.last_timestamp,
                "stage": _current_stage(capsule, run_id, summary["events"]),
                "policy_id": state.policy.policy_id if state.policy else None,
            }
        )
    rows.sort(key=lambda row: (row["started_at"], row["run_id"]), reverse=True)
    return rows


def _current_stage(capsule: Capsule, run_id: str, length: int) -> str | None:
    for back, data in enumerate(capsule.run_events_backward(run_id)):
        try:
            event = parse_event(data, run_id, length - 1 - back)
        except SnapshotCorrupt:
            continue  # noted by the listing's reader; `verify` reports it
        if event["type"] == STAGE_TRANSITION:
            return event.get("to")
    return None
