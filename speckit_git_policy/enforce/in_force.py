"""The snapshot decisions are made under: stored, verified and validated.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from speckit_git_policy.errors import CheckFailed, SnapshotCorrupt
from speckit_git_policy.git.repo import GitRepo
from speckit_git_policy.store import Stores


@dataclass(frozen=True)
class PolicyInForce:
    """A stored, validated snapshot, loaded for making decisions."""

    policy_id: str
    policy_hash: str
    policy_uri: str
    commit: str | None
    document: dict[str, Any] = field(repr=False, compare=False)

    def ref(self) -> dict[str, Any]:
        return {"policy_id": self.policy_id, "policy_hash": self.policy_hash,
                "policy_uri": self.policy_uri}

    def block(self, *path: str) -> dict[str, Any]:
        value: Any = self.document
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if not isinstance(value, dict):
            raise SnapshotCorrupt(self.policy_uri, f"has no table {'.'.join(path)}")
        return value


def policy_in_force(repo: GitRepo, stores: Stores | None = None, policy: str | None = None) -> PolicyInForce:
    """The snapshot decisions are made under.

    By default the snapshot of HEAD's committed policy, captured first when it
    never was (so that every decision names a stored snapshot); or ``policy``:
    an id, a unique id prefix, a ``mv2://`` URI or ``current``.
    """
    from speckit_git_policy.capture import current, resolve_snapshot

    stores = stores or Stores(repo)
    if policy is not None:
        policy_id = resolve_snapshot(repo, stores, policy)
    else:
        state = current(repo, stores)
        policy_id = state["policy_id"]
        if policy_id is None:
            from speckit_git_policy.capture import capture

            policy_id = capture(repo, commit=state["commit"], trigger="manual", stores=stores).policy_id
    document = stores.load(policy_id)
    provenance = document.get("provenance") or {}
    if provenance.get("validated") is not True:
        raise CheckFailed(
            f"snapshot {policy_id} was captured from a policy that fails validation; "
            "no decision is made under it (fix the policy, commit, and decide again)"
        )
    return PolicyInForce(
        policy_id=policy_id,
        policy_hash=str(document["hash"]),
        policy_uri=stores.uri(policy_id),
        commit=provenance.get("commit"),
        document=document,
    )
