"""push/pull of the capsule namespace through any git remote (docs/DESIGN.md §4).

Transport is plain git with the refspec ``refs/speckit/*:refs/speckit/*`` (the
same one a user can push and fetch by hand). ``pull`` fetches the remote's capsule
refs into a private staging namespace, then moves each local ref by
compare-and-swap: created, fast-forwarded, or merged (``capsule_merge``) with a
merge commit whose parents are both tips, so the next ``push`` is a fast-forward.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable

from speckit_git_policy.errors import BadInput, GitError, NotFound
from speckit_git_policy.git import plumbing
from speckit_git_policy.git.repo import GitRepo
from speckit_git_policy.store.capsule.layout import NAMESPACE, REFSPEC
from speckit_git_policy.store.capsule.merge import merge_tree_for_ref
from speckit_git_policy.store.capsule.objects import (
    ObjectIO,
    RefUpdater,
    capsule_repo,
    commit_identity,
    ref_bytes,
)

STAGING = "refs/speckit-pull"
PUSH_ATTEMPTS = 3


def resolve_remote(repo: GitRepo, remote: str | None = None) -> str:
    """The remote to sync with: the one given, else the current branch's upstream,
    else ``origin``. A URL or an existing path is accepted as git accepts it."""
    names = repo.remotes()
    if remote is None:
        remote = _upstream_remote(repo) or "origin"
    if remote in names:
        return remote
    if not remote or remote.startswith("-"):
        raise BadInput(f"{remote!r} is not a remote name, URL or path")
    if "://" in remote or os.path.isdir(remote):
        return os.path.abspath(remote) if os.path.isdir(remote) else remote
    raise NotFound(f"no remote named {remote!r} (git remote lists: {', '.join(names) or 'none'})")


def _upstream_remote(repo: GitRepo) -> str | None:
    branch = repo.current_branch()
    if branch is None:
        return None
    remote = repo.config_get(f"branch.{branch}.remote")
    return remote if remote and remote != "." else None


def pull(
    repo: GitRepo, remote: str | None = None, progress: Callable[[int, int], None] | None = None
) -> dict[str, object]:
    """Fetch the remote's capsule refs and merge them into ours, without loss.

    Returns {"remote", "refs": {ref: "created" | "fast-forward" | "merged" |
    "up-to-date" | "diverged-unknown"}}; a remote without a capsule gives {}.
    """
    remote = resolve_remote(repo, remote)
    staging = f"{STAGING}/{uuid.uuid4().hex}"
    repo.git(
        "fetch",
        "--quiet",
        "--no-tags",
        "--no-write-fetch-head",
        remote,
        f"+{NAMESPACE}/*:{staging}/*",
    )
    fetched = _list_refs(repo, staging)
    try:
        results = {}
        for number, (name, tip) in enumerate(fetched.items(), start=1):
            results[f"{NAMESPACE}/{name}"] = _merge_ref(repo, f"{NAMESPACE}/{name}", tip, remote)
            if progress is not None:
                progress(number, len(fetched))
    finally:
        _delete_refs(repo, [f"{staging}/{name}" for name in fetched])
    return {"remote": remote, "refs": results}


def push(repo: GitRepo, remote: str | None = None) -> dict[str, object]:
    """Push the capsule namespace; when the remote moved on, pull (merge) and retry."""
    remote = resolve_remote(repo, remote)
    if not _list_refs(repo, NAMESPACE):
        return {"remote": remote, "refs": {}}
    last_error: GitError | None = None
    for _attempt in range(PUSH_ATTEMPTS):
        try:
            return {"remote": remote, "refs": plumbing.push(repo, remote, REFSPEC)}
        except GitError as e:
            # Rejected as non-fast-forward (another clone pushed first): merge theirs.
            last_error = e
            pull(repo, remote)
    assert last_error is not None
    raise last_error


def _merge_ref(repo: GitRepo, ref: str, theirs_hex: str, remote: str) -> str:
    dulwich_repo = capsule_repo(repo)
    io, refs = ObjectIO(dulwich_repo), RefUpdater(dulwich_repo)
    theirs = theirs_hex.encode()
    outcome = "up-to-date"

    def compute(ours: bytes | None) -> bytes | None:
        nonlocal outcome
        if ours is None:
            outcome = "created"
            return theirs
        if ours == theirs:
            outcome = "up-to-date"
            return None
        # None when the histories are unrelated (two clones that each started
        # a capsule): that is an ordinary merge too.
        base = repo.merge_base(ours.decode(), theirs_hex)
        if base == theirs_hex:
            outcome = "up-to-date"
            return None
        if base == ours.decode():
            outcome = "fast-forward"
            return theirs
        tree = merge_tree_for_ref(ref, io, io.commit(ours).tree, io.commit(theirs).tree)
        if tree is None:
            outcome = "diverged-unknown"
            return None
        outcome = "merged"
        return io.write_commit(
            tree, [ours, theirs], f"merge {ref} from {remote}", commit_identity(dulwich_repo)
        )

    refs.update(ref_bytes(ref), compute)
    return outcome


def sweep_staging_refs(repo: GitRepo, older_than: float) -> list[str]:
    """Delete the staging refs a killed ``pull`` left under ``refs/speckit-pull/``: a loose
    one older than ``older_than`` seconds, a packed one when ``packed-refs`` is (a live
    pull's refs live for seconds). Returns the refs deleted."""
    import time

    staged = plumbing.list_refs(repo, STAGING)
    if not staged:
        return []
    cutoff = time.time() - older_than
    stale = []
    for ref in staged:
        loose = os.path.join(repo.common_dir, *ref.split("/"))
        where = loose if os.path.exists(loose) else os.path.join(repo.common_dir, "packed-refs")
        try:
            if os.stat(where).st_mtime < cutoff:
                stale.append(ref)
        except OSError:
            continue
    _delete_refs(repo, stale)
    return stale


def _list_refs(repo: GitRepo, prefix: str) -> dict[str, str]:
    """Refs under ``prefix/``, named relative to it → object id."""
    return {name[len(prefix) + 1 :]: oid for name, oid in plumbing.list_refs(repo, prefix).items()}


def _delete_refs(repo: GitRepo, names: list[str]) -> None:
    if names:
        commands = "".join(f"delete {name}\n" for name in names)
        repo.git("update-ref", "--stdin", input_bytes=commands.encode())
