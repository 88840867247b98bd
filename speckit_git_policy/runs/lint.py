"""The event lint: every event's snapshot reference must hold."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypedDict

from speckit_git_policy.errors import SnapshotCorrupt, SpeckitError
from speckit_git_policy.git.repo import as_repo
from speckit_git_policy.runs.events import parse_event

if TYPE_CHECKING:
    from collections.abc import Callable

    from speckit_git_policy.git.repo import RepoLike
    from speckit_git_policy.store import Stores

    # A snapshot's document, or why no copy of it verifies.
    Verdict = str | dict[str, Any]


class EventProblem(TypedDict):
    """An event whose snapshot reference does not hold (``seq`` None: the run is unreadable)."""

    run_id: str
    seq: int | None
    uri: str | None
    message: str


# ---- event lint (docs/DESIGN.md §8), for verify ------------------------------------------------
def lint_events(repo: RepoLike = None, stores: Stores | None = None) -> list[EventProblem]:
    """Every event whose snapshot reference does not hold.

    Each event's ``policy_uri`` must name this workspace's snapshot ``policy_id``,
    which must be stored, verify, and have the event's ``policy_hash``.
    """
    from speckit_git_policy.store import Stores

    git_repo = as_repo(repo)
    stores = stores or Stores(git_repo)
    capsule = stores.capsule
    if capsule is None:
        return []  # no capsule, no run logs to lint
    verdicts: dict[str, Verdict] = {}

    def snapshot(policy_id: str) -> Verdict:
        if policy_id not in verdicts:
            try:
                verdicts[policy_id] = stores.load(policy_id)
            except SpeckitError as e:
                verdicts[policy_id] = str(e)
        return verdicts[policy_id]

    problems: list[EventProblem] = []
    for run_id in capsule.run_ids():
        try:
            raw = capsule.run_events(run_id)
        except SpeckitError as e:
            problems.append({"run_id": run_id, "seq": None, "uri": None, "message": str(e)})
            continue
        for seq, data in enumerate(raw):
            for message in _event_problems(stores, snapshot, run_id, seq, data):
                problems.append(
                    {
                        "run_id": run_id,
                        "seq": seq,
                        "uri": capsule.run_uri(run_id),
                        "message": message,
                    }
                )
    return problems


def _event_problems(
    stores: Stores, snapshot: Callable[[str], Verdict], run_id: str, seq: int, data: bytes
) -> list[str]:
    try:
        event = parse_event(data, run_id, seq)
    except SnapshotCorrupt as e:
        return [e.reason]
    problems = []
    if event.get("seq") != seq:
        problems.append(f"records seq {event.get('seq')!r} at position {seq}")
    policy_id, uri, recorded = (
        event.get("policy_id"),
        event.get("policy_uri"),
        event.get("policy_hash"),
    )
    if policy_id is None or uri is None:
        return [*problems, f"{event['type']} event names no policy snapshot"]
    try:
        expected_uri = stores.uri(policy_id)
    except SpeckitError:
        expected_uri = None
    if uri != expected_uri:
        problems.append(f"policy_uri {uri} does not name snapshot {policy_id} of this workspace")
    found = snapshot(policy_id)
    if isinstance(found, str):
        problems.append(f"policy_uri {uri} does not resolve to a verified snapshot: {found}")
    elif found.get("hash") != recorded:
        problems.append(
            f"policy_hash {recorded} does not match snapshot {policy_id} (hash {found.get('hash')})"
        )
    return problems
