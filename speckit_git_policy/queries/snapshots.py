"""``list``: every snapshot of either copy, newest first."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from speckit_git_policy.store import Stores

if TYPE_CHECKING:
    from collections.abc import Callable

    from speckit_git_policy.store.bindings import Binding
    from speckit_git_policy.store.capsule.bulk import PolicyTree


def list_snapshots(stores: Stores) -> list[dict[str, Any]]:
    """Every snapshot, newest first (created_at, then policy_id).

    A row is the snapshot's filesystem copy when there is one (else the capsule's)
    and its first binding of both stores merged. Rows whose inputs did not change
    since the last listing come from the listing cache (``list_cache.py``); the rest
    are read, the capsule in bulk (one ``ls-tree`` when its ref moved, one
    ``cat-file --batch``)."""
    import time

    from speckit_git_policy.queries import list_cache
    from speckit_git_policy.store.capsule.bulk import PolicyTree, note
    from speckit_git_policy.store.capsule.layout import uri_prefix

    repo, workspace = stores.repo, stores.capsule_workspace
    cache = list_cache.ListCache.load(repo, workspace)
    settled = time.time_ns() - list_cache.SETTLE_NS
    signatures = list_cache.signatures
    files = cache.policy_ids(signatures(str(stores.fs.policies), "snapshot-", ".json", settled))
    logs = cache.policy_ids(signatures(str(stores.fs.binding_logs), "", ".jsonl", settled))
    tree = PolicyTree(repo, workspace) if workspace is not None else None
    try:
        tip = tree.tip() if tree is not None else None
        # While the ref holds the commit the kept entries were listed at, its leaves are
        # theirs (a commit names its tree exactly): no ls-tree.
        kept_keys = cache.capsule_keys() if tip is not None and tip == cache.tip else None
        capsule: dict[str, str] = {}
        if tree is not None:
            capsule = kept_keys if kept_keys is not None else _capsule_keys(tree)
        kept = cache.entries
        entries: dict[str, list[object]] = {}
        misses: list[str] = []
        # Bindings-only ids too: what the reader says of their blobs is said as before.
        for policy_id in sorted(files.keys() | capsule.keys()):
            files_key = f"{files.get(policy_id, '')}|{logs.get(policy_id, '')}"
            capsule_key = capsule.get(policy_id, list_cache.NO_BLOBS)
            entry = kept.get(policy_id)
            if (
                type(entry) is list
                and len(entry) == 4
                and entry[0] == files_key
                and entry[1] == capsule_key
                and list_cache.UNKEPT not in files_key
            ):
                entries[policy_id] = entry
            else:
                entries[policy_id] = [files_key, capsule_key]
                misses.append(policy_id)
        if misses:
            _read_rows(stores, tree, misses, entries, files, logs)
    finally:
        if tree is not None:
            tree.close()
    prefix = uri_prefix(stores.workspace, "policy")
    rows = []
    for policy_id, entry in entries.items():
        row, skipped = entry[2], entry[3]
        if skipped is not None:
            note(repo, str(skipped))
        if type(row) is list and len(row) == 3:
            rows.append(
                {
                    "policy_id": policy_id,
                    "hash": row[0],
                    "created_at": row[1],
                    "commit": row[2],
                    "uri": prefix + policy_id,
                }
            )
    cache.save(repo, tip, entries)
    rows.sort(key=lambda row: (row["created_at"] or "", row["policy_id"]), reverse=True)
    return rows


def _capsule_keys(tree: PolicyTree) -> dict[str, str]:
    """policy id -> ``list_cache.capsule_key`` of its blobs, from the policy tree's leaves."""
    from speckit_git_policy.queries.list_cache import capsule_key

    snapshots, bindings = tree.leaves("snapshots"), tree.leaves("bindings")
    return {
        policy_id: capsule_key(snapshots.get(policy_id), bindings.get(policy_id))
        for policy_id in snapshots.keys() | bindings.keys()
    }


def _read_rows(
    stores: Stores,
    tree: PolicyTree | None,
    misses: list[str],
    entries: dict[str, list[object]],
    files: dict[str, str],
    logs: dict[str, str],
) -> None:
    """The row and note of each of ``misses`` from its copies (appended to its inputs in
    ``entries``): the filesystem copy first, the capsule's when there is none."""
    from speckit_git_policy.canonical import parse_json_bytes
    from speckit_git_policy.store import bindings as binding_ops

    found: dict[str, bytes | None] = {}
    for policy_id in misses:
        if policy_id in files:
            found[policy_id] = stores.fs.read(policy_id)
    capsule_bindings: dict[str, tuple[list[Binding], str | None]] = {}
    if tree is not None:
        found.update(tree.snapshots([i for i in misses if found.get(i) is None]))
        capsule_bindings = dict(tree.bindings_of(misses))
    for policy_id in misses:
        entry = entries[policy_id]
        bindings, skipped = capsule_bindings.get(policy_id, ([], None))
        row = _row(found.get(policy_id), parse_json_bytes)
        if row is not None:
            bound = binding_ops.merge(
                stores.fs_bindings(policy_id) if policy_id in logs else [], bindings
            )
            if bound:
                row[2] = bound[0]["commit"]
        entry += [row, skipped]


def _row(data: bytes | None, parse: Callable[[bytes], Any]) -> list[Any] | None:
    """[hash, created_at, commit of its provenance] of a snapshot document; None when
    there is none or it does not parse (``verify`` reports it; a listing shows what
    can be read)."""
    if data is None:
        return None
    try:
        document = parse(data)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(document, dict):
        return None
    provenance = document.get("provenance")
    captured = provenance.get("commit") if isinstance(provenance, dict) else None
    return [_text(document.get("hash")), _text(document.get("created_at")), captured]


def _text(value: object) -> str | None:
    """A field shown as it is when it is text; None when a document that does not verify
    holds something else there (``verify`` says what is wrong with it)."""
    return value if isinstance(value, str) else None
