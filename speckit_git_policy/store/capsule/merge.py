"""Merging what a remote sends into the local capsule: a union where local entries win
(docs/DESIGN.md §4, "Trust rules").

Everything in the capsule only grows, so a merge is a union and needs no merge base to
compute. It takes the entries of their tree that the door let through
(``inspect.inspect_tree``) and resolves, by kind, the paths both sides hold differently:

* a snapshot is immutable: ours stands whenever it verifies (their different bytes under
  the same ``policy_id`` are refused and reported); a local copy that fails its hash is
  replaced by their verified one;
* ``bindings/<fan-out>/<id>.json``: ``store.bindings.merge``, union by commit; a binding
  whose commit the other side rewrote is folded into the rewritten one; then a rewrite
  one side recorded moves the other side's snapshot of the same content off the old
  SHA too (``store.bindings.follow_across``: two clones captured it independently);
* a run's log: the union of both sides' events by ``event_id``, ours' bytes standing for
  an id both hold (theirs, if different, is refused and reported), ordered by
  ``timestamp`` then ``event_id`` and renumbered 0..n-1 (docs/DESIGN.md §6); an event
  whose seq is unchanged keeps its exact bytes;
* an index entry (``by-hash``, ``by-commit``) joins only when the snapshot or bindings it
  points at back it, so that no lookup can be steered to another snapshot.

Whatever their tree lacks stays. The merge base is read only to tell what the remote
*dropped* (it held it once and no longer does) from what we added since.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from speckit_git_policy.canonical import canonical_bytes, parse_json_bytes
from speckit_git_policy.errors import SnapshotCorrupt, SpeckitError
from speckit_git_policy.store.bindings import Binding, known_commits, load_bindings
from speckit_git_policy.store.bindings import merge as merge_bindings
from speckit_git_policy.store.capsule import layout
from speckit_git_policy.store.capsule.inspect import (
    CHANGED,
    DROPPED,
    INVALID,
    OBJECT_LIMIT,
    CapsuleRef,
    Change,
    Inspection,
    check_content,
)
from speckit_git_policy.store.capsule.objects import BLOB_MODE, TREE_MODE, Entry, ObjectIO, TreeEdit
from speckit_git_policy.store.capsule.runlog import write_run_tree

Resolver = Callable[[tuple[str, ...], Entry, Entry], Entry | None]

__all__ = ["merge_bindings", "merge_inspected", "union_trees"]


def merge_inspected(
    io: ObjectIO,
    ref: CapsuleRef,
    inspection: Inspection,
    ours: bytes | None,
    theirs: bytes,
    base: bytes | None,
) -> bytes:
    """The tree of the union of ``ours`` and what the door let through of ``theirs``
    (tree ids); what is refused on the way is added to ``inspection.refused``."""
    merger = _Merger(io, inspection, ours, theirs, base)
    if ref.kind != "policy":
        merger.runs()
        return merger.edit.apply(io, ours)
    merger.policy()
    merged = merger.edit.apply(io, ours)
    if ours is None:
        return merged  # nothing of ours for their rewrites to move
    return follow_rewrites(io, merged, _rewritten_commits(io, ours, theirs, merged))


class _Merger:
    def __init__(
        self,
        io: ObjectIO,
        inspection: Inspection,
        ours: bytes | None,
        theirs: bytes,
        base: bytes | None,
    ) -> None:
        self.io = io
        self.inspection = inspection
        self.ours, self.theirs, self.base = ours, theirs, base
        self.edit = TreeEdit()

    # ---- reading ---------------------------------------------------------------------
    def blob(self, object_id: str) -> bytes | None:
        """The bytes of a blob: read at the door (theirs) or ours, within the limit."""
        data = self.inspection.contents.get(object_id)
        if data is not None:
            return data
        found = self.io.read_blobs([object_id.encode()], OBJECT_LIMIT)[object_id.encode()]
        return found if isinstance(found, bytes) else None

    def entry(self, tree: bytes | None, path: str) -> Entry | None:
        return self.io.lookup(tree, path.split("/")) if tree is not None else None

    def refuse(self, path: str, kind: str, reason: str) -> None:
        self.inspection.refuse(path, kind, reason)

    # ---- the policy ref ------------------------------------------------------------------
    def policy(self) -> None:
        covered: list[str] = []
        markers: list[Change] = []
        self.bindings: dict[str, list[Binding]] = {}
        self.snapshots: dict[str, bytes] = {}  # policy id -> the bytes that will stand
        for change in self.inspection.changes:
            if any(change.path.startswith(prefix + "/") for prefix in covered):
                continue
            kind = change.place[0]
            if change.status == "D":
                self._dropped(change)
            elif kind == "dir":
                top = change.path.split("/")[0]
                whole = top in ("snapshots", "bindings") and change.status == "A"
                if whole and change.theirs and self.inspection.clean_under(change.path):
                    # A new subtree the door let through whole: take it as it is.
                    self.edit.put(change.path, (TREE_MODE, change.theirs[1].encode()))
                    covered.append(change.path)
                    for other in self.inspection.changes:
                        if other.path.startswith(change.path + "/") and other.theirs:
                            self._remember(other)
            elif kind in ("hash-marker", "commit-marker"):
                markers.append(change)
            elif kind == "snapshot":
                self._snapshot(change)
            elif kind == "bindings":
                self._bindings(change)
        for change in markers:
            self._marker(change)

    def _remember(self, change: Change) -> None:
        """What a subtree taken whole brings, for the index checks."""
        assert change.theirs is not None
        data = self.inspection.contents.get(change.theirs[1])
        if data is None:
            return
        if change.place[0] == "snapshot":
            self.snapshots[change.place[1]] = data
        elif change.place[0] == "bindings":
            self.bindings[change.place[1]] = load_bindings(data, change.path)

    def _snapshot(self, change: Change) -> None:
        assert change.theirs is not None
        policy_id, theirs_id = change.place[1], change.theirs[1]
        theirs_data = self.inspection.contents[theirs_id]
        if change.status == "A":
            self.edit.put(change.path, (BLOB_MODE, theirs_id.encode()))
            self.snapshots[policy_id] = theirs_data
            return
        assert change.ours is not None
        ours_data = self.blob(change.ours[1])
        if ours_data is not None and check_content(change.place, ours_data) is None:
            base = self.entry(self.base, change.path)
            if base is None or base[1].decode() != theirs_id:  # not just our own repair
                self.refuse(
                    change.path,
                    CHANGED,
                    f"different bytes under snapshot {policy_id} refused "
                    "(snapshots are immutable; the local copy stands)",
                )
            self.snapshots[policy_id] = ours_data
            return
        # Our copy fails its hash (or cannot be read): theirs verifies, so it repairs ours.
        self.edit.put(change.path, (BLOB_MODE, theirs_id.encode()))
        self.snapshots[policy_id] = theirs_data

    def _bindings(self, change: Change) -> None:
        assert change.theirs is not None
        policy_id = change.place[1]
        theirs = load_bindings(self.inspection.contents[change.theirs[1]], change.path)
        if change.status == "A":
            self.edit.put(change.path, (BLOB_MODE, change.theirs[1].encode()))
            self.bindings[policy_id] = theirs
            return
        assert change.ours is not None
        ours = self._read_bindings(change.ours[1], change.path)
        merged = merge_bindings(ours, theirs)
        self.bindings[policy_id] = merged
        # When one side already holds the union, its blob stands as it is: the union's
        # order may differ from the order that side wrote, and a fast-forward needs
        # their tree exactly.
        if _same_bindings(merged, theirs):
            self.edit.put(change.path, (BLOB_MODE, change.theirs[1].encode()))
        elif not _same_bindings(merged, ours):
            self.edit.put(change.path, (BLOB_MODE, self.io.write_blob(canonical_bytes(merged))))
        base = self.entry(self.base, change.path)
        if base is not None:
            before = known_commits(self._read_bindings(base[1].decode(), change.path))
            lost = sorted((before & known_commits(ours)) - known_commits(theirs))
            if lost:
                self.refuse(
                    change.path,
                    DROPPED,
                    f"the remote's bindings of {policy_id} lack {len(lost)} commit(s) "
                    f"({', '.join(sha[:12] for sha in lost[:5])}); kept",
                )

    def _read_bindings(self, object_id: str, where: str) -> list[Binding]:
        """One side's bindings; a side whose blob does not parse brings none (the other
        side's then stand, and both clones settle on them)."""
        data = self.blob(object_id)
        try:
            return load_bindings(data, where) if data is not None else []
        except SnapshotCorrupt:
            return []

    def _dropped(self, change: Change) -> None:
        """Their tree lacks an entry we hold: it stays; said when they held it once."""
        kind = change.place[0]
        if kind not in ("snapshot", "bindings") or change.ours is None:
            return
        base = self.entry(self.base, change.path)
        if base is not None and base[1].decode() == change.ours[1]:
            self.refuse(change.path, DROPPED, f"the remote's tree lacks this {kind} entry; kept")

    def _marker(self, change: Change) -> None:
        if change.status != "A" or change.theirs is None:
            return
        kind, key, policy_id = change.place
        if kind == "hash-marker":
            backed = self._snapshot_hash(policy_id) == key
            what = f"snapshot {policy_id} does not have hash {key[:12]}"
        else:
            backed = key in known_commits(self._final_bindings(policy_id))
            what = f"snapshot {policy_id} is not bound to commit {key[:12]}"
        if backed:
            self.edit.put(change.path, (BLOB_MODE, change.theirs[1].encode()))
        else:
            self.refuse(change.path, INVALID, f"index entry not backed by the capsule: {what}")

    def _snapshot_hash(self, policy_id: str) -> str | None:
        data = self.snapshots.get(policy_id)
        if data is None:
            entry = self.entry(self.ours, layout.snapshot_path(policy_id))
            data = self.blob(entry[1].decode()) if entry is not None else None
        document = _json_object(data) if data is not None else None
        value = document.get("hash") if document else None
        return value if isinstance(value, str) else None

    def _final_bindings(self, policy_id: str) -> list[Binding]:
        if policy_id not in self.bindings:
            entry = self.entry(self.ours, layout.binding_path(policy_id))
            self.bindings[policy_id] = (
                self._read_bindings(entry[1].decode(), policy_id) if entry is not None else []
            )
        return self.bindings[policy_id]

    # ---- a run shard ---------------------------------------------------------------------
    def runs(self) -> None:
        touched: dict[str, list[Change]] = {}
        for change in self.inspection.changes:
            if change.place[0] in ("run", "chunk", "event"):
                touched.setdefault(change.place[1], []).append(change)
            elif change.place[0] == "run-summary" and change.theirs is not None:
                # A run summary (docs/CAPSULE-LAYOUT.md, "Run summaries") is a cache that
                # readers trust wherever its tree ids match: matching ids prove which runs
                # it covers, not that its digests are true. So theirs joins only when each
                # digest is the one its run's log gives (a few blobs a run); else ours
                # stands, and what they sent is refused and reported.
                problem = _summary_problem(self.io, self.inspection.contents.get(change.theirs[1]))
                if problem is None:
                    self.edit.put(change.path, (BLOB_MODE, change.theirs[1].encode()))
                else:
                    self.refuse(change.path, INVALID, f"run summary refused: {problem}")
        for run_id, changes in sorted(touched.items()):
            self._run(run_id, changes)

    def _find_run(self, tree: bytes | None, run_id: str) -> tuple[str, bytes] | None:
        """(path, tree id) of the run in a shard's tree: the fan-out, or the earlier layout."""
        for path in (layout.run_path(run_id), run_id):
            entry = self.entry(tree, path)
            if entry is not None and entry[0] == TREE_MODE:
                return path, entry[1]
        return None

    def _run(self, run_id: str, changes: list[Change]) -> None:
        ours_at = self._find_run(self.ours, run_id)
        theirs_at = self._find_run(self.theirs, run_id)
        if theirs_at is None:
            self._run_dropped(run_id, ours_at, set(), changes)
            return
        theirs = list(self._events(theirs_at[1]))
        if ours_at is None and self.inspection.clean_under(theirs_at[0]):
            self.edit.put(theirs_at[0], (TREE_MODE, theirs_at[1]))  # a new run, whole
            return
        ours = list(self._events(ours_at[1])) if ours_at is not None else []
        merged, changed = _union_events(ours, theirs)
        if changed:
            self.refuse(
                ours_at[0] if ours_at else theirs_at[0],
                CHANGED,
                f"run {run_id}: the remote holds other bytes for {len(changed)} event(s) "
                f"({', '.join(changed[:5])}); the local ones stand",
            )
        self._run_dropped(run_id, ours_at, {event_id for event_id, _, _ in theirs}, changes)
        blobs = [blob or self.io.write_blob(data) for _event_id, blob, data in merged]
        if ours_at is not None and blobs == [blob for _event_id, blob, _data in ours]:
            return
        if blobs == [blob for _event_id, blob, _data in theirs] and self.inspection.clean_under(
            theirs_at[0]
        ):
            tree = theirs_at[1]
            target = theirs_at[0]
        else:
            tree = write_run_tree(self.io, blobs)
            target = layout.run_path(run_id)
        if ours_at is not None and ours_at[0] != target:
            self.edit.delete(ours_at[0])
        self.edit.put(target, (TREE_MODE, tree))

    def _run_dropped(
        self,
        run_id: str,
        ours_at: tuple[str, bytes] | None,
        theirs_ids: set[str],
        changes: list[Change],
    ) -> None:
        """Events the common ancestor held, we still hold and their log lacks (kept)."""
        if ours_at is None or all(change.status == "A" for change in changes):
            return  # only additions on their side: nothing was dropped
        base_at = self._find_run(self.base, run_id)
        if base_at is None:
            return
        ours_ids = {event_id for event_id, _, _ in self._events(ours_at[1])}
        lost = sorted(
            ({event_id for event_id, _, _ in self._events(base_at[1])} & ours_ids) - theirs_ids
        )
        if lost:
            self.refuse(
                ours_at[0],
                DROPPED,
                f"run {run_id}: the remote's log lacks {len(lost)} event(s) "
                f"({', '.join(lost[:5])}); kept",
            )

    def _events(self, run_tree: bytes) -> Iterator[tuple[str, bytes, bytes]]:
        """(event id, blob id, bytes) of every event the door did not refuse, in seq order."""
        refused = self.inspection.refused_ids
        entries: list[bytes] = []
        for name, (mode, object_id) in sorted(self.io.entries(run_tree).items()):
            if object_id.decode() in refused:
                continue
            if mode == TREE_MODE:
                for _name, (event_mode, blob) in sorted(self.io.entries(object_id).items()):
                    if event_mode == BLOB_MODE and blob.decode() not in refused:
                        entries.append(blob)
            elif mode == BLOB_MODE and name.endswith(".json"):
                entries.append(object_id)
        for blob in entries:
            data = self.blob(blob.decode())
            if data is None:
                continue  # over the limit or gone: nothing to merge
            event = _event(data)
            yield (str(event["event_id"]) if event else f"unparsable:{blob.decode()}"), blob, data


def _union_events(
    ours: list[tuple[str, bytes, bytes]], theirs: list[tuple[str, bytes, bytes]]
) -> tuple[list[tuple[str, bytes, bytes]], list[str]]:
    """Both logs as one, and the ids of events both hold with different content."""
    events: dict[str, tuple[tuple[str, str], bytes, bytes, dict[str, object] | None]] = {}
    changed: list[str] = []
    for side, items in (("ours", ours), ("theirs", theirs)):
        for event_id, blob, data in items:
            event = _event(data)
            if event_id in events:
                if side == "theirs" and blob != events[event_id][1]:
                    mine = events[event_id][3]
                    if mine is None or event is None or _without_seq(mine) != _without_seq(event):
                        changed.append(event_id)
                continue
            timestamp = str(event["timestamp"]) if event else "\uffff"
            events[event_id] = ((timestamp, event_id), blob, data, event)
    merged: list[tuple[str, bytes, bytes]] = []
    for seq, (key, blob, data, event) in enumerate(sorted(events.values(), key=lambda e: e[0])):
        if event is not None and event.get("seq") != seq:
            data = canonical_bytes({**event, "seq": seq})
            blob = b""  # renumbered: the caller writes the new bytes
        merged.append((key[1], blob, data))
    return merged, changed


def _same_bindings(one: list[Binding], other: list[Binding]) -> bool:
    """The same bindings, whatever their order."""

    def key(bindings: list[Binding]) -> list[tuple[str, tuple[str, ...], str]]:
        return sorted(
            (b["commit"], tuple(sorted(b["rewritten_from"])), b["bound_at"]) for b in bindings
        )

    return key(one) == key(other)


def _without_seq(event: dict[str, object]) -> dict[str, object]:
    return {key: value for key, value in event.items() if key != "seq"}


def _event(data: bytes) -> dict[str, object] | None:
    """The event's JSON object when it has the two keys the merge orders by (an event is
    opaque here: what the fields mean is the runs layer's business)."""
    value = _json_object(data)
    if value is None:
        return None
    if not isinstance(value.get("event_id"), str) or not isinstance(value.get("timestamp"), str):
        return None
    return value


def _json_object(data: bytes) -> dict[str, object] | None:
    try:
        value = parse_json_bytes(data)
    except (ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


# ---- a plain union of two trees ------------------------------------------------------------
def union_trees(
    io: ObjectIO, ours: bytes, theirs: bytes, path: tuple[str, ...], resolve: Resolver
) -> bytes:
    """Two trees as one: entries only one side holds are kept, ``resolve`` decides for a
    path both hold differently, else subtrees are united and, for two different files,
    the smaller blob id stands (so that both sides pick the same one)."""
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


def _summary_problem(io: ObjectIO, data: bytes | None) -> str | None:
    """Why a run summary from a remote cannot be taken, or None when every digest in it
    is what the log of the run tree it names gives."""
    from speckit_git_policy.store.capsule.runsummary import digest_run, parse

    summary = parse(data)
    if summary is None:
        return "not a run summary"
    for run_id, item in sorted(summary["runs"].items()):
        tree = item.get("tree") if isinstance(item, dict) else None
        try:
            actual = digest_run(io, tree.encode()) if isinstance(tree, str) else None
        except (KeyError, ValueError, SpeckitError):
            actual = None
        if actual is None or actual != item.get("digest"):
            return f"its digest of run {run_id} does not match the run's log"
    return None


# ---- rewrites across snapshots of the same content (docs/DESIGN.md §5) -------------------
def _bindings_of(io: ObjectIO, blob: bytes) -> list[Binding]:
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
                for binding in _bindings_of(io, object_id):
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
        bound = sorted(io.entries(_lookup_tree(io, root, layout.commit_index_dir(commit))))
        if len(bound) > 1:
            ids.update(bound)
    if not ids:
        return root
    lists, hashes = {}, {}
    for policy_id in sorted(ids):
        entry = io.lookup(root, layout.binding_path(policy_id).split("/"))
        lists[policy_id] = _bindings_of(io, entry[1]) if entry and entry[0] == BLOB_MODE else []
        hashes[policy_id] = _snapshot_hash(io, root, policy_id)

    def same_content(one: str, other: str) -> bool:
        return hashes[one] is not None and hashes[one] == hashes[other]

    edit = TreeEdit()
    for policy_id, bindings in follow_across(lists, same_content).items():
        edit.put(
            layout.binding_path(policy_id), (BLOB_MODE, io.write_blob(canonical_bytes(bindings)))
        )
        for sha in known_commits(bindings) - known_commits(lists[policy_id]):
            edit.put(f"{layout.commit_index_dir(sha)}/{policy_id}", (BLOB_MODE, io.write_blob(b"")))
    return edit.apply(io, root) if edit.changes else root


def _lookup_tree(io: ObjectIO, root: bytes, path: str) -> bytes | None:
    entry = io.lookup(root, path.split("/"))
    return entry[1] if entry is not None and entry[0] == TREE_MODE else None


def _snapshot_hash(io: ObjectIO, root: bytes, policy_id: str) -> str | None:
    entry = io.lookup(root, layout.snapshot_path(policy_id).split("/"))
    if entry is None or entry[0] != BLOB_MODE:
        return None
    try:
        document = parse_json_bytes(io.blob_bytes(entry[1]))
    except (ValueError, UnicodeDecodeError):
        return None
    value = document.get("hash") if isinstance(document, dict) else None
    return value if isinstance(value, str) else None
