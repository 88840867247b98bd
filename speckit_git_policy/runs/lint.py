"""The event lint: every event's snapshot reference must hold."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypedDict

from speckit_git_policy.errors import SnapshotCorrupt, SpeckitError
from speckit_git_policy.git.repo import as_repo
from speckit_git_policy.runs.events import parse_event

if TYPE_CHECKING:
    from collections.abc import Callable

    from speckit_git_policy.git.repo import GitRepo, RepoLike
    from speckit_git_policy.store import Stores
    from speckit_git_policy.store.capsule.capsule import Capsule

    # A snapshot's document, or why no copy of it verifies.
    Verdict = str | dict[str, Any]


class EventProblem(TypedDict):
    """An event whose snapshot reference does not hold (``seq`` None: the run is unreadable)."""

    run_id: str
    seq: int | None
    uri: str | None
    message: str


# ---- event lint (docs/DESIGN.md §8), for verify ------------------------------------------------
# Runs read through one cat-file --batch at a time (their trees, then their events).
RUN_GROUP = 2000


def lint_events(
    repo: RepoLike = None,
    stores: Stores | None = None,
    *,
    remember: bool = False,
    trees: dict[bytes, dict[str, tuple[int, bytes]]] | None = None,
    sizes: dict[bytes, int] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[EventProblem]:
    """Every event whose snapshot reference does not hold.

    Each event's ``policy_uri`` must name this workspace's snapshot ``policy_id``,
    which must be stored, verify, and have the event's ``policy_hash``.

    The capsule's run trees are read in bulk (``bulk.read_trees``), the runs' events a
    group at a time, then checked one by one as ever. With ``remember`` (``verify``), a
    run directory whose every event was found sound is remembered by its tree id with the
    snapshot references its events make (``CleanRuns``): the next lint checks only those
    references for it, not its events again. ``trees`` and ``sizes`` (verify's): the trees
    read (id -> entries) and the sizes of the blobs read, shared with its other checks;
    ``progress``: of the runs, done and all.
    """
    from speckit_git_policy.store import Stores
    from speckit_git_policy.store.capsule import layout
    from speckit_git_policy.store.capsule.capsule import reader_notes

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

    ref_problems: dict[Ref, list[str]] = {}

    def checked(ref: Ref) -> list[str]:
        """What is wrong with the reference (the same for every event that makes it)."""
        if ref not in ref_problems:
            ref_problems[ref] = _ref_problems(stores, snapshot, *ref)
        return ref_problems[ref]

    def holds(ref: Ref) -> bool:
        return not checked(ref)

    runs = _RunTrees(capsule, trees, sizes)
    clean = CleanRuns(git_repo) if remember else None
    pending = []
    run_ids = capsule.run_ids()
    for run_id in run_ids:
        directory = runs.directory(run_id)
        known = clean.refs(directory) if clean is not None and directory is not None else None
        if known is not None and all(holds(ref) for ref in known):
            continue  # the events under this tree were checked; their references still hold
        pending.append((run_id, directory))
    done = len(run_ids) - len(pending)
    problems: list[EventProblem] = []
    sound: dict[str, set[Ref]] = {}  # directory -> the references of its sound runs so far
    sound_runs: set[tuple[str, str]] = set()
    notes = reader_notes(git_repo)
    for start in range(0, len(pending), RUN_GROUP):
        group = pending[start : start + RUN_GROUP]
        runs.read_events([run_id for run_id, _directory in group])
        for run_id, directory in group:
            done += 1
            if progress is not None:
                progress(done, len(run_ids))
            before = len(notes)
            root = runs.roots.get(layout.run_path_digest(run_id)[:2])
            try:
                if root is not None:
                    raw = capsule.run_events_under(root, run_id)
                else:
                    raw = capsule.run_events(run_id)  # a shard ref that is broken: it says so
            except SpeckitError as e:
                problems.append({"run_id": run_id, "seq": None, "uri": None, "message": str(e)})
                continue
            refs: set[Ref] | None = set()
            for seq, data in enumerate(raw):
                messages, ref = _event_facts(run_id, seq, data)
                if ref is not None:
                    messages = [*messages, *checked(ref)]
                if messages or ref is None:
                    refs = None
                elif refs is not None:
                    refs.add(ref)
                for message in messages:
                    problems.append(
                        {
                            "run_id": run_id,
                            "seq": seq,
                            "uri": capsule.run_uri(run_id),
                            "message": message,
                        }
                    )
            if directory is not None and refs is not None and len(notes) == before:
                sound.setdefault(directory, set()).update(refs)
                sound_runs.add((directory, run_id))
    runs.read_events([])
    if clean is not None:
        for directory, refs in sound.items():
            if all((directory, run_id) in sound_runs for run_id in runs.under(directory)):
                clean.add(directory, refs)
        clean.save()
    return problems


Ref = tuple[str, str, Any]  # (policy_id, policy_uri, policy_hash) of an event


def _event_facts(run_id: str, seq: int, data: bytes) -> tuple[list[str], Ref | None]:
    """What is wrong with the event by itself, and the snapshot reference to check (None
    when it does not parse or names no snapshot: then the problems say so)."""
    try:
        event = parse_event(data, run_id, seq)
    except SnapshotCorrupt as e:
        return [e.reason], None
    problems = []
    if event.get("seq") != seq:
        problems.append(f"records seq {event.get('seq')!r} at position {seq}")
    policy_id, uri, recorded = (
        event.get("policy_id"),
        event.get("policy_uri"),
        event.get("policy_hash"),
    )
    if policy_id is None or uri is None:
        return [*problems, f"{event['type']} event names no policy snapshot"], None
    return problems, (policy_id, uri, recorded)


def _ref_problems(
    stores: Stores, snapshot: Callable[[str], Verdict], policy_id: str, uri: str, recorded: Any
) -> list[str]:
    """What is wrong with an event's snapshot reference, against the stores as they are."""
    problems = []
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


def _event_problems(
    stores: Stores, snapshot: Callable[[str], Verdict], run_id: str, seq: int, data: bytes
) -> list[str]:
    problems, ref = _event_facts(run_id, seq, data)
    return problems if ref is None else [*problems, *_ref_problems(stores, snapshot, *ref)]


class _RunTrees:
    """The run shards' trees down to the run directories, read in bulk into the capsule's
    object reader (so that ``run_ids`` and ``run_events`` read them from memory), and the
    trees and events of a group of runs likewise (``read_events``)."""

    def __init__(
        self,
        capsule: Capsule,
        trees: dict[bytes, dict[str, tuple[int, bytes]]] | None = None,
        sizes: dict[bytes, int] | None = None,
    ) -> None:
        from speckit_git_policy.store.capsule.bulk import read_trees

        self.capsule = capsule
        self.io = capsule.io
        self.reader = self.io.repo.batch_reader()
        self.roots = capsule.run_roots()
        self.trees = trees
        self.sizes = sizes
        # the shard trees, their <h[2]>/ directories and the <h[3]>/ ones below
        self.io.remember_trees(
            read_trees(self.reader, list(self.roots.values()), depth=2, known=trees)
        )
        self.blobs: dict[bytes, bytes] = {}

    def directory(self, run_id: str) -> str | None:
        """``<shard>/<h[2]>:<tree id>`` of the directory the run's log is read from (its
        events are that tree's content), or None when it is not there (the earlier
        layout's place at the shard's root, or no such run)."""
        from speckit_git_policy.store.capsule import layout
        from speckit_git_policy.store.capsule.objects import TREE_MODE

        digest = layout.run_path_digest(run_id)
        shard = digest[:2]
        root = self.roots.get(shard)
        if root is None:
            return None
        found = self.io.lookup(root, [digest[2]])
        if found is None or found[0] != TREE_MODE:
            return None
        run = self.io.lookup(found[1], [digest[3], run_id])
        if run is None or run[0] != TREE_MODE:
            return None
        return f"{shard}/{digest[2]}:{found[1].decode()}"

    def under(self, directory: str) -> list[str]:
        """Every run ``run_ids`` finds in that directory (as ``Capsule._runs_of_shard``)."""
        from speckit_git_policy.ids import is_run_id
        from speckit_git_policy.store.capsule import layout
        from speckit_git_policy.store.capsule.objects import TREE_MODE

        place, tree = directory.split(":")
        prefix = place.replace("/", "")
        found = []
        for digit, (mode, sub) in self.io.entries(tree.encode()).items():
            if mode != TREE_MODE or not layout.is_run_bucket(digit):
                continue
            for run_id, (run_mode, _run_tree) in self.io.entries(sub).items():
                if run_mode != TREE_MODE:
                    continue
                if is_run_id(run_id) and layout.run_path_digest(run_id).startswith(prefix + digit):
                    found.append(run_id)
        return found

    def read_events(self, run_ids: list[str]) -> None:
        """The runs' trees and chunk trees, then their event blobs, read in bulk and
        served from memory until the next call (``[]``: none)."""
        from speckit_git_policy.errors import GitError
        from speckit_git_policy.store.capsule import layout, runlog
        from speckit_git_policy.store.capsule.bulk import read_blobs, read_trees
        from speckit_git_policy.store.capsule.objects import BLOB_MODE, TREE_MODE

        self.blobs = {}
        self.io.use_blobs(self.blobs)
        trees = []
        for run_id in run_ids:
            root = self.roots.get(layout.run_path_digest(run_id)[:2])
            found = self.io.lookup(root, layout.run_path(run_id).split("/")) if root else None
            if found is not None and found[0] == TREE_MODE:
                trees.append(found[1])
        if not trees:
            return
        self.io.remember_trees(read_trees(self.reader, trees, depth=1, known=self.trees))
        wanted: list[bytes] = []
        for tree in trees:
            try:
                entries = runlog.event_entries(self.io, tree)
            except GitError:
                continue  # run_events says what is wrong
            wanted.extend(blob for mode, blob in entries if mode == BLOB_MODE)
        from speckit_git_policy.store.capsule.capsule import EVENT_MAX_BYTES

        self.blobs.update(read_blobs(self.reader, wanted, EVENT_MAX_BYTES, self.sizes))


class CleanRuns:
    """Run directories whose every event verify found sound, by tree id, each with the
    snapshot references (policy_id, policy_uri, policy_hash) its events make:
    ``<git common dir>/speckit/verified-runs.json``, under the tool version and the code
    that reads and checks events.

    A tree id names the exact bytes of every event under it (and their places, so their
    seqs), so "these events parse, their seqs hold, each names a snapshot" cannot go
    stale; the references are checked against the stores at every lint, and a directory
    whose tree changed (an append, a merge) is another key.
    """

    MODULES = (
        "runs/lint.py",
        "runs/events.py",
        "runs/records.py",
        "canonical.py",
        "store/capsule/capsule.py",
        "store/capsule/runlog.py",
        "store/capsule/layout.py",
        "store/capsule/objects.py",
    )

    def __init__(self, repo: GitRepo) -> None:
        import json
        import os

        from speckit_git_policy import __version__
        from speckit_git_policy.fileio import code_fingerprint

        self.identity = {
            "format": 1,
            "tool_version": __version__,
            "code": code_fingerprint(self.MODULES),
        }
        self.path = os.path.join(repo.common_dir, "speckit", "verified-runs.json")
        self.dirs: dict[str, list[Ref]] = {}
        self.kept: dict[str, list[Ref]] = {}  # what this lint found, to save
        try:
            with open(self.path, "rb") as handle:
                stored = json.loads(handle.read())
        except (OSError, ValueError):
            return
        if not isinstance(stored, dict) or stored.get("identity") != self.identity:
            return
        refs, dirs = stored.get("refs"), stored.get("dirs")
        if not isinstance(refs, list) or not isinstance(dirs, dict):
            return
        table = [
            (ref[0], ref[1], ref[2])
            for ref in refs
            if isinstance(ref, list) and len(ref) == 3 and all(isinstance(p, str) for p in ref[:2])
        ]
        if len(table) != len(refs):
            return
        for directory, indexes in dirs.items():
            if isinstance(indexes, list) and all(
                isinstance(i, int) and 0 <= i < len(table) for i in indexes
            ):
                self.dirs[directory] = [table[i] for i in indexes]

    def refs(self, directory: str) -> list[Ref] | None:
        found = self.dirs.get(directory)
        if found is not None:
            self.kept[directory] = found
        return found

    def add(self, directory: str, refs: set[Ref]) -> None:
        self.kept[directory] = sorted(refs, key=repr)

    def save(self) -> None:
        """Keep what this lint used and found (directories no longer there are dropped)."""
        import json

        from speckit_git_policy.fileio import atomic_write

        if self.kept == self.dirs:
            return
        table: dict[str, int] = {}
        dirs = {}
        for directory, refs in sorted(self.kept.items()):
            indexes = []
            for ref in refs:
                key = json.dumps(list(ref))
                indexes.append(table.setdefault(key, len(table)))
            dirs[directory] = indexes
        document = {
            "identity": self.identity,
            "refs": [json.loads(key) for key in table],
            "dirs": dirs,
        }
        try:
            atomic_write(self.path, json.dumps(document, sort_keys=True).encode(), durable=False)
        except OSError:
            pass  # a cache: the next verify reads the events again
