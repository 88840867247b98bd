"""The snapshot decisions are made under: stored, verified and validated.

The record itself, :class:`PolicyInForce`, is the one a run's events are bound to
(``runs.records``): a decision under a run names the run's snapshot the same way.
"""

from __future__ import annotations

from speckit_git_policy.errors import CheckFailed
from speckit_git_policy.git.repo import GitRepo
from speckit_git_policy.runs.records import PolicyInForce
from speckit_git_policy.store import Stores

__all__ = ["PolicyInForce", "policy_in_force"]


def policy_in_force(
    repo: GitRepo, stores: Stores | None = None, policy: str | None = None
) -> PolicyInForce:
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

            policy_id = capture(
                repo, commit=state["commit"], trigger="manual", stores=stores
            ).policy_id
    document = stores.load(policy_id)
    provenance = document.get("provenance") or {}
    commit = provenance.get("commit")
    if provenance.get("validated") is not True:
        raise CheckFailed(
            f"snapshot {policy_id} was captured from a policy that fails validation; "
            "no decision is made under it (fix the policy, commit, and decide again)"
        )
    return PolicyInForce(
        policy_id=policy_id,
        policy_hash=str(document["hash"]),
        policy_uri=stores.uri(policy_id),
        commit=commit if isinstance(commit, str) else None,
        document=document,
    )
