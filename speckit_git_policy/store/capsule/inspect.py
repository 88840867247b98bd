"""The door: what a remote sends is checked before any of it joins the local capsule
(docs/DESIGN.md §4, "Trust rules").

The checks, cheapest first, each asked of git before anything is read:

* the ref: a name the layout knows (``<workspace>/policy``, ``<workspace>/runs/<2 hex>``)
  that points at a commit (not an annotated tag, a tree or a blob) of bounded size;
* every tree entry that differs from ours (``git diff-tree``: subtrees with the same id
  are not entered): a path the layout knows (``layout.py``: top-level names, fan-out
  digits, uuid and run-id names, chunk and seq names), the right mode (a tree, or a plain
  file: no symlink, executable or submodule) and at most ``OBJECT_LIMIT`` bytes
  (``cat-file --batch-check`` gives the size; a blob over the limit is never read);
* the content of each new blob (``cat-file --batch``, only those within the limit): a
  snapshot whose hash verifies and whose ``policy_id`` is its name, a list of bindings
  of full object ids, an empty index marker, an event that is a canonical JSON object
  of its own run at its own seq.

What fails is refused, with a reason; the rest is handed to the merge, which decides what
joins (local entries win) and checks what needs both sides (index markers).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import TypedDict

from speckit_git_policy.errors import GitError
from speckit_git_policy.git import plumbing
from speckit_git_policy.git.repo import GitRepo
from speckit_git_policy.ids import is_policy_id
from speckit_git_policy.store.capsule import layout
from speckit_git_policy.store.capsule.objects import ObjectIO

# Nothing the capsule writes comes near this: a policy source is at most 1 MiB, an event at
# most 1 MiB, a tree of the fan-out at most a few hundred entries.
OBJECT_LIMIT = 1024 * 1024

TREE = "040000"
BLOB = "100644"
_HEX_DIGITS = "0123456789abcdef"
_HEX = re.compile(r"[0-9a-f]+")
_SEQ_DIGITS = re.compile(r"[0-9]{%d}" % layout.EVENT_NAME_DIGITS)
_RUN_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")

# Kinds of refusal: the ref as a whole, or one entry of its tree.
UNKNOWN_REF = "unknown-ref"
NOT_A_COMMIT = "not-a-commit"
UNSIGNED = "unsigned"
OUTSIDE_LAYOUT = "outside-layout"
BAD_MODE = "bad-mode"
TOO_BIG = "too-big"
INVALID = "invalid"
DROPPED = "dropped"
CHANGED = "changed"


class Refusal(TypedDict):
    """What the door (or the merge) kept out, and why: ``path`` None for the whole ref."""

    ref: str
    path: str | None
    kind: str
    reason: str


def refusal(ref: str, path: str | None, kind: str, reason: str) -> Refusal:
    return {"ref": ref, "path": path, "kind": kind, "reason": reason}


# ---- ref names -----------------------------------------------------------------------
class CapsuleRef:
    """A capsule ref the layout knows, named relative to ``refs/speckit/``."""

    __slots__ = ("workspace", "kind", "shard")

    def __init__(self, workspace: str, kind: str, shard: str | None) -> None:
        self.workspace = workspace
        self.kind = kind  # "policy" or "runs"
        self.shard = shard  # two hex digits for a run shard

    @property
    def name(self) -> str:
        """The local ref's full name."""
        if self.kind == "policy":
            return layout.policy_ref(self.workspace)
        return f"{layout.runs_prefix(self.workspace)}/{self.shard}"

    def __repr__(self) -> str:
        return f"CapsuleRef({self.name!r})"


def parse_ref(relative: str) -> CapsuleRef | None:
    """``default/policy`` or ``default/runs/3f`` → the ref; None for anything else."""
    parts = relative.split("/")
    if len(parts) < 2 or not _is_workspace(parts[0]):
        return None
    if len(parts) == 2 and parts[1] == "policy":
        return CapsuleRef(parts[0], "policy", None)
    if len(parts) == 3 and parts[1] == "runs" and _is_hex(parts[2], 2):
        return CapsuleRef(parts[0], "runs", parts[2])
    return None


def _is_workspace(name: str) -> bool:
    return _is_name(name, layout_max=64)


def _is_name(name: str, layout_max: int) -> bool:
    """The rule of ``ids.check_run_id`` / ``check_workspace``, as a test."""
    return (
        0 < len(name) <= layout_max
        and _RUN_ID.fullmatch(name) is not None
        and not name.startswith(".")
        and ".." not in name
        and not name.endswith((".lock", "."))
    )


def _is_hex(text: str, length: int | tuple[int, ...]) -> bool:
    lengths = (length,) if isinstance(length, int) else length
    return len(text) in lengths and _HEX.fullmatch(text) is not None


# ---- paths ---------------------------------------------------------------------------
# A place in a ref's tree: ("dir",), ("snapshot", policy_id), ("bindings", policy_id),
# ("hash-marker", hash, policy_id), ("commit-marker", commit, policy_id), ("run", run_id,
# run_dir), ("chunk", run_id, run_dir), ("event", run_id, run_dir, seq), ("run-summary",
# h2); or a str: why
# the path is outside the layout.
Place = tuple[str, ...]
RUN_SUMMARY_NAME = "summary.json"  # runsummary.SUMMARY_NAME
_POLICY_TOPS = ("snapshots", "bindings", "by-hash", "by-commit")


def classify(ref: CapsuleRef, path: str, is_tree: bool) -> Place | str:
    """Where ``path`` (an entry of the ref's tree) sits in the layout, or why it does not."""
    parts = path.split("/")
    place = _policy_place(parts) if ref.kind == "policy" else _runs_place(ref, parts)
    if isinstance(place, str):
        return place
    expects_tree = place[0] in ("dir", "run", "chunk")
    if expects_tree != is_tree:
        return f"expected a {'tree' if expects_tree else 'file'} here"
    return place


def _policy_place(parts: list[str]) -> Place | str:
    top = parts[0]
    if top not in _POLICY_TOPS:
        return f"unknown top-level name {top!r}"
    levels = parts[1 : 1 + layout.POLICY_FANOUT_LEVELS]
    if any(len(level) != 1 or level not in _HEX_DIGITS for level in levels):
        return "wrong fan-out (one hex digit per level)"
    depth = len(parts)
    if depth <= 1 + layout.POLICY_FANOUT_LEVELS:
        return ("dir",)
    name = parts[1 + layout.POLICY_FANOUT_LEVELS]
    fanned = "/".join(levels)
    if top in ("snapshots", "bindings"):
        policy_id = name.removesuffix(".json")
        if depth != 2 + layout.POLICY_FANOUT_LEVELS or not name.endswith(".json"):
            return "outside the layout"
        if not is_policy_id(policy_id):
            return f"{name!r} is not <policy_id>.json (a lowercase uuid4)"
        if layout.fanout(policy_id) != fanned:
            return "wrong fan-out for this policy id"
        return ("snapshot" if top == "snapshots" else "bindings", policy_id)
    key_lengths = (64,) if top == "by-hash" else (40, 64)
    if not _is_hex(name, key_lengths):
        return f"{name!r} is not a {'sha256 hash' if top == 'by-hash' else 'commit id'}"
    if layout.fanout(name) != fanned:
        return "wrong fan-out for this key"
    if depth == 2 + layout.POLICY_FANOUT_LEVELS:
        return ("dir",)
    leaf = parts[2 + layout.POLICY_FANOUT_LEVELS]
    if depth != 3 + layout.POLICY_FANOUT_LEVELS or not is_policy_id(leaf):
        return "outside the layout (an index entry is named by a policy id)"
    return ("hash-marker" if top == "by-hash" else "commit-marker", name, leaf)


def _runs_place(ref: CapsuleRef, parts: list[str]) -> Place | str:
    if len(parts) == 2 and layout.is_run_bucket(parts[0]) and parts[1] == RUN_SUMMARY_NAME:
        # A run directory's summary: a cache that readers check against the tree ids
        # it records (docs/CAPSULE-LAYOUT.md); a merge keeps ours, and never trusts it.
        return ("run-summary", parts[0])
    if layout.is_run_bucket(parts[0]):
        if len(parts) >= 2 and not layout.is_run_bucket(parts[1]):
            return "wrong fan-out (one hex digit per level)"
        if len(parts) <= 2:
            return ("dir",)
        run_id, rest, expected = parts[2], parts[3:], f"{ref.shard}{parts[0]}{parts[1]}"
        run_dir = "/".join(parts[:3])
    else:  # the earlier layout: a run at the shard's root
        run_id, rest, expected = parts[0], parts[1:], str(ref.shard)
        run_dir = run_id
    if not _is_name(run_id, layout_max=128):
        return f"{run_id!r} is not a run id"
    if not hashlib.sha256(run_id.encode()).hexdigest().startswith(expected):
        return f"run {run_id!r} does not belong in this shard or fan-out"
    if not rest:
        return ("run", run_id, run_dir)
    first = rest[0]
    if len(rest) == 1 and first.endswith(".json"):  # flat: an event in the run's tree
        seq = _seq(first.removesuffix(".json"))
        return ("event", run_id, run_dir, str(seq)) if seq is not None else "not an event name"
    chunk = _seq(first)
    if chunk is None or chunk % layout.EVENTS_PER_CHUNK:
        return f"{first!r} is not a chunk name"
    if len(rest) == 1:
        return ("chunk", run_id, run_dir)
    seq = _seq(rest[1].removesuffix(".json")) if rest[1].endswith(".json") else None
    if len(rest) != 2 or seq is None:
        return "outside the layout"
    if not chunk <= seq < chunk + layout.EVENTS_PER_CHUNK:
        return f"event {seq} does not belong in chunk {first}"
    return ("event", run_id, run_dir, str(seq))


def _seq(text: str) -> int | None:
    return int(text) if _SEQ_DIGITS.fullmatch(text) else None


# ---- content -------------------------------------------------------------------------
def check_content(place: Place, data: bytes) -> str | None:
    """Why the bytes of a blob at ``place`` cannot join the capsule; None when they can."""
    kind = place[0]
    if kind in ("hash-marker", "commit-marker"):
        return None if data == b"" else "an index entry must be empty"
    if kind == "snapshot":
        return _snapshot_problem(data, place[1])
    if kind == "bindings":
        return _bindings_problem(data)
    if kind == "event":
        return event_problem(place[1], int(place[3]), data)
    if kind == "run-summary":
        from speckit_git_policy.store.capsule.runsummary import parse

        return None if parse(data) is not None else "not a run summary"
    return "not a file the layout knows"


def _snapshot_problem(data: bytes, policy_id: str) -> str | None:
    from speckit_git_policy.canonical import canonical_bytes
    from speckit_git_policy.errors import SnapshotCorrupt
    from speckit_git_policy.snapshot import load_document

    try:
        document = load_document(data, policy_id)
    except SnapshotCorrupt as e:
        return e.reason
    if document["policy_id"] != policy_id:
        return f"holds policy_id {document['policy_id']}"
    if canonical_bytes(document) != data:
        return "not canonical JSON (RFC 8785), as every stored snapshot is"
    return None


def _bindings_problem(data: bytes) -> str | None:
    from speckit_git_policy.errors import SnapshotCorrupt
    from speckit_git_policy.store.bindings import load_bindings

    try:
        bindings = load_bindings(data, "bindings")
    except SnapshotCorrupt as e:
        return e.reason
    for binding in bindings:
        for sha in (binding["commit"], *binding["rewritten_from"]):
            if not plumbing.is_object_id(sha):
                return f"{sha[:80]!r} is not a full commit id"
    return None


def event_problem(run_id: str, seq: int, data: bytes) -> str | None:
    """What the append protocol checks of an event (``capsule._check_event``), as a reason."""
    from speckit_git_policy.errors import BadInput
    from speckit_git_policy.store.capsule.capsule import check_event_bytes

    try:
        check_event_bytes(run_id, seq, data)
    except BadInput as e:
        return e.message
    return None


# ---- one ref's tip against ours --------------------------------------------------------
class Change:
    """One tree entry where their tree differs from ours, as the door saw it."""

    __slots__ = ("status", "path", "place", "ours", "theirs")

    def __init__(
        self,
        status: str,
        path: str,
        place: Place,
        ours: tuple[str, str] | None,
        theirs: tuple[str, str] | None,
    ) -> None:
        self.status = status  # "A" only theirs, "D" only ours, "M" both, different
        self.path = path
        self.place = place
        self.ours = ours  # (mode, object id)
        self.theirs = theirs  # None when refused or absent


class Inspection:
    """What the door made of their tree: every accepted change, the bytes of every new
    blob it let through, and what it refused."""

    def __init__(self, ref: str) -> None:
        self.ref = ref
        self.changes: list[Change] = []
        self.contents: dict[str, bytes] = {}  # accepted new blob id -> its bytes
        self.refused: list[Refusal] = []
        self.refused_ids: set[str] = set()
        self.refused_dirs: list[str] = []  # trees refused whole: nothing under them joins

    def refuse(self, path: str, kind: str, reason: str, object_id: str | None = None) -> None:
        self.refused.append(refusal(self.ref, path, kind, reason))
        if object_id:
            self.refused_ids.add(object_id)

    def under_refused(self, path: str) -> bool:
        return any(path.startswith(prefix + "/") for prefix in self.refused_dirs)

    def clean_under(self, path: str) -> bool:
        """Nothing at or under ``path`` was refused."""
        return not any(
            r["path"] is not None and (r["path"] == path or r["path"].startswith(path + "/"))
            for r in self.refused
        )


def inspect_tree(
    repo: GitRepo, ref: CapsuleRef, ours_tree: str | None, theirs_tree: str
) -> Inspection:
    """Check every entry of ``theirs_tree`` that differs from ``ours_tree`` (all of it
    when we have none)."""
    return inspect_trees(repo, [(ref, ours_tree, theirs_tree)])[0]


def inspect_trees(
    repo: GitRepo, jobs: list[tuple[CapsuleRef, str | None, str]]
) -> list[Inspection]:
    """``inspect_tree`` for several refs at once: three git calls whatever the number of
    refs and the size of their differences (``diff-tree``, ``cat-file --batch-check``,
    ``cat-file --batch``)."""
    if not jobs:
        return []
    empty = plumbing.empty_tree(repo) if any(ours is None for _r, ours, _t in jobs) else ""
    pairs = [(ours or empty, theirs) for _ref, ours, theirs in jobs]
    if len(pairs) == 1:
        diffs = {pairs[0]: plumbing.diff_trees(repo, *pairs[0])}
    else:
        diffs = plumbing.diff_tree_pairs(repo, pairs)
    inspections = [Inspection(ref.name) for ref, _ours, _theirs in jobs]
    pending: list[tuple[Inspection, Change, str]] = []
    for (ref, _ours, _theirs), pair, inspection in zip(jobs, pairs, inspections):
        pending.extend(_classify_changes(ref, inspection, diffs[pair]))
    infos = plumbing.object_infos(repo, [object_id for _i, _change, object_id in pending])
    wanted: list[tuple[Inspection, Change, str]] = []
    for (inspection, change, object_id), info in zip(pending, infos):
        if _sized(inspection, change, object_id, info):
            wanted.append((inspection, change, object_id))
    blobs = [
        (inspection, change, object_id)
        for inspection, change, object_id in wanted
        if change.place[0] not in ("dir", "run", "chunk")
        and not inspection.under_refused(change.path)
    ]
    contents = plumbing.read_objects(repo, [object_id for _i, _change, object_id in blobs])
    read = {
        object_id: info.data
        for (_i, _change, object_id), info in zip(blobs, contents)
        if info is not None and info.data is not None
    }
    for inspection, change, object_id in wanted:
        if inspection.under_refused(change.path):
            continue
        if change.place[0] in ("dir", "run", "chunk"):
            inspection.changes.append(change)
            continue
        data = read.get(object_id)
        problem = "could not be read" if data is None else check_content(change.place, data)
        if problem is not None:
            inspection.refuse(change.path, INVALID, problem, object_id)
            continue
        assert data is not None
        inspection.contents[object_id] = data
        inspection.changes.append(change)
    return inspections


def _classify_changes(
    ref: CapsuleRef, inspection: Inspection, raw: list[tuple[str, str, str, str, str, str]]
) -> list[tuple[Inspection, Change, str]]:
    """Names and modes of one ref's differing entries; the changes whose new object needs
    its size asked."""
    pending: list[tuple[Inspection, Change, str]] = []
    for status, old_mode, new_mode, old_id, new_id, path in raw:
        if inspection.under_refused(path):
            continue
        ours = (old_mode, old_id) if status in "DMT" and old_mode != "000000" else None
        theirs = (new_mode, new_id) if status in "AMT" and new_mode != "000000" else None
        if theirs is None:
            place = classify(ref, path, old_mode == TREE)
            known = place if not isinstance(place, str) else ("unknown",)
            inspection.changes.append(Change("D", path, known, ours, None))
            continue
        is_tree = new_mode == TREE
        place = classify(ref, path, is_tree)
        if isinstance(place, str):
            inspection.refuse(path, OUTSIDE_LAYOUT, place, new_id)
            if is_tree:
                inspection.refused_dirs.append(path)
            continue
        if new_mode not in (TREE, BLOB):
            inspection.refuse(
                path, BAD_MODE, f"mode {new_mode} (only plain files and trees)", new_id
            )
            continue
        change = Change("A" if ours is None else "M", path, place, ours, theirs)
        pending.append((inspection, change, new_id))
    return pending


def _sized(
    inspection: Inspection, change: Change, object_id: str, info: plumbing.ObjectInfo | None
) -> bool:
    """Whether the new object is of the kind its mode says and within the limit (refused,
    with everything under it for a tree, when not)."""
    expected = "tree" if change.theirs is not None and change.theirs[0] == TREE else "blob"
    if info is None:
        inspection.refuse(change.path, INVALID, "object missing from what was fetched", object_id)
    elif info.kind != expected:
        inspection.refuse(
            change.path, BAD_MODE, f"a {info.kind} where a {expected} belongs", object_id
        )
    elif info.size > OBJECT_LIMIT:
        inspection.refuse(
            change.path,
            TOO_BIG,
            f"{info.size} bytes, over the limit of {OBJECT_LIMIT}",
            object_id,
        )
    else:
        return True
    if expected == "tree":
        inspection.refused_dirs.append(change.path)
    return False


# ---- a local ref's whole tree (verify) ------------------------------------------------------
def local_problems(
    repo: GitRepo,
    io: ObjectIO,
    ref: CapsuleRef,
    tree: bytes,
    trees: Mapping[bytes, dict[str, tuple[int, bytes]]] | None = None,
    sizes: Mapping[bytes, int] | None = None,
) -> list[Refusal]:
    """What in a local capsule ref's tree the door would refuse: entries outside the layout,
    wrong modes, objects over the limit, bindings and index entries that do not parse.
    Snapshots and events are named and sized here (their sizes asked of git, never their
    bytes read); their content is ``verify``'s other checks. Walks the tree in process (the
    trees are the ones every reader reads), from ``trees`` (read in bulk) where it has them;
    ``sizes``: of the blobs read already (id -> size), not asked again."""
    problems: list[Refusal] = []
    to_read: dict[bytes, tuple[str, Place]] = {}
    sized: dict[bytes, str] = {}
    stack: list[tuple[str, bytes]] = [("", tree)]
    while stack:
        prefix, tree_id = stack.pop()
        try:
            known = trees.get(tree_id) if trees is not None else None
            entries = known if known is not None else io.entries(tree_id)
        except GitError as e:
            problems.append(refusal(ref.name, prefix or None, INVALID, str(e)))
            continue
        for name, (mode, object_id) in sorted(entries.items()):
            path = f"{prefix}/{name}" if prefix else name
            octal = f"{mode:06o}"
            place = classify(ref, path, octal == TREE)
            if isinstance(place, str):
                problems.append(refusal(ref.name, path, OUTSIDE_LAYOUT, place))
            elif octal not in (TREE, BLOB):
                problems.append(refusal(ref.name, path, BAD_MODE, f"mode {octal}"))
            elif octal == TREE:
                stack.append((path, object_id))
            elif place[0] in ("bindings", "hash-marker", "commit-marker"):
                to_read[object_id] = (path, place)
            else:
                sized[object_id] = path
    contents = io.read_blobs(list(to_read), OBJECT_LIMIT)
    verdicts = _blob_sizes(io, list(sized), OBJECT_LIMIT, sizes or {})
    for object_id, path in sized.items():
        why = verdicts[object_id]
        if why is not None:
            problems.append(refusal(ref.name, path, TOO_BIG if "limit" in why else INVALID, why))
    for object_id, (path, place) in to_read.items():
        found = contents[object_id]
        problem = found if isinstance(found, str) else check_content(place, found)
        if problem is not None:
            problems.append(refusal(ref.name, path, INVALID, problem))
    return sorted(problems, key=lambda item: item["path"] or "")


def _blob_sizes(
    io: ObjectIO, blob_ids: list[bytes], limit: int, known: Mapping[bytes, int]
) -> dict[bytes, str | None]:
    """Why each blob would not be read (``ObjectIO.read_blobs``' words: "missing", "not a
    blob (a tree)", "N bytes, over the limit of L"), None for one that would: its type and
    size asked of git (one pipelined ``cat-file --batch-check``), its bytes never read;
    ``known``: blobs read already, id -> size."""
    found: dict[bytes, str | None] = {
        blob_id: None for blob_id in blob_ids if known.get(blob_id, limit + 1) <= limit
    }
    asked = [blob_id for blob_id in blob_ids if blob_id not in found]
    names = [blob_id.decode("ascii", "replace") for blob_id in asked]
    for blob_id, info in zip(asked, io.repo.batch_reader().info(names)):
        if info is None:
            found[blob_id] = "missing"
        elif info.kind != "blob":
            found[blob_id] = f"not a blob (a {info.kind})"
        elif info.size > limit:
            found[blob_id] = f"{info.size} bytes, over the limit of {limit}"
        else:
            found[blob_id] = None
    return found
