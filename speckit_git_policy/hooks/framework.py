"""Entry points for the pre-commit framework (``.pre-commit-hooks.yaml``).

The framework runs one entry for several git hooks and does not say which, nor
forward post-rewrite's old → new list on stdin; it sets ``PRE_COMMIT_IS_SQUASH_MERGE``
in post-merge and ``PRE_COMMIT_REWRITE_COMMAND`` in post-rewrite. So:

* post-commit and post-merge run as with ``install``;
* post-rewrite after ``commit --amend`` maps ``HEAD@{1}`` → ``HEAD`` (the reflog
  holds the amended commit); after a rebase, the replayed commits that post-commit
  deferred while it ran are captured, but their rewritten-from SHAs are not recorded
  (use ``git speckit-policy install`` for that).

Like the installed hooks, capture never fails the hook for the tool's own errors.
"""

from __future__ import annotations

import os
import sys

from speckit_git_policy.hooks.runner import main as run_hook


def _rewrite_lines() -> list[str]:
    if os.environ.get("PRE_COMMIT_REWRITE_COMMAND") != "amend":
        return []
    from speckit_git_policy.git.repo import GitRepo

    repo = GitRepo.discover()
    old = repo.git("rev-parse", "--verify", "--quiet", "HEAD@{1}", check=False).decode().strip()
    new = repo.head()
    return [f"{old} {new}"] if old and new and old != new else []


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["pre-commit"]:
        return 1 if run_hook(["pre-commit"]) else 0
    if "PRE_COMMIT_REWRITE_COMMAND" in os.environ:
        lines = _rewrite_lines()
        kind = os.environ["PRE_COMMIT_REWRITE_COMMAND"]
        import io

        if not lines and kind != "rebase":
            return run_hook(["post-commit"])
        # After a rebase, the picks its post-commit deferred are captured now.
        sys.stdin = io.StringIO("".join(f"{line}\n" for line in lines))
        return run_hook(["post-rewrite", kind])
    if "PRE_COMMIT_IS_SQUASH_MERGE" in os.environ:
        squash = os.environ["PRE_COMMIT_IS_SQUASH_MERGE"]
        return run_hook(["post-merge", squash])
    return run_hook(["post-commit"])


if __name__ == "__main__":
    sys.exit(main())
