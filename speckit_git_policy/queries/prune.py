"""``prune``: retention of the filesystem copies (docs/DESIGN.md §9). The capsule is never pruned
here, and a snapshot that any run event refers to is never removed, so a pruned copy
can always be restored with ``verify --repair``."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass

from speckit_git_policy import clock
from speckit_git_policy.canonical import parse_json_bytes
from speckit_git_policy.store import Stores


@dataclass(frozen=True)
class PruneResult:
    removed: list[str]
    kept_for_runs: list[str]
    kept_without_capsule_copy: list[str]


def referenced_by_runs(stores: Stores) -> set[str]:
    """Policy ids that any run event names (every run's log is read: maintenance, not hot path)."""
    capsule = stores.capsule
    if capsule is None:
        return set()
    referenced: set[str] = set()
    for run_id in capsule.run_ids():
        for raw in capsule.run_events(run_id):
            policy_id = parse_json_bytes(raw).get("policy_id")
            if isinstance(policy_id, str):
                referenced.add(policy_id)
    return referenced


def prune(
    stores: Stores,
    *,
    keep: int | None,
    older_than_days: float | None,
    dry_run: bool,
    now: datetime.datetime | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> PruneResult:
    """Remove filesystem snapshots beyond the newest ``keep`` and/or older than the age given."""
    now = now or clock.now_datetime()
    dated = []
    ids = stores.fs.ids()
    for number, policy_id in enumerate(ids, start=1):
        if progress is not None:
            progress(number, len(ids))
        data = stores.fs.read(policy_id)
        try:
            created = clock.parse(parse_json_bytes(data or b"")["created_at"])
        except (ValueError, KeyError, TypeError):
            continue  # unreadable copies are for verify to report, not for prune to delete
        dated.append((created, policy_id))
    dated.sort(reverse=True)  # newest first
    candidates = []
    for index, (created, policy_id) in enumerate(dated):
        beyond_keep = keep is not None and index >= keep
        too_old = (
            older_than_days is not None
            and (now - created).total_seconds() > older_than_days * 86400
        )
        if (keep is None or beyond_keep) and (older_than_days is None or too_old):
            candidates.append(policy_id)
    protected = referenced_by_runs(stores) if candidates else set()
    capsule = stores.capsule
    # Never remove the only copy: the capsule must hold the same bytes.
    unbacked = [
        p for p in candidates if capsule is None or capsule.get_snapshot(p) != stores.fs.read(p)
    ]
    removed = [p for p in candidates if p not in protected and p not in unbacked]
    if not dry_run:
        for policy_id in removed:
            stores.fs.mark_pruned(policy_id)
            stores.fs.remove(policy_id)
    return PruneResult(
        removed=removed,
        kept_for_runs=sorted(set(candidates) & protected),
        kept_without_capsule_copy=sorted(set(unbacked) - protected),
    )
