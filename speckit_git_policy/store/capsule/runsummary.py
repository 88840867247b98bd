"""Per-directory run summaries: what ``run list`` shows of each run, kept beside the runs.

A run shard's tree is ``<h2>/<h3>/<run_id>/...``; each ``<h2>/`` directory also holds
``summary.json`` (docs/CAPSULE-LAYOUT.md, "Run summaries"): for every run under it, its
run tree's id and a digest of its log (length, first and last timestamps and policy
ids, the current stage), and ``covers``, the ids of the ``<h3>`` trees it was computed
from. A reader trusts a summary only when ``covers`` equals the directory's ``<h3>``
entries: git trees are named by their content, so equal ids mean the very runs the
summary was made from. Anything else (a summary missing, written before a merge, or
left behind by a version that does not write them) is stale: the reader reads those
runs from their logs, and takes from the summary only the entries whose run tree id
still matches, which are right by the same argument.

The digest is derived from the events alone (``digest_of``), so every writer computes
the same one: an append updates its run's entry from the previous one, and rebuilds
the directory's summary when it found it stale (a bounded cost: one ``<h2>`` directory
holds 1/4096 of the runs).

An event is opaque to the store except for the fields read here: ``timestamp``,
``policy_id``, ``type`` and, of a stage transition, ``to``.
"""

from __future__ import annotations

import json

from speckit_git_policy.store.capsule import layout
from speckit_git_policy.store.capsule import runlog as run_log

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from speckit_git_policy.store.capsule.objects import ObjectIO

SUMMARY_NAME = "summary.json"
# The event type whose ``to`` is a run's current stage (runs/events.py STAGE_TRANSITION).
STAGE_TRANSITION = "StageTransition"
# A summary bigger than this is not read (it would hold millions of runs).
SUMMARY_MAX_BYTES = 16 * 1024 * 1024


def _event(data: bytes) -> dict[str, Any]:
    value = json.loads(data)
    return value if isinstance(value, dict) else {}


def digest_of(
    first: dict[str, Any], last: dict[str, Any], events: int, stage: Any
) -> dict[str, Any]:
    return {
        "events": events,
        "first_timestamp": first.get("timestamp"),
        "first_policy_id": first.get("policy_id"),
        "last_timestamp": last.get("timestamp"),
        "last_policy_id": last.get("policy_id"),
        "stage": stage,
    }


def digest_run(io: ObjectIO, run_tree: bytes) -> dict[str, Any] | None:
    """A run's digest from its log: first and last events, then back to its last stage
    transition (None for an empty run)."""
    ends = run_log.end_entries(io, run_tree)
    if ends is None:
        return None
    first, last = _event(io.blob_bytes(ends[0][1])), _event(io.blob_bytes(ends[1][1]))
    stage = None
    for entry in run_log.event_entries_backward(io, run_tree):
        event = _event(io.blob_bytes(entry[1]))
        if event.get("type") == STAGE_TRANSITION:
            stage = event.get("to")
            break
    return digest_of(first, last, run_log.length(io, run_tree), stage)


def after_append(previous: dict[str, Any], event: dict[str, Any]) -> dict[str, Any]:
    """The digest once ``event`` is appended to a run whose digest was ``previous``."""
    digest = dict(previous)
    digest["events"] = previous["events"] + 1
    digest["last_timestamp"] = event.get("timestamp")
    digest["last_policy_id"] = event.get("policy_id")
    if event.get("type") == STAGE_TRANSITION:
        digest["stage"] = event.get("to")
    return digest


def covers(io: ObjectIO, directory: bytes | None) -> dict[str, str]:
    """The ``<h3>`` trees of an ``<h2>`` directory, as a summary records them."""
    return {
        name: object_id.decode()
        for name, (mode, object_id) in io.entries(directory).items()
        if layout.is_run_bucket(name) and mode == 0o040000
    }


def parse(data: bytes | None) -> dict[str, Any] | None:
    """A summary blob's document, None when it is not one."""
    if data is None:
        return None
    try:
        value = json.loads(data)
    except ValueError:
        return None
    if not isinstance(value, dict):
        return None
    if not isinstance(value.get("covers"), dict) or not isinstance(value.get("runs"), dict):
        return None
    return value


def encode(document: dict[str, Any]) -> bytes:
    """Sorted keys, no spaces: two writers of the same summary write the same blob."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def updated(
    io: ObjectIO,
    old_directory: bytes | None,
    new_directory: bytes,
    old_summary: dict[str, Any] | None,
    run_id: str,
    old_run_tree: bytes | None,
    new_run_tree: bytes,
    event: dict[str, Any],
    new_run: bool,
) -> dict[str, Any]:
    """The summary of ``new_directory`` after ``event`` was appended to ``run_id``
    (``old_run_tree``: the run's tree before, when it was at the same path)."""
    fresh = old_summary is not None and old_summary["covers"] == covers(io, old_directory)
    runs: dict[str, Any] = dict(old_summary["runs"]) if old_summary is not None else {}
    previous = runs.get(run_id)
    digest: dict[str, Any] | None
    if new_run:  # this event is its first
        digest = after_append(digest_of(event, event, 0, None), event)
    elif (
        old_run_tree is not None
        and isinstance(previous, dict)
        and previous.get("tree") == old_run_tree.decode()
        and isinstance(previous.get("digest"), dict)
    ):
        digest = after_append(previous["digest"], event)
    else:
        digest = digest_run(io, new_run_tree)
    if not fresh:
        runs = _rebuilt(io, new_directory, runs)
    runs[run_id] = {"tree": new_run_tree.decode(), "digest": digest}
    return {"covers": covers(io, new_directory), "runs": runs}


def _rebuilt(io: ObjectIO, directory: bytes, known: dict[str, Any]) -> dict[str, Any]:
    """Every run of ``directory``: a known entry whose tree still matches, else its log."""
    runs: dict[str, Any] = {}
    for _name, (mode, leaf) in sorted(io.entries(directory).items()):
        if mode != 0o040000:
            continue
        for run_id, (run_mode, run_tree) in sorted(io.entries(leaf).items()):
            if run_mode != 0o040000:
                continue
            entry = known.get(run_id)
            if isinstance(entry, dict) and entry.get("tree") == run_tree.decode():
                runs[run_id] = entry
            else:
                runs[run_id] = {"tree": run_tree.decode(), "digest": digest_run(io, run_tree)}
    return runs
