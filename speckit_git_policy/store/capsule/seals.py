"""Seals: capsule commits signed with the user's git SSH signing key (docs/DESIGN.md §4).

Opt-in. With ``speckit.sign=true``, ``push`` first puts a *seal* on every capsule ref whose
tip is not signed: a commit with the tip's tree and the tip as its only parent, signed by
``git commit-tree -S`` (so ``gpg.format=ssh`` and ``user.signingkey`` are git's own, and
``git verify-commit`` checks it). A seal adds no entry, so merges and readers never see it.
With ``speckit.requireSigned=true``, ``pull`` refuses a remote tip that is not a commit
signed by a key of ``gpg.ssh.allowedSignersFile``; ``verify`` checks the newest seal of
every local ref against the same file.
"""

from __future__ import annotations

from speckit_git_policy.errors import GitError, SigningFailed
from speckit_git_policy.git.repo import GitRepo
from speckit_git_policy.store.capsule.objects import ObjectIO, RefUpdater, ref_bytes

SEAL_MESSAGE = "seal"
# How far back ``verify`` looks for a ref's newest seal (local work since the last push
# sits on top of it, unsealed until the next push).
SEAL_SEARCH_DEPTH = 256


def signing_enabled(repo: GitRepo) -> bool:
    return repo.config_bool("speckit.sign", False)


def signatures_required(repo: GitRepo) -> bool:
    return repo.config_bool("speckit.requireSigned", False)


def is_signed(io: ObjectIO, commit_id: bytes) -> bool:
    """The commit carries a signature (``gpgsig``), good or bad."""
    return bool(io.commit(commit_id).gpgsig)


def seal(repo: GitRepo, io: ObjectIO, refs: RefUpdater, ref: str) -> bool:
    """Put a signed seal on ``ref`` unless its tip is signed already; True when one was put."""
    sealed = False

    def compute(old: bytes | None) -> bytes | None:
        nonlocal sealed
        if old is None or is_signed(io, old):
            return None
        tree = io.commit_tree(old).decode()
        try:
            out = repo.git(
                "commit-tree", "-S", "-p", old.decode(), "-m", f"{SEAL_MESSAGE} {ref}", tree
            )
        except GitError as e:
            raise SigningFailed(ref, e.message) from e
        sealed = True
        return out.strip()

    refs.update(ref_bytes(ref), compute)
    return sealed


def signature_problem(repo: GitRepo, io: ObjectIO, commit: str) -> str | None:
    """Why ``commit`` is not a good seal (unsigned, or not by an allowed key); None if it is."""
    if not is_signed(io, commit.encode()):
        return "unsigned (speckit.requireSigned is true)"
    try:
        repo.git("verify-commit", commit)
    except GitError as e:
        return f"signature does not verify against gpg.ssh.allowedSignersFile: {e.message}"
    return None


def newest_seal(io: ObjectIO, tip: bytes, depth: int = SEAL_SEARCH_DEPTH) -> bytes | None:
    """The newest signed commit on the first-parent line below ``tip`` (itself included)."""
    commit_id: bytes | None = tip
    for _step in range(depth):
        if commit_id is None:
            return None
        commit = io.commit(commit_id)
        if commit.gpgsig:
            return commit_id
        commit_id = bytes(commit.parents[0]) if commit.parents else None
    return None
