"""Read-only views over the stores: list, current, show (SPEC §9)."""

from __future__ import annotations

from typing import Any

from .capture import read_for_capture
from .errors import NotFound, PolicyInvalid
from .gitio import GitRepo
from .snapshot import compile_sources
from .sources import read_sources
from .store import Stores


def list_snapshots(stores: Stores) -> list[dict[str, Any]]:
    """Every snapshot, newest first (created_at, then policy_id)."""
    from .canonical import parse_json_bytes

    bindings = stores.all_bindings()
    rows = []
    for policy_id in stores.ids():
        data = stores.fs.read(policy_id)
        if data is None and stores.capsule is not None:
            data = stores.capsule.get_snapshot(policy_id)
        if data is None:
            continue
        try:
            document = parse_json_bytes(data)
        except ValueError:
            continue  # `verify` reports it; a listing shows what can be read
        bound = bindings.get(policy_id, [])
        rows.append({
            "policy_id": policy_id,
            "hash": document.get("hash"),
            "created_at": document.get("created_at"),
            "commit": bound[0]["commit"] if bound else document.get("provenance", {}).get("commit"),
            "uri": stores.uri(policy_id),
        })
    rows.sort(key=lambda row: (row["created_at"] or "", row["policy_id"]), reverse=True)
    return rows


def current(repo: GitRepo, stores: Stores) -> dict[str, Any]:
    """The snapshot of the sources as committed at HEAD, and whether the work tree drifted."""
    head = repo.head()
    if head is None:
        raise NotFound("HEAD has no commit yet: commit the policy sources first")
    try:
        committed = compile_sources(read_sources(repo, head))
    except PolicyInvalid as e:
        raise NotFound(f"HEAD ({head[:12]}) has no policy to show: {e}") from e
    policy_id = stores.find_by_hash(committed.hash)
    try:
        _, at = read_for_capture(repo, None)
        worktree_differs = at != head
    except PolicyInvalid:
        worktree_differs = True
    return {
        "policy_id": policy_id,
        "hash": committed.hash,
        "commit": head,
        "drift": worktree_differs or policy_id is None,
        "uri": stores.uri(policy_id) if policy_id else None,
    }


def resolve_snapshot(repo: GitRepo, stores: Stores, text: str) -> str:
    """``current``, an id, a unique id prefix or a URI → policy id."""
    if text == "current":
        state = current(repo, stores)
        if state["policy_id"] is None:
            raise NotFound(
                f"the policy at HEAD ({state['commit'][:12]}) was never captured; "
                "run: git speckit-policy capture"
            )
        return str(state["policy_id"])
    return stores.resolve_id(text)
