"""The capsule: snapshots, their bindings to commits, the indexes that make lookups
cheap, and run event logs, all stored as git objects under ``refs/speckit/<ws>/``.

Layout and reasons: docs/CAPSULE-LAYOUT.md and ``capsule_layout.py``. Every write
builds the new objects first and then moves one ref with compare-and-swap
(``capsule_git.RefUpdater``), so concurrent writers never lose each other's work
and a killed writer never leaves a ref pointing at a missing object.
"""

from __future__ import annotations

import os

from speckit_git_policy import clock
from speckit_git_policy.canonical import canonical_bytes, parse_json_bytes
from speckit_git_policy.errors import (
    BadInput,
    CapsuleRefBroken,
    GitError,
    NotFound,
    SnapshotCorrupt,
    SpeckitError,
)
from speckit_git_policy.git.plumbing import is_object_id
from speckit_git_policy.git.repo import GitRepo
from speckit_git_policy.ids import (
    check_policy_id_prefix,
    check_run_id,
    check_workspace,
    is_policy_id,
    is_run_id,
)
from speckit_git_policy.store import bindings as binding_ops
from speckit_git_policy.store.capsule import layout
from speckit_git_policy.store.capsule import runlog as run_log
from speckit_git_policy.store.capsule.objects import (
    BLOB_MODE,
    TREE_MODE,
    ObjectIO,
    RefUpdater,
    TreeEdit,
    capsule_repo,
    commit_identity,
    ref_bytes,
)

# typing for type checkers only: the git hooks import this module.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import Any, TypedDict

    from speckit_git_policy.store.bindings import Binding

SNAPSHOT_MAX_BYTES = 16 * 1024 * 1024
EVENT_MAX_BYTES = 1024 * 1024
BINDINGS_MAX_BYTES = 1024 * 1024


def reader_notes(repo: GitRepo) -> list[str]:
    """What the capsule's readers skipped because it does not parse (a clone or a remote
    wrote something outside the layout): the CLI says it on stderr, ``verify`` reports it."""
    notes = repo.memo.get("capsule_notes")
    if not isinstance(notes, list):
        notes = repo.memo["capsule_notes"] = []
    return notes


def note(repo: GitRepo, message: str) -> None:
    notes = reader_notes(repo)
    if message not in notes:
        notes.append(message)


if TYPE_CHECKING:

    class RunSummary(TypedDict):
        """A run's length and the bytes of its first and last events (``run_summaries``)."""

        run_id: str
        events: int
        first: bytes
        last: bytes

else:
    RunSummary = dict


class Capsule:
    """One workspace's capsule in one repository."""

    def __init__(self, repo: GitRepo, workspace: str = layout.DEFAULT_WORKSPACE) -> None:
        self.repo = repo
        self.workspace = check_workspace(workspace)
        self._io: ObjectIO | None = None
        self._refs: RefUpdater | None = None
        self._identity: bytes | None = None

    @classmethod
    def for_repo(cls, repo: GitRepo) -> Capsule | None:
        """The configured capsule, or None when ``speckit.capsule`` is false (rollback)."""
        if not repo.config_bool("speckit.capsule", True):
            return None
        capsule = cls(repo, repo.config_get("speckit.workspace") or layout.DEFAULT_WORKSPACE)
        capsule.absorb_fetched()
        return capsule

    def absorb_fetched(self) -> None:
        """Merge what plain ``git fetch`` brought into ``refs/speckit-remotes/`` (``sync.absorb``:
        one read of the ref files when nothing is new). Never fails the caller: what goes
        wrong, and what the door refused, becomes a note."""
        if self.repo.memo.get("capsule_absorbed"):
            return
        self.repo.memo["capsule_absorbed"] = True
        from speckit_git_policy.store.capsule import sync

        try:
            result = sync.absorb(self.repo)
        except SpeckitError as e:
            note(self.repo, f"the capsule fetched by git was not merged: {e}")
            return
        for item in (result or {}).get("refused", []):  # type: ignore[attr-defined]
            where = f"{item['ref']}:{item['path']}" if item["path"] else item["ref"]
            note(self.repo, f"refused from the fetched capsule: {where}: {item['reason']}")

    # ---- plumbing ----------------------------------------------------------------
    @property
    def io(self) -> ObjectIO:
        if self._io is None:
            self._io = ObjectIO(capsule_repo(self.repo))
        return self._io

    @property
    def refs(self) -> RefUpdater:
        if self._refs is None:
            self._refs = RefUpdater(capsule_repo(self.repo))
        return self._refs

    def _root(self, ref: str) -> bytes | None:
        """Tree of the commit ``ref`` points at, None when the ref does not exist;
        CapsuleRefBroken when it names an object that is missing or not a commit."""
        commit_id = self.refs.read(ref_bytes(ref))
        try:
            return self._tree_of(commit_id)
        except GitError as e:
            assert commit_id is not None
            raise CapsuleRefBroken(
                ref, os.path.join(self.repo.common_dir, ref), f"points at {commit_id.decode()}: {e}"
            ) from e

    def _tree_of(self, commit_id: bytes | None) -> bytes | None:
        return self.io.commit_tree(commit_id) if commit_id else None

    def _commit(self, tree: bytes, parents: list[bytes | None], message: str) -> bytes:
        return self.io.write_commit(tree, [p for p in parents if p], message, self.identity)

    @property
    def identity(self) -> bytes:
        if self._identity is None:
            self._identity = commit_identity(capsule_repo(self.repo))
        return self._identity

    @property
    def empty_blob(self) -> bytes:
        """Index entries are markers: their name is the data, so they share one blob.
        Written (or freshened) on every use: an id remembered from an earlier write
        may since have been pruned as garbage if that write lost."""
        return self.io.write_blob(b"")

    def _names(self, tree: bytes | None, path: str) -> list[str]:
        """The policy ids an index directory (``by-hash``, ``by-commit``) names."""
        try:
            entry = self.io.lookup(tree, path.split("/"))
            if entry is None or entry[0] != TREE_MODE:
                return []
            names = self.io.entries(entry[1])
        except GitError as e:
            note(self.repo, f"capsule index {path} is unreadable: {e}")
            return []
        return sorted(name for name, (mode, _) in names.items() if is_policy_id(name))

    def _read(self, blob_id: bytes, limit: int, what: str) -> bytes | None:
        """A blob's bytes, never reading one over ``limit`` whole; None (and a note) when
        it cannot be read."""
        found = self.io.read_blobs([blob_id], limit)[blob_id]
        if isinstance(found, str):
            note(self.repo, f"{what} ({blob_id.decode()[:12]}) skipped: {found}")
            return None
        return found

    def _fanned_out_names(self, root: bytes | None, top: str, prefix: str = "") -> list[str]:
        """Every name in the leaves of ``top``'s fan-out (``snapshots``, ``bindings``,
        ``by-commit``),
        in sorted order; only the branches that ``prefix`` allows are read, so a
        prefix of ``POLICY_FANOUT_LEVELS`` digits or more reads one leaf."""
        try:
            entry = self.io.lookup(root, [top])
            trees = [entry[1]] if entry is not None and entry[0] == TREE_MODE else []
            for level in range(layout.POLICY_FANOUT_LEVELS):
                trees = [
                    object_id
                    for tree in trees
                    for name, (mode, object_id) in sorted(self.io.entries(tree).items())
                    if mode == TREE_MODE and (level >= len(prefix) or name == prefix[level])
                ]
            leaves = [self.io.entries(tree) for tree in trees]
        except GitError as e:
            note(self.repo, f"capsule {top}/ is unreadable: {e}")
            return []
        names = []
        for leaf in leaves:
            for name, (mode, _object_id) in sorted(leaf.items()):
                if _leaf_in_layout(top, name, mode):
                    names.append(name)
                else:
                    note(self.repo, f"capsule {top}/: {name!r} skipped (outside the layout)")
        return names

    # ---- addressing ----------------------------------------------------------------
    @property
    def policy_ref(self) -> str:
        return layout.policy_ref(self.workspace)

    def policy_uri(self, policy_id: str) -> str:
        return layout.policy_uri(self.workspace, policy_id)

    def run_uri(self, run_id: str) -> str:
        return layout.run_uri(self.workspace, run_id)

    def resolve(self, uri: str) -> dict[str, str]:
        """URI -> {"uri", "ref", "object", "path"}. For a snapshot the object is the
        blob of its bytes; for a run it is the run's tree (its chunks of event blobs)."""
        parsed = layout.parse_uri(uri)
        if parsed.workspace != self.workspace:
            raise BadInput(
                f"{uri!r} names workspace {parsed.workspace!r}, but this repository's "
                f"capsule workspace is {self.workspace!r} (git config speckit.workspace)"
            )
        if parsed.kind == "policy":
            ref, path = self.policy_ref, layout.snapshot_path(parsed.ident)
        else:
            ref = layout.run_ref(self.workspace, parsed.ident)
            found = self._run_tree(self._root(ref), parsed.ident)
            if found is None:
                raise NotFound(f"{uri}: not in the capsule")
            return {"uri": str(parsed), "ref": ref, "object": found[1].decode(), "path": found[0]}
        entry = self.io.lookup(self._root(ref), path.split("/"))
        if entry is None:
            raise NotFound(f"{uri}: not in the capsule")
        return {"uri": str(parsed), "ref": ref, "object": entry[1].decode(), "path": path}

    # ---- snapshots ---------------------------------------------------------------------
    def put_snapshot(
        self,
        policy_id: str,
        content_hash: str,
        created_at: str,
        data: bytes,
        *,
        replace: bool = False,
        bind: str | None = None,
        bound_at: str | None = None,
        built: bool = False,
    ) -> str:
        """Store the snapshot's exact bytes and index its hash; return the blob id.

        Storing the same bytes again changes nothing. Different bytes under an id
        already stored are refused when the stored copy verifies (snapshots are
        immutable); a stored copy that fails its hash is replaced, which is how
        ``verify --repair`` restores it from a checked FS copy. ``replace`` forces it.
        ``bind`` (a commit SHA) also binds it, as ``add_binding`` would, in the same
        capsule commit: a capture of new content is one commit and one compare-and-swap.
        ``built``: the caller made ``data`` from these very id, hash and time (a capture,
        ``snapshot.document_bytes_of``), so it is not parsed again to check that it says so.
        """
        _check_snapshot(policy_id, content_hash, created_at, data, parse=not built)
        if bind is not None:
            self._require_commit(layout.check_commit_sha(bind))
        blob = self.io.write_blob(data)

        def compute(old: bytes | None) -> bytes | None:
            root = self._tree_of(old)
            edit = TreeEdit()
            verb = self._stage_snapshot(edit, root, policy_id, content_hash, blob, replace)
            parents = [old]
            message = f"{verb} snapshot {policy_id}"
            if bind is not None:
                bindings = self._bindings_in(root, policy_id) if verb != "add" else []
                if not binding_ops.is_bound(bindings, bind):
                    bindings = binding_ops.bind(bindings, bind, bound_at or clock.now())
                    self._stage_bindings(edit, policy_id, bindings, [bind])
                    parents.append(bind.encode())
                    message = f"{verb or 'keep'} snapshot {policy_id}, bind it to {bind}"
            if not edit.changes:
                return None
            return self._commit(edit.apply(self.io, root), parents, message)

        self.refs.update(ref_bytes(self.policy_ref), compute)
        return blob.decode()

    def _stage_snapshot(
        self,
        edit: TreeEdit,
        root: bytes | None,
        policy_id: str,
        content_hash: str,
        blob: bytes,
        replace: bool,
    ) -> str | None:
        """Stage the snapshot's blob and hash-index entry in ``edit``: "add" or "replace",
        or None when the capsule holds these bytes already (see ``put_snapshot``)."""
        path = layout.snapshot_path(policy_id)
        existing = self.io.lookup(root, path.split("/"))
        if existing is not None and existing[1] == blob:
            return None
        if existing is not None:
            stale = self.io.read_blobs([existing[1]], SNAPSHOT_MAX_BYTES)[existing[1]]
            stale = stale if isinstance(stale, bytes) else b""
            if not replace and _verifies(stale, policy_id):
                raise BadInput(
                    f"snapshot {policy_id} is already in the capsule with different bytes "
                    "(snapshots are immutable)"
                )
            stale_hash = _hash_of(stale)
            if stale_hash and stale_hash != content_hash:
                edit.delete(f"{layout.hash_index_dir(stale_hash)}/{policy_id}")
        edit.put(path, (BLOB_MODE, blob))
        edit.put(f"{layout.hash_index_dir(content_hash)}/{policy_id}", (BLOB_MODE, self.empty_blob))
        return "replace" if existing is not None else "add"

    def get_snapshot(self, policy_id: str) -> bytes | None:
        found = self.read_snapshot(policy_id)
        return found if isinstance(found, bytes) else None

    def read_snapshot(self, policy_id: str) -> bytes | str | None:
        """The snapshot's stored bytes; a str saying why they cannot be read (not a file,
        over the size limit); None when the capsule does not hold it."""
        layout.check_policy_id(policy_id)
        try:
            entry = self._snapshot_entry(self._root(self.policy_ref), policy_id)
        except GitError as e:
            return f"unreadable: {e}"
        if entry is None:
            return None
        if entry[0] != BLOB_MODE:
            return "not a file in the capsule's tree"
        found = self.io.read_blobs([entry[1]], SNAPSHOT_MAX_BYTES)[entry[1]]
        return found if isinstance(found, bytes) else f"cannot be read: {found}"

    def _snapshot_entry(self, root: bytes | None, policy_id: str) -> tuple[int, bytes] | None:
        return self.io.lookup(root, layout.snapshot_path(policy_id).split("/"))

    def snapshot_ids(self) -> list[str]:
        return self.snapshot_ids_in(self._root(self.policy_ref))

    def ids_with_prefix(self, prefix: str) -> list[str]:
        """Ids starting with ``prefix``: a prefix shorter than the fan-out reads every
        leaf below it (not a hot lookup), a longer one a single leaf."""
        check_policy_id_prefix(prefix)
        names = self._fanned_out_names(self._root(self.policy_ref), "snapshots", prefix)
        ids = [layout.policy_id_from_name(name) for name in names]
        return [i for i in ids if i.startswith(prefix)]

    def ids_for_hash(self, content_hash: str) -> list[str]:
        """Every snapshot of that content, oldest first: one path of small trees, no
        scan (and no snapshot read unless two clones stored the same content)."""
        layout.check_hash(content_hash)
        root = self._root(self.policy_ref)
        return self._oldest_first(root, self._names(root, layout.hash_index_dir(content_hash)))

    def _oldest_first(self, root: bytes | None, ids: list[str]) -> list[str]:
        if len(ids) < 2:
            return ids  # nothing to order: spare reading the snapshot

        def created_at(policy_id: str) -> str:
            entry = self._snapshot_entry(root, policy_id)
            data = (
                self._read(entry[1], SNAPSHOT_MAX_BYTES, f"snapshot {policy_id}") if entry else None
            )
            document = _json_object(data) if data is not None else None
            value = document.get("created_at") if document else None
            return value if isinstance(value, str) else ""

        return sorted(ids, key=lambda i: (created_at(i), i))

    def iter_snapshot_blobs(self) -> Iterator[tuple[str, str, bytes]]:
        """(policy_id, blob id, bytes) of every stored snapshot, for ``verify``."""
        root = self._root(self.policy_ref)
        for policy_id in self.snapshot_ids_in(root):
            entry = self._snapshot_entry(root, policy_id)
            data = (
                self._read(entry[1], SNAPSHOT_MAX_BYTES, f"snapshot {policy_id}") if entry else None
            )
            if entry is not None and data is not None:
                yield policy_id, entry[1].decode(), data

    def snapshot_ids_in(self, root: bytes | None) -> list[str]:
        return [
            layout.policy_id_from_name(name) for name in self._fanned_out_names(root, "snapshots")
        ]

    # ---- bindings ----------------------------------------------------------------------
    def add_binding(self, policy_id: str, commit: str, bound_at: str | None = None) -> bool:
        """Bind a commit that carries the snapshot's content; False if already bound.

        The commit becomes a parent of the capsule commit that records the binding,
        so it stays reachable (gc keeps it, push carries it) even after a rebase.
        ``bound_at`` (default: now) is given when the filesystem log recorded the bind first.
        """
        layout.check_policy_id(policy_id)
        self._require_commit(layout.check_commit_sha(commit))
        added = False

        def compute(old: bytes | None) -> bytes | None:
            nonlocal added
            root = self._tree_of(old)
            if self._snapshot_entry(root, policy_id) is None:
                raise NotFound(f"snapshot {policy_id} is not in the capsule")
            bindings = self._bindings_in(root, policy_id)
            added = not binding_ops.is_bound(bindings, commit)
            if not added:
                return None
            bindings = binding_ops.bind(bindings, commit, bound_at or clock.now())
            edit = TreeEdit()
            self._stage_bindings(edit, policy_id, bindings, [commit])
            tree = edit.apply(self.io, root)
            return self._commit(tree, [old, commit.encode()], f"bind {policy_id} to {commit}")

        self.refs.update(ref_bytes(self.policy_ref), compute)
        return added

    def rewrite(
        self, mapping: dict[str, str], via: dict[str, list[str]] | None = None
    ) -> list[str]:
        """Follow rewritten commits (post-rewrite): each binding on an old SHA moves
        to the new one and keeps the old as ``rewritten_from`` (then ``via[old]``, the
        commits a chain of rewrites went through), in every snapshot that binds it; the
        old commit stays reachable through the capsule. Returns the affected policy ids."""
        pairs = [
            (layout.check_commit_sha(o), layout.check_commit_sha(n)) for o, n in mapping.items()
        ]
        pairs = [(o, n) for o, n in pairs if o != n]
        chains = {
            old: [layout.check_commit_sha(sha) for sha in (via or {}).get(old, [])]
            for old, _ in pairs
        }
        affected: list[str] = []

        def compute(old: bytes | None) -> bytes | None:
            root = self._tree_of(old)
            changed: dict[str, list[Binding]] = {}
            new_commits: list[str] = []
            for old_sha, new_sha in pairs:
                for policy_id in self._names(root, layout.commit_index_dir(old_sha)):
                    bindings = changed.get(policy_id) or self._bindings_in(root, policy_id)
                    moved = binding_ops.move(bindings, old_sha, new_sha, chains[old_sha])
                    if moved is not None:
                        self._require_commit(new_sha)
                        changed[policy_id] = moved
                        new_commits.append(new_sha)
            affected[:] = sorted(changed)
            if not changed:
                return None
            edit = TreeEdit()
            for policy_id, bindings in changed.items():
                self._stage_bindings(edit, policy_id, bindings, new_commits)
            tree = edit.apply(self.io, root)
            parents = [old, *(c.encode() for c in sorted(set(new_commits)))]
            return self._commit(tree, parents, f"rewrite {len(pairs)} commit(s)")

        self.refs.update(ref_bytes(self.policy_ref), compute)
        return affected

    def record_history(self, commit: str, originals: list[str]) -> list[str]:
        """Record ``originals`` in ``rewritten_from`` of every binding of ``commit``: a
        squash or fixup folded them into it, but their content differed, so they stay
        bound to their own snapshots (docs/DESIGN.md §5). Returns the affected policy ids."""
        layout.check_commit_sha(commit)
        olds = [layout.check_commit_sha(sha) for sha in originals]
        affected: list[str] = []

        def compute(old: bytes | None) -> bytes | None:
            root = self._tree_of(old)
            edit = TreeEdit()
            affected.clear()
            for policy_id in self._names(root, layout.commit_index_dir(commit)):
                recorded = binding_ops.record_history(
                    self._bindings_in(root, policy_id), commit, olds
                )
                if recorded is None:
                    continue
                affected.append(policy_id)
                self._stage_bindings(edit, policy_id, recorded, [])
                for sha in olds:  # "is this commit bound?" finds what it was folded into
                    edit.put(
                        f"{layout.commit_index_dir(sha)}/{policy_id}", (BLOB_MODE, self.empty_blob)
                    )
            if not affected:
                return None
            return self._commit(
                edit.apply(self.io, root), [old], f"fold {len(olds)} commit(s) into {commit}"
            )

        self.refs.update(ref_bytes(self.policy_ref), compute)
        return affected

    def merge_bindings(self, policy_id: str, bindings: list[Binding]) -> bool:
        """Unite ``bindings`` (the filesystem log's, say) with the capsule's, by the
        binding algebra's ``merge``: a rewrite recorded on one side is carried into the
        other. False when the capsule had them all already."""
        layout.check_policy_id(policy_id)
        commits = sorted(binding_ops.known_commits(bindings))
        for commit in commits:
            layout.check_commit_sha(commit)
        changed = False

        def compute(old: bytes | None) -> bytes | None:
            nonlocal changed
            root = self._tree_of(old)
            if self._snapshot_entry(root, policy_id) is None:
                raise NotFound(f"snapshot {policy_id} is not in the capsule")
            ours = self._bindings_in(root, policy_id)
            merged = binding_ops.merge(ours, bindings)
            changed = merged != ours
            if not changed:
                return None
            # The commits the capsule did not know: index them, keep them reachable.
            new = binding_ops.known_commits(merged) - binding_ops.known_commits(ours)
            present = [c for c in commits if c in new and self.io.is_commit(c.encode())]
            edit = TreeEdit()
            self._stage_bindings(edit, policy_id, merged, [b["commit"] for b in merged])
            for commit in present:
                edit.put(
                    f"{layout.commit_index_dir(commit)}/{policy_id}", (BLOB_MODE, self.empty_blob)
                )
            tree = edit.apply(self.io, root)
            parents = [old, *(c.encode() for c in present)]
            return self._commit(tree, parents, f"bindings of {policy_id} from .speckit/bindings")

        self.refs.update(ref_bytes(self.policy_ref), compute)
        return changed

    def _stage_bindings(
        self, edit: TreeEdit, policy_id: str, bindings: list[Binding], commits: list[str]
    ) -> None:
        edit.put(
            layout.binding_path(policy_id),
            (BLOB_MODE, self.io.write_blob(canonical_bytes(bindings))),
        )
        bound = {b["commit"] for b in bindings}
        for commit in commits:
            if commit in bound:
                edit.put(
                    f"{layout.commit_index_dir(commit)}/{policy_id}", (BLOB_MODE, self.empty_blob)
                )

    def _require_commit(self, commit: str) -> None:
        if not self.io.is_commit(commit.encode()):
            raise NotFound(f"{commit}: no such commit in this repository")

    def _bindings_in(self, root: bytes | None, policy_id: str) -> list[Binding]:
        """The snapshot's bindings; a bindings blob that does not parse counts as none
        (noted: ``verify`` reports it), so that one bad entry blocks no reader or writer."""
        where = f"{self.policy_uri(policy_id)} bindings"
        try:
            entry = self.io.lookup(root, layout.binding_path(policy_id).split("/"))
        except GitError as e:
            note(self.repo, f"{where} skipped: {e}")
            return []
        if entry is None:
            return []
        data = self._read(entry[1], BINDINGS_MAX_BYTES, where) if entry[0] == BLOB_MODE else None
        if data is None:
            return []
        try:
            return binding_ops.load_bindings(data, where)
        except SnapshotCorrupt as e:
            note(self.repo, f"{where} skipped: {e.reason}")
            return []

    def bindings(self, policy_id: str) -> list[Binding]:
        """[{"commit", "rewritten_from", "bound_at"}] in bind order."""
        layout.check_policy_id(policy_id)
        root = self._root(self.policy_ref)
        if self._snapshot_entry(root, policy_id) is None:
            raise NotFound(f"snapshot {policy_id} is not in the capsule")
        return self._bindings_in(root, policy_id)

    def all_bindings(self) -> dict[str, list[Binding]]:
        """Every snapshot's bindings: reads one blob per bound snapshot."""
        root = self._root(self.policy_ref)
        result: dict[str, list[Binding]] = {}
        for name in self._fanned_out_names(root, "bindings"):
            policy_id = layout.policy_id_from_name(name)
            result[policy_id] = self._bindings_in(root, policy_id)
        return result

    def policy_for_commit(self, commit: str) -> str | None:
        """The snapshot bound to ``commit`` (also as a rewritten-from SHA); when two
        clones bound the same commit independently, the oldest snapshot wins."""
        layout.check_commit_sha(commit)
        root = self._root(self.policy_ref)
        ids = self._names(root, layout.commit_index_dir(commit))
        return self._oldest_first(root, ids)[0] if ids else None

    def policies_for_commit(self, commit: str) -> list[str]:
        """Every snapshot bound to ``commit`` (or rewritten from it), from the by-commit index."""
        layout.check_commit_sha(commit)
        return sorted(self._names(self._root(self.policy_ref), layout.commit_index_dir(commit)))

    # ---- in bulk: many snapshots or bindings, one commit (backfill) -----------------------
    def put_snapshots(self, snapshots: list[tuple[str, str, str, bytes]]) -> int:
        """``put_snapshot`` for many (policy_id, hash, created_at, bytes) at once: every
        object first, then one capsule commit and one compare-and-swap, whatever their
        number. Returns how many the capsule did not hold yet."""
        for policy_id, content_hash, created_at, data in snapshots:
            _check_snapshot(policy_id, content_hash, created_at, data)
        added = 0

        def compute(old: bytes | None) -> bytes | None:
            nonlocal added
            root = self._tree_of(old)
            edit = TreeEdit()
            staged = [
                self._stage_snapshot(
                    edit, root, policy_id, content_hash, self.io.write_blob(data), False
                )
                for policy_id, content_hash, _created_at, data in snapshots
            ]
            added = sum(verb is not None for verb in staged)
            if not added:
                return None
            return self._commit(edit.apply(self.io, root), [old], f"add {added} snapshot(s)")

        self.refs.update(ref_bytes(self.policy_ref), self._in_one_pack(compute))
        return added

    def add_bindings(
        self,
        pairs: list[tuple[str, str]],
        bound_at: str | None = None,
        reachable: list[str] | None = None,
    ) -> list[tuple[str, str]]:
        """``add_binding`` for many (policy_id, commit) pairs, in one capsule commit and one
        compare-and-swap; returns the pairs that were not bound yet.

        The bound commits must stay reachable through the capsule, as with
        ``add_binding``: ``reachable`` names commits that reach every one of them (the
        caller knows the history: a backfill passes the newest of what it binds), which
        become the capsule commit's parents instead of hundreds; by default every
        commit bound is a parent.
        """
        checked = [(layout.check_policy_id(p), layout.check_commit_sha(c)) for p, c in pairs]
        parents = [layout.check_commit_sha(c) for c in (reachable or [])]
        for commit in sorted({c for _, c in checked} | set(parents)):
            self._require_commit(commit)
        stamp = bound_at or clock.now()
        added: list[tuple[str, str]] = []

        def compute(old: bytes | None) -> bytes | None:
            root = self._tree_of(old)
            by_policy: dict[str, list[Binding]] = {}
            new: dict[str, list[str]] = {}
            added.clear()
            for policy_id, commit in checked:
                if policy_id not in by_policy:
                    if self._snapshot_entry(root, policy_id) is None:
                        raise NotFound(f"snapshot {policy_id} is not in the capsule")
                    by_policy[policy_id] = self._bindings_in(root, policy_id)
                if binding_ops.is_bound(by_policy[policy_id], commit):
                    continue
                by_policy[policy_id] = binding_ops.bind(by_policy[policy_id], commit, stamp)
                new.setdefault(policy_id, []).append(commit)
                added.append((policy_id, commit))
            if not added:
                return None
            edit = TreeEdit()
            for policy_id, commits in new.items():
                self._stage_bindings(edit, policy_id, by_policy[policy_id], commits)
            tips = parents if reachable is not None else [c for _, c in added]
            return self._commit(
                edit.apply(self.io, root),
                [old, *(c.encode() for c in tips)],
                f"bind {len(added)} commit(s)",
            )

        self.refs.update(ref_bytes(self.policy_ref), self._in_one_pack(compute))
        return list(added)

    def _in_one_pack(
        self, compute: Callable[[bytes | None], bytes | None]
    ) -> Callable[[bytes | None], bytes | None]:
        """``compute`` with every object it writes kept for one pack, written before the
        commit it returns can become a ref's value."""

        def packed(old: bytes | None) -> bytes | None:
            self.io.start_batch()
            try:
                new = compute(old)
                if new is not None:
                    self.io.finish_batch()
                return new
            finally:
                self.io.drop_batch()

        return packed

    def bound_commits(self) -> set[str]:
        """Every commit the by-commit index names (bound, or rewritten into a bound
        commit): reads the index's trees, so the cost grows with the bindings."""
        return set(self._fanned_out_names(self._root(self.policy_ref), "by-commit"))

    # ---- runs ----------------------------------------------------------------------------
    def append_event(self, run_id: str, build: Callable[[int], bytes]) -> tuple[int, bytes]:
        """Append one event; ``build(seq)`` makes its bytes for the seq it will get.

        The seq is the run's length when the compare-and-swap wins; on a lost race
        ``build`` is called again with the new length, so seqs never gap or repeat.
        An append reads and rewrites only trees of bounded size (the shard's fan-out,
        the run's chunk list, the last chunk), whatever the run's length.
        """
        check_run_id(run_id)
        appended: tuple[int, bytes] = (-1, b"")
        path = layout.run_path(run_id)

        def compute(old: bytes | None) -> bytes:
            nonlocal appended
            root = self._tree_of(old)
            found = self._run_tree(root, run_id)
            run_tree = found[1] if found else None
            seq = run_log.length(self.io, run_tree)
            data = build(seq)
            check_event_bytes(run_id, seq, data)
            blob = self.io.write_blob(data)
            edit = TreeEdit()
            if found is not None and (found[0] != path or run_log.is_flat(self.io, found[1])):
                # Written by the earlier layout: rewrite the run into chunks, once.
                blobs = [entry[1] for entry in run_log.event_entries(self.io, found[1])]
                if found[0] != path:
                    edit.delete(found[0])
                edit.put(path, (TREE_MODE, run_log.write_run_tree(self.io, [*blobs, blob])))
            else:
                edit.put(layout.event_path(run_id, seq), (BLOB_MODE, blob))
            appended = (seq, data)
            new_root = edit.apply(self.io, root)
            at_path = found[1] if found is not None and found[0] == path else None
            new_root = self._summarized(root, new_root, run_id, at_path, data, seq == 0)
            return self._commit(new_root, [old], f"run {run_id}: event {seq}")

        self.refs.update(ref_bytes(layout.run_ref(self.workspace, run_id)), compute)
        return appended

    def _summarized(
        self,
        old_root: bytes | None,
        new_root: bytes,
        run_id: str,
        old_run_tree: bytes | None,
        data: bytes,
        new_run: bool,
    ) -> bytes:
        """``new_root`` with its run directory's ``summary.json`` brought up to date
        (``runsummary``). A summary that cannot be computed (an event that does not
        parse) is left as it was: readers then see it stale and read the logs."""
        from speckit_git_policy.store.capsule import runsummary

        top = layout.run_path(run_id).split("/")[0]
        try:
            old_directory = self.io.lookup(old_root, [top])
            new_directory = self.io.lookup(new_root, [top])
            run_entry = self.io.lookup(new_root, layout.run_path(run_id).split("/"))
            if new_directory is None or run_entry is None:
                return new_root
            old_entry = self.io.lookup(old_root, [top, runsummary.SUMMARY_NAME])
            old_summary = None
            if old_entry is not None and old_entry[0] == BLOB_MODE:
                old_summary = runsummary.parse(self.io.blob_bytes(old_entry[1]))
            summary = runsummary.updated(
                self.io,
                old_directory[1] if old_directory is not None else None,
                new_directory[1],
                old_summary,
                run_id,
                old_run_tree,
                run_entry[1],
                _json_object(data) or {},
                new_run,
            )
        except (ValueError, KeyError, TypeError, GitError):
            return new_root
        edit = TreeEdit()
        blob = self.io.write_blob(runsummary.encode(summary))
        edit.put(f"{top}/{runsummary.SUMMARY_NAME}", (BLOB_MODE, blob))
        return edit.apply(self.io, new_root)

    def _run_tree(self, root: bytes | None, run_id: str) -> tuple[str, bytes] | None:
        """(path, tree id) of the run's directory in its shard's tree; a run left at
        the shard's root by the earlier layout is found too."""
        path = layout.run_path(run_id)
        entry = self.io.lookup(root, path.split("/"))
        if entry is None and not layout.is_run_bucket(run_id):
            path, entry = run_id, self.io.lookup(root, [run_id])
        return (path, entry[1]) if entry is not None and entry[0] == TREE_MODE else None

    def _existing_run(self, run_id: str) -> tuple[str, bytes]:
        check_run_id(run_id)
        found = self._run_tree(self._root(layout.run_ref(self.workspace, run_id)), run_id)
        if found is None:
            raise NotFound(f"run {run_id!r} is not in the capsule")
        return found

    def run_events(self, run_id: str) -> list[bytes]:
        """The bytes of every event, in seq order; an event that cannot be read (not a
        file, over ``EVENT_MAX_BYTES``) is skipped and noted, never read whole."""
        return self._events_of(run_id, self._existing_run(run_id)[1])

    def run_events_under(self, root: bytes | None, run_id: str) -> list[bytes]:
        """``run_events`` in the shard tree ``root``, read once by the caller (verify lints
        every run of each shard) instead of the shard's ref once a run."""
        check_run_id(run_id)
        found = self._run_tree(root, run_id)
        if found is None:
            raise NotFound(f"run {run_id!r} is not in the capsule")
        return self._events_of(run_id, found[1])

    def _events_of(self, run_id: str, run_tree: bytes) -> list[bytes]:
        try:
            entries = run_log.event_entries(self.io, run_tree)
        except GitError as e:
            note(self.repo, f"run {run_id}: log unreadable: {e}")
            return []
        return self._event_bytes(run_id, entries)

    def _event_bytes(self, run_id: str, entries: list[tuple[int, bytes]]) -> list[bytes]:
        found = self.io.read_blobs(
            [blob for mode, blob in entries if mode == BLOB_MODE], EVENT_MAX_BYTES
        )
        events = []
        for mode, blob in entries:
            data = found.get(blob) if mode == BLOB_MODE else "not a file"
            if isinstance(data, bytes):
                events.append(data)
            else:
                note(self.repo, f"run {run_id}: event {blob.decode()[:12]} skipped: {data}")
        return events

    def run_events_backward(self, run_id: str) -> Iterator[bytes]:
        """The run's events, last first, read lazily (one chunk tree at a time):
        for a reader that needs only the latest events of some kind."""
        _path, run_tree = self._existing_run(run_id)
        for entry in run_log.event_entries_backward(self.io, run_tree):
            yield from self._event_bytes(run_id, [entry])

    def run_length(self, run_id: str) -> int:
        """The number of events in the run, reading two small trees."""
        return run_log.length(self.io, self._existing_run(run_id)[1])

    def has_run(self, run_id: str) -> bool:
        check_run_id(run_id)
        return (
            self._run_tree(self._root(layout.run_ref(self.workspace, run_id)), run_id) is not None
        )

    def _iter_runs(self) -> Iterator[tuple[str, bytes]]:
        """(run_id, run tree) of every run, shard by shard (cost grows with runs); what
        does not sit where the layout puts a run of that id is skipped and noted."""
        prefix = layout.runs_prefix(self.workspace)
        for shard in sorted(self.refs.subkeys(ref_bytes(prefix))):
            name = shard.decode("ascii", "replace")
            if (
                len(name) != 2
                or not layout.is_run_bucket(name[0])
                or not layout.is_run_bucket(name[1])
            ):
                note(self.repo, f"ref {prefix}/{name} skipped (not a run shard of the layout)")
                continue
            try:
                yield from self._runs_of_shard(f"{prefix}/{name}", name)
            except GitError as e:
                note(self.repo, f"ref {prefix}/{name} skipped: {e}")

    def _runs_of_shard(self, ref: str, shard: str) -> Iterator[tuple[str, bytes]]:
        found = []
        for name, (mode, object_id) in sorted(self.io.entries(self._root(ref)).items()):
            if mode != TREE_MODE:
                note(self.repo, f"{ref}: {name!r} skipped (outside the layout)")
            elif not layout.is_run_bucket(name):
                found.append(
                    (name, object_id, shard)
                )  # the earlier layout: a run at the shard's root
            else:
                for digit, (sub_mode, sub_id) in sorted(self.io.entries(object_id).items()):
                    if sub_mode == TREE_MODE and layout.is_run_bucket(digit):
                        for run_id, (run_mode, run_tree) in self.io.entries(sub_id).items():
                            if run_mode == TREE_MODE:
                                found.append((run_id, run_tree, shard + name + digit))
        for run_id, run_tree, expected in found:
            if is_run_id(run_id) and layout.run_path_digest(run_id).startswith(expected):
                yield run_id, run_tree
            else:
                note(self.repo, f"{ref}: {run_id!r} skipped (not a run of this shard)")

    def run_ids(self) -> list[str]:
        return sorted(run_id for run_id, _tree in self._iter_runs())

    # ---- the trees readers start from (for reading them in bulk: verify) ----------------------
    def policy_root(self) -> bytes | None:
        """The policy ref's tree (None without one; CapsuleRefBroken as every reader)."""
        return self._root(self.policy_ref)

    def run_roots(self) -> dict[str, bytes]:
        """Two hex digits -> the tree of that run shard's ref, for every shard ref of the
        layout whose commit can be read (the others are what ``_iter_runs`` notes)."""
        prefix = layout.runs_prefix(self.workspace)
        roots: dict[str, bytes] = {}
        for shard in sorted(self.refs.subkeys(ref_bytes(prefix))):
            name = shard.decode("ascii", "replace")
            if len(name) != 2 or not all(layout.is_run_bucket(digit) for digit in name):
                continue
            try:
                root = self._root(f"{prefix}/{name}")
            except (GitError, CapsuleRefBroken):
                continue
            if root is not None:
                roots[name] = root
        return roots

    def run_summary(self, run_id: str) -> RunSummary | None:
        """``run_summaries``' entry of one run (None for an empty or unreadable run)."""
        return self._summary_of(run_id, self._existing_run(run_id)[1])

    def _summary_of(self, run_id: str, run_tree: bytes) -> RunSummary | None:
        try:
            ends = run_log.end_entries(self.io, run_tree)
        except GitError as e:
            note(self.repo, f"run {run_id} skipped: {e}")
            return None
        if ends is None:
            return None
        read = self._event_bytes(run_id, [ends[0]]), self._event_bytes(run_id, [ends[1]])
        if not read[0] or not read[1]:
            return None
        return {
            "run_id": run_id,
            "events": run_log.length(self.io, run_tree),
            "first": read[0][0],
            "last": read[1][0],
        }

    def run_summaries(self) -> list[RunSummary]:
        """Every run with its length and the bytes of its first and last events,
        sorted by run id: reads per run two small trees and two blobs, never the
        whole log."""
        summaries: list[RunSummary] = []
        for run_id, run_tree in self._iter_runs():
            summary = self._summary_of(run_id, run_tree)
            if summary is not None:
                summaries.append(summary)
        return sorted(summaries, key=lambda summary: summary["run_id"])


# ---- validation ----------------------------------------------------------------------
def _check_snapshot(
    policy_id: str, content_hash: str, created_at: str, data: bytes, *, parse: bool = True
) -> None:
    layout.check_policy_id(policy_id)
    layout.check_hash(content_hash)
    if not isinstance(data, bytes) or len(data) > SNAPSHOT_MAX_BYTES:
        raise BadInput(f"snapshot {policy_id}: data must be bytes of at most {SNAPSHOT_MAX_BYTES}")
    if not parse:
        return
    document = _json_object(data)
    if document is None:
        raise BadInput(f"snapshot {policy_id}: data is not a JSON object")
    expected = {"policy_id": policy_id, "hash": content_hash, "created_at": created_at}
    for key, value in expected.items():
        if document.get(key) != value:
            raise BadInput(
                f"snapshot {policy_id}: {key} in the data is {document.get(key)!r}, not {value!r}"
            )


def check_event_bytes(run_id: str, seq: int, data: bytes) -> None:
    """What every stored event must be, from an append or from a remote (``inspect``):
    BadInput naming what is wrong."""
    if not isinstance(data, bytes) or len(data) > EVENT_MAX_BYTES:
        raise BadInput(f"run {run_id}: an event must be bytes of at most {EVENT_MAX_BYTES}")
    event = _json_object(data)
    if event is None or canonical_bytes(event) != data:
        raise BadInput(f"run {run_id}: an event must be a canonical (RFC 8785) JSON object")
    if event.get("seq") != seq:
        raise BadInput(f"run {run_id}: event seq is {event.get('seq')!r}, expected {seq}")
    for key in ("event_id", "timestamp"):
        if not isinstance(event.get(key), str) or not event[key]:
            raise BadInput(f"run {run_id}: event has no {key}")
    if "run_id" in event and event["run_id"] != run_id:
        raise BadInput(f"event run_id {event['run_id']!r} does not match run {run_id!r}")


def _json_object(data: bytes) -> dict[str, Any] | None:
    try:
        value = parse_json_bytes(data)
    except (ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


def _verifies(data: bytes, policy_id: str) -> bool:
    from speckit_git_policy.snapshot import load_document

    try:
        return load_document(data, policy_id).get("policy_id") == policy_id
    except SpeckitError:
        return False


def _hash_of(data: bytes) -> str | None:
    document = _json_object(data)
    value = document.get("hash") if document else None
    return value if isinstance(value, str) and len(value) == 64 else None


def _leaf_in_layout(top: str, name: str, mode: int) -> bool:
    """A leaf of a fan-out as the layout names it: ``<policy_id>.json`` files, except under
    ``by-commit`` (one directory per commit id)."""
    if top == "by-commit":
        return mode == TREE_MODE and is_object_id(name)
    return mode == BLOB_MODE and name.endswith(".json") and is_policy_id(name[:-5])
