"""``list``: every snapshot of either copy, newest first."""

from __future__ import annotations

from typing import Any

from speckit_git_policy.store import Stores


def list_snapshots(stores: Stores) -> list[dict[str, Any]]:
    """Every snapshot, newest first (created_at, then policy_id).

    The capsule is read in bulk (one ``ls-tree``, one ``cat-file --batch``): only the
    bindings, and the snapshots that have no filesystem copy."""
    from speckit_git_policy.canonical import parse_json_bytes
    from speckit_git_policy.store.capsule.bulk import PolicyTree

    workspace = stores.capsule_workspace
    ids = set(stores.fs.ids())
    found: dict[str, bytes | None] = {policy_id: stores.fs.read(policy_id) for policy_id in ids}
    if workspace is None:
        bindings = stores.all_bindings()
    else:
        with PolicyTree(stores.repo, workspace) as tree:
            bindings = stores.all_bindings(tree)
            ids.update(tree.snapshot_ids())
            missing = sorted(i for i in ids if found.get(i) is None)
            found.update(tree.snapshots(missing))
    rows = []
    for policy_id in sorted(ids):
        data = found.get(policy_id)
        if data is None:
            continue
        try:
            document = parse_json_bytes(data)
        except (ValueError, UnicodeDecodeError):
            document = None
        if not isinstance(document, dict):
            continue  # `verify` reports it; a listing shows what can be read
        provenance = document.get("provenance")
        captured = provenance.get("commit") if isinstance(provenance, dict) else None
        bound = bindings.get(policy_id, [])
        rows.append(
            {
                "policy_id": policy_id,
                "hash": _text(document.get("hash")),
                "created_at": _text(document.get("created_at")),
                "commit": bound[0]["commit"] if bound else captured,
                "uri": stores.uri(policy_id),
            }
        )
    rows.sort(key=lambda row: (row["created_at"] or "", row["policy_id"]), reverse=True)
    return rows


def _text(value: object) -> str | None:
    """A field shown as it is when it is text; None when a document that does not verify
    holds something else there (``verify`` says what is wrong with it)."""
    return value if isinstance(value, str) else None
