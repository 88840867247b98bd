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
    from it, read in bulk through git (or kept from the last listing while its
    directory's tree is the same: ``queries/list_cache.py``); any other run from its
    log, as before."""
    from operator import itemgetter

    from speckit_git_policy.queries.list_cache import RunListCache
    from speckit_git_policy.store import Stores
    from speckit_git_policy.store.capsule.bulk import run_listing
    from speckit_git_policy.store.capsule.layout import uri_prefix

    stores = Stores(as_repo(repo))
    workspace = stores.capsule_workspace
    if workspace is None:
        raise CapsuleDisabled()
    cache = RunListCache.load(stores.repo, workspace)
    listing = run_listing(stores.repo, workspace, cache.directories())
    cache.save(listing.directories)
    prefix = uri_prefix(workspace, "runs")  # the ids are checked by the reader
    rows: list[RunRow] = _rows_of_digests(prefix, listing.digests)
    for digests, _slow in listing.directories.values():
        rows += _rows_of_digests(prefix, digests)
    slow = listing.all_slow()
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
    # By (started_at, run_id), newest first: two stable sorts on one key each, half
    # the time of one on a tuple at 100,000 runs.
    rows.sort(key=itemgetter("run_id"), reverse=True)
    rows.sort(key=itemgetter("started_at"), reverse=True)
    return rows


def _rows_of_digests(prefix: str, digests: list[Any]) -> list[RunRow]:
    """The rows ``_row_of_log`` gives, from summaries' digests of the logs (a flat list:
    run id, events, first timestamp and policy id, last timestamp and policy id,
    stage; ``bulk.RECORD`` values a run)."""
    from speckit_git_policy.store.capsule.bulk import RECORD

    rows: list[RunRow] = []
    for index in range(0, len(digests), RECORD):
        run_id, events, first, first_policy, last, last_policy, stage = digests[
            index : index + RECORD
        ]
        rows.append(
            {
                "run_id": run_id,
                "uri": prefix + run_id,
                "events": events,
                "started_at": first,
                # As LogState.of([first, last]): the later of the two.
                "last_at": last if first is None or (last is not None and last > first) else first,
                "stage": stage,
                "policy_id": last_policy if last_policy is not None else first_policy,
            }
        )
    return rows


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
