"""Both copies of every snapshot, seen as one: the filesystem and the capsule.

Writes go to the filesystem first, then to the capsule (the rollout order of the
design); reads take whichever copy verifies, so ``show`` and ``list`` work in a
fresh clone that has only the capsule, and with ``speckit.capsule=false``.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

from speckit_git_policy.errors import BadInput, NotFound, SnapshotCorrupt
from speckit_git_policy.git.repo import GitRepo
from speckit_git_policy.ids import check_policy_id_prefix, check_workspace, is_policy_id
from speckit_git_policy.snapshot import load_document
from speckit_git_policy.store.fs import FilesystemStore, ensure_excluded

if TYPE_CHECKING:
    from speckit_git_policy.store.capsule.capsule import Capsule


def fold_bindings(ops: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Apply bind/rewrite operations in order: [{"commit", "rewritten_from"}]."""
    bindings: list[dict[str, Any]] = []
    for op in ops:
        if op.get("op") == "bind" and isinstance(op.get("commit"), str):
            if not any(b["commit"] == op["commit"] for b in bindings):
                bindings.append({"commit": op["commit"], "rewritten_from": []})
        elif op.get("op") == "rewrite":
            old, new = op.get("old"), op.get("new")
            for binding in bindings:
                if binding["commit"] == old:
                    binding["commit"] = new
                    binding["rewritten_from"].append(old)
            bindings = merge_bindings([bindings])
    return bindings


def merge_bindings(sources: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Union of binding lists by commit; a commit rewritten anywhere is dropped everywhere."""
    rewritten = {old for bindings in sources for b in bindings for old in b.get("rewritten_from", [])}
    merged: dict[str, dict[str, Any]] = {}
    for bindings in sources:
        for binding in bindings:
            commit = binding["commit"]
            if commit in rewritten:
                continue
            entry = merged.setdefault(commit, {"commit": commit, "rewritten_from": []})
            for old in binding.get("rewritten_from", []):
                if old not in entry["rewritten_from"]:
                    entry["rewritten_from"].append(old)
    return list(merged.values())


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
    def workspace(self) -> str:
        if self.capsule is not None:
            return self.capsule.workspace
        return check_workspace(self.repo.config_get("speckit.workspace") or "default")

    def uri(self, policy_id: str) -> str:
        from speckit_git_policy.store.capsule.layout import policy_uri

        return policy_uri(self.workspace, policy_id)

    def prepare(self) -> None:
        ensure_excluded(self.repo.common_dir)

    # ---- reading ---------------------------------------------------------------
    def read_verified(self, policy_id: str) -> tuple[bytes, dict[str, Any]]:
        """The stored bytes and parsed document of a snapshot, from a copy that verifies."""
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

    def _copies(self, policy_id: str) -> list[tuple[str, Any]]:
        copies: list[tuple[str, Any]] = [
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
        if self.capsule is not None:
            candidates.extend(self.capsule.ids_for_hash(content_hash))
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
                raise NotFound(f"{text}: workspace {parsed.workspace!r} is not this repository's ({self.workspace!r})")
            text = parsed.ident
        check_policy_id_prefix(text)
        if is_policy_id(text):
            if text in self.fs.ids() or (self.capsule is not None and self.capsule.get_snapshot(text) is not None):
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
        already = any(b["commit"] == commit for b in self.bindings(policy_id))
        if not already:
            self.fs.append_binding_op(policy_id, {"op": "bind", "commit": commit})
        if self.capsule is not None:
            self.capsule.add_binding(policy_id, commit)
        return not already

    def bound_among(self, commits: list[str]) -> set[str]:
        """The commits, of those given, that carry a binding: a by-commit index lookup
        each with the capsule (the hooks must not read every snapshot's bindings)."""
        if self.capsule is not None:
            return {c for c in commits if self.capsule.policies_for_commit(c)}
        bound = {b["commit"] for policy_id in self.fs.binding_log_ids()
                 for b in fold_bindings(list(self.fs.binding_ops(policy_id)))}
        return bound & set(commits)

    def rewrite(self, mapping: dict[str, str]) -> list[str]:
        """Bindings follow rewritten commits (post-rewrite); returns affected policy ids."""
        affected: set[str] = set()
        if self.capsule is not None:
            # The capsule's by-commit index names the few snapshots to touch.
            candidates = {p for old in mapping for p in self.capsule.policies_for_commit(old)}
        else:
            candidates = set(self.fs.binding_log_ids())
        for policy_id in candidates:
            commits = {b["commit"] for b in fold_bindings(list(self.fs.binding_ops(policy_id)))}
            for old, new in mapping.items():
                if old in commits:
                    self.fs.append_binding_op(policy_id, {"op": "rewrite", "old": old, "new": new})
                    affected.add(policy_id)
        if self.capsule is not None:
            affected.update(self.capsule.rewrite(mapping))
        return sorted(affected)

    def bindings(self, policy_id: str) -> list[dict[str, Any]]:
        sources = [fold_bindings(list(self.fs.binding_ops(policy_id)))]
        if self.capsule is not None:
            sources.append(self.capsule.bindings(policy_id))
        return merge_bindings(sources)

    def all_bindings(self) -> dict[str, list[dict[str, Any]]]:
        ids = set(self.fs.binding_log_ids())
        capsule_bindings: dict[str, list[dict[str, Any]]] = {}
        if self.capsule is not None:
            capsule_bindings = self.capsule.all_bindings()
            ids.update(capsule_bindings)
        return {
            policy_id: merge_bindings(
                [fold_bindings(list(self.fs.binding_ops(policy_id))), capsule_bindings.get(policy_id, [])]
            )
            for policy_id in sorted(ids)
        }
