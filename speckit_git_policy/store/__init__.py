"""Both copies of every snapshot, seen as one: the filesystem and the capsule.

Writes go to the filesystem first, then to the capsule (the rollout order of the
design); reads take whichever copy verifies, so ``show`` and ``list`` work in a
fresh clone that has only the capsule, and with ``speckit.capsule=false``.
"""

from __future__ import annotations

from speckit_git_policy import clock
from speckit_git_policy.errors import BadInput, NotFound, SnapshotCorrupt
from speckit_git_policy.git.repo import GitRepo
from speckit_git_policy.ids import check_policy_id_prefix, check_workspace, is_policy_id
from speckit_git_policy.store import bindings as binding_ops
from speckit_git_policy.store.fs import FilesystemStore, ensure_excluded

# typing for type checkers only: the git hooks import this module.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from functools import cached_property
    from typing import Any

    from speckit_git_policy.store.bindings import Binding
    from speckit_git_policy.store.capsule.bulk import PolicyTree
    from speckit_git_policy.store.capsule.capsule import Capsule

else:

    class cached_property:  # noqa: N801 -- functools.cached_property, as type checkers see it
        """functools' ``cached_property`` without importing functools (and collections
        behind it) on the git hooks' path: computed once, then kept in the instance's
        ``__dict__`` under the same name."""

        def __init__(self, compute):
            self.compute = compute
            self.name = compute.__name__
            self.__doc__ = compute.__doc__

        def __get__(self, instance, owner=None):
            if instance is None:
                return self
            value = instance.__dict__[self.name] = self.compute(instance)
            return value


class Stores:
    """The filesystem store and (unless ``speckit.capsule=false``) the capsule."""

    def __init__(self, repo: GitRepo) -> None:
        self.repo = repo
        self.fs = FilesystemStore(repo.root)

    @cached_property
    def capsule(self) -> Capsule | None:
        if not self.repo.config_bool("speckit.capsule", True):
            return None  # rollback switch: filesystem only
        from speckit_git_policy.store.capsule.capsule import Capsule

        return Capsule.for_repo(self.repo)

    @cached_property
    def capsule_workspace(self) -> str | None:
        """The capsule's workspace, None when it is turned off, without loading the
        capsule's (dulwich) code: for the readers that go through git in bulk."""
        if "capsule" in self.__dict__:
            return self.capsule.workspace if self.capsule is not None else None
        from speckit_git_policy.store.capsule.bulk import capsule_workspace

        return capsule_workspace(self.repo)

    @cached_property
    def workspace(self) -> str:
        workspace = self.capsule_workspace
        if workspace is not None:
            return workspace
        return check_workspace(self.repo.config_get("speckit.workspace") or "default")

    def uri(self, policy_id: str) -> str:
        from speckit_git_policy.store.capsule.layout import policy_uri

        return policy_uri(self.workspace, policy_id)

    def prepare(self) -> None:
        ensure_excluded(self.repo.common_dir)

    # ---- reading ---------------------------------------------------------------
    def read_verified(self, policy_id: str) -> tuple[bytes, dict[str, Any]]:
        """The stored bytes and parsed document of a snapshot, from a copy that verifies."""
        from speckit_git_policy.snapshot import load_document

        failures: list[SnapshotCorrupt] = []
        for where, reader in self._copies(policy_id):
            data = reader()
            if data is None:
                continue
            try:
                document = load_document(data, where)
            except SnapshotCorrupt as e:
                failures.append(e)
                continue
            if document["policy_id"] != policy_id:
                failures.append(SnapshotCorrupt(where, f"holds policy_id {document['policy_id']}"))
                continue
            return data, document
        if failures:
            raise failures[0]
        raise NotFound(f"no snapshot {policy_id}")

    def _copies(self, policy_id: str) -> list[tuple[str, Callable[[], bytes | None]]]:
        copies: list[tuple[str, Callable[[], bytes | None]]] = [
            (self.fs.relative_path(policy_id), lambda: self.fs.read(policy_id))
        ]
        if self.capsule is not None:
            capsule = self.capsule
            copies.append((self.uri(policy_id), lambda: capsule.get_snapshot(policy_id)))
        return copies

    def load(self, policy_id: str) -> dict[str, Any]:
        return self.read_verified(policy_id)[1]

    def ids(self) -> list[str]:
        found = set(self.fs.ids())
        if self.capsule is not None:
            found.update(self.capsule.snapshot_ids())
        return sorted(found)

    def find_by_hash(self, content_hash: str) -> str | None:
        """The oldest snapshot with this content, from either index (no scan)."""
        candidates: list[str] = []
        fs_id = self.fs.id_for_hash(content_hash)
        if fs_id is not None and self.fs.read(fs_id) is not None:
            candidates.append(fs_id)
        if "capsule" in self.__dict__:
            if self.capsule is not None:
                candidates.extend(self.capsule.ids_for_hash(content_hash))
        elif self.capsule_workspace is not None:
            # One git process, not the capsule's (dulwich) code: `current` reads no more.
            from speckit_git_policy.store.capsule.bulk import PolicyTree

            with PolicyTree(self.repo, self.capsule_workspace) as tree:
                candidates.extend(tree.ids_for_hash(content_hash))
        if not candidates:
            return None
        if len(set(candidates)) == 1:
            return candidates[0]
        dated = []
        for policy_id in set(candidates):
            try:
                dated.append((self.load(policy_id)["created_at"], policy_id))
            except (NotFound, SnapshotCorrupt):
                continue
        return min(dated)[1] if dated else None

    def resolve_id(self, text: str) -> str:
        """A full id, a unique id prefix or a ``mv2://`` URI → policy id (``current`` is the caller's)."""
        from speckit_git_policy.store.capsule.layout import URI_SCHEME, parse_uri

        if text.startswith(URI_SCHEME):
            not_policy = f"{text}: not a policy URI (mv2://<workspace>/policy/<policy_id>)"
            try:
                parsed = parse_uri(text)
            except BadInput as e:
                raise BadInput(not_policy) from e
            if parsed.kind != "policy":
                raise BadInput(not_policy)
            if parsed.workspace != self.workspace:
                raise NotFound(
                    f"{text}: workspace {parsed.workspace!r} is not this repository's ({self.workspace!r})"
                )
            text = parsed.ident
        check_policy_id_prefix(text)
        if is_policy_id(text):
            if text in self.fs.ids() or (
                self.capsule is not None and self.capsule.get_snapshot(text) is not None
            ):
                return text
            raise NotFound(f"no snapshot {text}")
        matches = set(self.fs.ids_with_prefix(text))
        if self.capsule is not None:
            matches.update(self.capsule.ids_with_prefix(text))
        if not matches:
            raise NotFound(f"no snapshot id starts with {text!r}")
        if len(matches) > 1:
            raise BadInput(f"id prefix {text!r} is ambiguous: {', '.join(sorted(matches)[:5])}")
        return matches.pop()

    # ---- writing ---------------------------------------------------------------
    def store(self, policy_id: str, content_hash: str, created_at: str, data: bytes) -> None:
        """Write both copies of a new snapshot: filesystem first, then the capsule."""
        self.fs.write(policy_id, data)
        if self.capsule is not None:
            self.capsule.put_snapshot(policy_id, content_hash, created_at, data)

    def ensure_copies(self, policy_id: str) -> None:
        """Restore whichever copy is missing from the other (after it verifies)."""
        data, document = self.read_verified(policy_id)
        if self.fs.read(policy_id) != data:
            self.fs.write(policy_id, data)
        if self.capsule is not None and self.capsule.get_snapshot(policy_id) != data:
            self.capsule.put_snapshot(policy_id, document["hash"], document["created_at"], data)

    # ---- bindings --------------------------------------------------------------
    def add_binding(self, policy_id: str, commit: str) -> bool:
        already = binding_ops.is_bound(self.bindings(policy_id), commit)
        # One bind time for both copies, so that they agree on it.
        bound_at = clock.now()
        if not already:
            self.fs.append_binding_op(policy_id, binding_ops.bind_op(commit, bound_at))
        if self.capsule is not None:
            self.capsule.add_binding(policy_id, commit, bound_at)
        return not already

    def store_bound(
        self,
        policy_id: str,
        content_hash: str,
        created_at: str,
        data: bytes,
        commit: str,
        *,
        built: bool = False,
    ) -> None:
        """The capsule copy of a new snapshot (its filesystem copy is written) and its
        first binding, to ``commit``: the filesystem log, then one capsule commit for
        both, one bind time for both copies (as ``add_binding``); ``built`` as in
        ``Capsule.put_snapshot``."""
        bound_at = clock.now()
        if not binding_ops.is_bound(self.fs_bindings(policy_id), commit):
            self.fs.append_binding_op(policy_id, binding_ops.bind_op(commit, bound_at))
        if self.capsule is not None:
            self.capsule.put_snapshot(
                policy_id,
                content_hash,
                created_at,
                data,
                bind=commit,
                bound_at=bound_at,
                built=built,
            )

    def add_bindings(
        self,
        pairs: list[tuple[str, str]],
        reachable: list[str] | None = None,
        *,
        durable: bool = True,
    ) -> list[tuple[str, str]]:
        """``add_binding`` for many (policy_id, commit) pairs: one append to each snapshot's
        filesystem log and one capsule commit for them all, one bind time. ``reachable``
        as in ``Capsule.add_bindings``; ``durable`` as in ``FilesystemStore.write``.
        Returns the pairs that were not bound yet in one store or the other."""
        bound_at = clock.now()
        fresh: list[tuple[str, str]] = []
        ops: dict[str, list[dict[str, str]]] = {}
        known: dict[str, list[Binding]] = {}
        for policy_id, commit in pairs:
            if policy_id not in known:
                known[policy_id] = self.bindings(policy_id)
            if binding_ops.is_bound(known[policy_id], commit):
                continue
            known[policy_id] = binding_ops.bind(known[policy_id], commit, bound_at)
            ops.setdefault(policy_id, []).append(binding_ops.bind_op(commit, bound_at))
            fresh.append((policy_id, commit))
        for policy_id, log in ops.items():
            self.fs.append_binding_ops(policy_id, list(log), durable=durable)
        if self.capsule is not None:
            added = set(self.capsule.add_bindings(pairs, bound_at, reachable)) - set(fresh)
            fresh += [pair for pair in dict.fromkeys(pairs) if pair in added]
        return fresh

    def bound_commits(self) -> set[str]:
        """Every commit that carries a binding (or was rewritten into one that does): the
        capsule's by-commit index, or the filesystem logs when the capsule is off."""
        if self.capsule is not None:
            return self.capsule.bound_commits()
        return {
            sha
            for policy_id in self.fs.binding_log_ids()
            for sha in binding_ops.known_commits(self.fs_bindings(policy_id))
        }

    def bound_among(self, commits: list[str]) -> set[str]:
        """The commits, of those given, that carry a binding: a by-commit index lookup
        each with the capsule (the hooks must not read every snapshot's bindings)."""
        if self.capsule is not None:
            return {c for c in commits if self.capsule.policies_for_commit(c)}
        bound = {
            b["commit"]
            for policy_id in self.fs.binding_log_ids()
            for b in self.fs_bindings(policy_id)
        }
        return bound & set(commits)

    def rewrite(
        self, mapping: dict[str, str], via: dict[str, list[str]] | None = None
    ) -> list[str]:
        """Bindings follow rewritten commits (post-rewrite), in every snapshot that binds
        the old SHA; ``via[old]`` names the commits a chain of rewrites went through.
        Returns the affected policy ids."""
        via = via or {}
        affected: set[str] = set()
        if self.capsule is not None:
            # The capsule's by-commit index names the few snapshots to touch.
            candidates = {p for old in mapping for p in self.capsule.policies_for_commit(old)}
        else:
            candidates = set(self.fs.binding_log_ids())
        for policy_id in candidates:
            commits = {b["commit"] for b in self.fs_bindings(policy_id)}
            for old, new in mapping.items():
                if old in commits:
                    self.fs.append_binding_op(
                        policy_id, binding_ops.rewrite_op(old, new, via.get(old, ()))
                    )
                    affected.add(policy_id)
        if self.capsule is not None:
            affected.update(self.capsule.rewrite(mapping, via))
        return sorted(affected)

    def record_folds(self, folds: dict[str, list[str]]) -> list[str]:
        """Originals a squash or fixup folded into a commit, whose content differed from
        the result, recorded in ``rewritten_from`` of that commit's bindings (they stay
        bound to their own snapshots; docs/DESIGN.md §5). Returns the affected policy ids."""
        affected: set[str] = set()
        for commit, originals in folds.items():
            if not originals:
                continue
            if self.capsule is not None:
                candidates = set(self.capsule.policies_for_commit(commit))
            else:
                candidates = set(self.fs.binding_log_ids())
            for policy_id in candidates:
                if binding_ops.find(self.fs_bindings(policy_id), commit) is not None:
                    self.fs.append_binding_op(policy_id, binding_ops.history_op(commit, originals))
                    affected.add(policy_id)
            if self.capsule is not None:
                affected.update(self.capsule.record_history(commit, originals))
        return sorted(affected)

    def fs_bindings(self, policy_id: str) -> list[Binding]:
        """The bindings the filesystem log records (a binding made while the capsule was
        off is only there)."""
        return binding_ops.fold(self.fs.binding_ops(policy_id))

    def bindings(self, policy_id: str) -> list[Binding]:
        """Both stores' bindings of a snapshot, merged: in bind order, each with its
        ``rewritten_from`` and ``bound_at``."""
        sources = [self.fs_bindings(policy_id)]
        if self.capsule is not None:
            sources.append(self.capsule.bindings(policy_id))
        return binding_ops.merge(*sources)

    def all_bindings(self, tree: PolicyTree | None = None) -> dict[str, list[Binding]]:
        """Every snapshot's bindings, both stores merged; ``tree``: the capsule's policy
        tree when the caller reads it in bulk already (``list``)."""
        logged = set(self.fs.binding_log_ids())
        ids = set(logged)
        capsule_bindings: dict[str, list[Binding]] = {}
        if tree is not None:
            capsule_bindings = tree.all_bindings()
        elif self.capsule_workspace is not None:
            # Through git in bulk (one ls-tree, one cat-file), not the capsule's
            # object-at-a-time reader: the cost of a listing is then git's.
            from speckit_git_policy.store.capsule.bulk import PolicyTree

            with PolicyTree(self.repo, self.capsule_workspace) as opened:
                capsule_bindings = opened.all_bindings()
        ids.update(capsule_bindings)
        return {
            policy_id: binding_ops.merge(
                self.fs_bindings(policy_id) if policy_id in logged else [],
                capsule_bindings.get(policy_id, []),
            )
            for policy_id in sorted(ids)
        }
