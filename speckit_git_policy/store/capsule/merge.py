"""Merging two capsule histories that clones appended to independently.

Everything in the capsule only grows, so a merge is a union and needs no merge
base: trees are united entry by entry; the few places where both sides wrote the
same path differently are resolved by kind:

* ``bindings/<fan-out>/<id>.json``: ``store.bindings.merge``, union by commit; a binding
  whose commit the other side rewrote is folded into the rewritten one; then a rewrite
  one side recorded moves the other side's snapshot of the same content off the old
  SHA too (``store.bindings.follow_across``: two clones captured it independently);
* a run directory in a run shard: union of events by ``event_id``, ordered by
  ``timestamp`` then ``event_id``, ``seq`` renumbered 0..n-1 (docs/DESIGN.md §6) and
  chunked again (``capsule_runs``); an event whose seq is unchanged keeps its
  exact bytes;
* anything else (a snapshot replaced by ``verify --repair`` on one side): the
  smaller blob id, so that both clones pick the same one.
"""

from __future__ import annotations

from collections.abc import Callable

from speckit_git_policy.canonical import canonical_bytes, parse_json_bytes
from speckit_git_policy.errors import SnapshotCorrupt
from speckit_git_policy.store.bindings import Binding, load_bindings
from speckit_git_policy.store.bindings import merge as merge_bindings
from speckit_git_policy.store.capsule.layout import (
    binding_path,
    commit_index_dir,
    is_binding_path,
    is_run_bucket,
    snapshot_path,
)
from speckit_git_policy.store.capsule.objects import BLOB_MODE, TREE_MODE, Entry, ObjectIO, TreeEdit
from speckit_git_policy.store.capsule.runlog import event_entries, write_run_tree

Resolver = Callable[[tuple[str, ...], Entry, Entry], Entry | None]


def merge_tree_for_ref(ref: str, io: ObjectIO, ours: bytes, theirs: bytes) -> bytes | None:
    """The union of two trees of capsule ref ``ref``; None for a ref we do not know."""
    parts = ref.split("/")
    if len(parts) == 4 and parts[3] == "policy":
        merged = union_trees(io, ours, theirs, (), _policy_resolver(io))
        return follow_rewrites(io, merged, _rewritten_commits(io, ours, theirs, merged))
    if len(parts) == 5 and parts[3] == "runs":
        return union_trees(io, ours, theirs, (), _runs_resolver(io))
    return None


def union_trees(
    io: ObjectIO, ours: bytes, theirs: bytes, path: tuple[str, ...], resolve: Resolver
) -> bytes:
    if ours == theirs:
        return ours
    entries = io.entries(ours)
    for name, their_entry in io.entries(theirs).items():
        our_entry = entries.get(name)
        if our_entry is None or our_entry == their_entry:
            entries[name] = their_entry
            continue
        here = (*path, name)
        resolved = resolve(here, our_entry, their_entry)
        if resolved is not None:
            entries[name] = resolved
        elif our_entry[0] == TREE_MODE and their_entry[0] == TREE_MODE:
            entries[name] = (
                TREE_MODE,
                union_trees(io, our_entry[1], their_entry[1], here, resolve),
            )
        else:
            entries[name] = min(our_entry, their_entry, key=lambda e: e[1])
    return io.write_tree(entries)


def _policy_resolver(io: ObjectIO) -> Resolver:
    def resolve(path: tuple[str, ...], ours: Entry, theirs: Entry) -> Entry | None:
        if is_binding_path(path) and ours[0] == theirs[0] == BLOB_MODE:
            merged = merge_bindings(_bindings(io, ours[1]), _bindings(io, theirs[1]))
            return (BLOB_MODE, io.write_blob(canonical_bytes(merged)))
        return None

    return resolve


def _runs_resolver(io: ObjectIO) -> Resolver:
    def resolve(path: tuple[str, ...], ours: Entry, theirs: Entry) -> Entry | None:
        # A run's directory: <digit>/<digit>/<run_id>, or <run_id> at the shard's
        # root in the earlier layout.
        is_run = len(path) == 3 or (len(path) == 1 and not is_run_bucket(path[0]))
        if is_run and ours[0] == theirs[0] == TREE_MODE:
            return (TREE_MODE, merge_run_logs(io, ours[1], theirs[1]))
        return None

    return resolve


# ---- bindings -------------------------------------------------------------------------
def _bindings(io: ObjectIO, blob: bytes) -> list[Binding]:
    """One side's bindings; a side whose blob does not parse brings none (the other
    side's then stand, and both clones settle on them)."""
    try:
        return load_bindings(io.blob_bytes(blob), f"bindings blob {blob.decode()}")
    except SnapshotCorrupt:
        return []


def _rewritten_commits(io: ObjectIO, ours: bytes, theirs: bytes, merged: bytes) -> list[str]:
    """The SHAs recorded as rewritten in the bindings the merge changed (a list that
    differs from one side's): only those can hold a rewrite one side has not seen.
    Walks only the subtrees that differ, so it costs what the merge brought."""
    found: dict[str, None] = {}

    def walk(sides: tuple[bytes | None, ...], united: bytes) -> None:
        if all(side == united for side in sides):
            return
        entries = [io.entries(side) for side in sides]
        for name, (mode, object_id) in io.entries(united).items():
            before = tuple(e.get(name) for e in entries)
            if all(entry == (mode, object_id) for entry in before):
                continue
            if mode == TREE_MODE:
                walk(
                    tuple(e[1] if e and e[0] == TREE_MODE else None for e in before),
                    object_id,
                )
            elif mode == BLOB_MODE:
                for binding in _bindings(io, object_id):
                    found.update(dict.fromkeys(binding["rewritten_from"]))

    def top(tree: bytes) -> bytes | None:
        entry = io.lookup(tree, ["bindings"])
        return entry[1] if entry is not None and entry[0] == TREE_MODE else None

    united = top(merged)
    if united is not None:
        walk((top(ours), top(theirs)), united)
    return list(found)


def follow_rewrites(io: ObjectIO, root: bytes, commits: list[str]) -> bytes:
    """``root`` with every rewrite of ``commits`` applied across the snapshots of the
    same content that bind them (docs/DESIGN.md §5)."""
    from speckit_git_policy.store.bindings import follow_across, known_commits

    ids: set[str] = set()
    for commit in commits:
        bound = sorted(io.entries(_lookup_tree(io, root, commit_index_dir(commit))))
        if len(bound) > 1:
            ids.update(bound)
    if not ids:
        return root
    lists, hashes = {}, {}
    for policy_id in sorted(ids):
        entry = io.lookup(root, binding_path(policy_id).split("/"))
        lists[policy_id] = _bindings(io, entry[1]) if entry and entry[0] == BLOB_MODE else []
        hashes[policy_id] = _snapshot_hash(io, root, policy_id)

    def same_content(one: str, other: str) -> bool:
        return hashes[one] is not None and hashes[one] == hashes[other]

    edit = TreeEdit()
    for policy_id, bindings in follow_across(lists, same_content).items():
        edit.put(binding_path(policy_id), (BLOB_MODE, io.write_blob(canonical_bytes(bindings))))
        for sha in known_commits(bindings) - known_commits(lists[policy_id]):
            edit.put(f"{commit_index_dir(sha)}/{policy_id}", (BLOB_MODE, io.write_blob(b"")))
    return edit.apply(io, root) if edit.changes else root


def _lookup_tree(io: ObjectIO, root: bytes, path: str) -> bytes | None:
    entry = io.lookup(root, path.split("/"))
    return entry[1] if entry is not None and entry[0] == TREE_MODE else None


def _snapshot_hash(io: ObjectIO, root: bytes, policy_id: str) -> str | None:
    entry = io.lookup(root, snapshot_path(policy_id).split("/"))
    if entry is None or entry[0] != BLOB_MODE:
        return None
    try:
        document = parse_json_bytes(io.blob_bytes(entry[1]))
    except (ValueError, UnicodeDecodeError):
        return None
    value = document.get("hash") if isinstance(document, dict) else None
    return value if isinstance(value, str) else None


# ---- run logs -------------------------------------------------------------------------
def merge_run_logs(io: ObjectIO, ours: bytes, theirs: bytes) -> bytes:
    """One run's two logs -> one: every event once, renumbered without gaps."""
    events: dict[str, tuple[tuple[str, str], bytes, dict[str, object] | None]] = {}
    for tree in (ours, theirs):
        for _mode, blob in event_entries(io, tree):
            data = io.blob_bytes(blob)
            event = _event(data)
            event_id = str(event["event_id"]) if event else f"unparsable:{blob.decode()}"
            timestamp = str(event["timestamp"]) if event else "\uffff"
            events.setdefault(event_id, ((timestamp, event_id), data, event))
    blobs: list[bytes] = []
    for seq, (_key, data, event) in enumerate(sorted(events.values(), key=lambda e: e[0])):
        if event is not None and event.get("seq") != seq:
            data = canonical_bytes({**event, "seq": seq})
        blobs.append(io.write_blob(data))
    return write_run_tree(io, blobs)


def _event(data: bytes) -> dict[str, object] | None:
    """The event's JSON object when it has the two keys the merge orders by (an event is
    opaque here: what the fields mean is the runs layer's business)."""
    try:
        value = parse_json_bytes(data)
    except ValueError:
        return None
    if not isinstance(value, dict):
        return None
    if not isinstance(value.get("event_id"), str) or not isinstance(value.get("timestamp"), str):
        return None
    return value
