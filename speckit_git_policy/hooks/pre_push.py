"""What the pre-push hook runs: ``python -m speckit_git_policy.hooks.pre_push <remote> <url>``.

The capsule goes along with a branch push, as git-lfs pushes its objects (docs/DESIGN.md §4):
``speckit.autoPush`` (default true) pushes ``refs/speckit/*`` to the same remote,
merging first what the remote holds (``store.capsule.sync.push``). It never blocks the
branch push: whatever goes wrong is a warning on stderr, and the exit status is 0. A push
that carries only capsule refs (``git speckit-policy push`` itself, or one by hand) is left
alone.
"""

from __future__ import annotations

import sys

PREFIX = "speckit-git-policy pre-push"


def say(message: str) -> None:
    print(f"{PREFIX}: {message}", file=sys.stderr)


def pushes_a_branch(lines: list[str]) -> bool:
    """Some ref pushed (git gives "<local ref> <local id> <remote ref> <remote id>") is not
    the capsule's."""
    for line in lines:
        fields = line.split()
        if len(fields) >= 3 and not fields[2].startswith("refs/speckit/"):
            return True
    return False


def run(args: list[str], lines: list[str]) -> int:
    from speckit_git_policy.errors import SpeckitError
    from speckit_git_policy.git.repo import GitRepo

    if not pushes_a_branch(lines):
        return 0
    remote = args[0] if args else None
    url = args[1] if len(args) > 1 else None
    repo = GitRepo.discover()
    if not repo.config_bool("speckit.autoPush", True) or not repo.config_bool(
        "speckit.capsule", True
    ):
        return 0
    from speckit_git_policy.store.capsule.sync import push

    target = remote if remote and remote in repo.remotes() else (url or remote)
    try:
        result = push(repo, target)
    except SpeckitError as e:
        say(f"warning: the capsule was not pushed: {e}")
        say("the branch push goes on; push the capsule later: git speckit-policy push")
        return 0
    refs = result.get("refs") or {}
    assert isinstance(refs, dict)
    moved = [ref for ref, summary in refs.items() if summary != "up to date"]
    if moved:
        say(f"capsule pushed to {result['remote']} ({len(moved)} ref(s) updated)")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    lines = sys.stdin.read().splitlines()
    try:
        return run(args, lines)
    except Exception as e:  # noqa: BLE001 -- a branch push is never blocked by the tool
        say(f"warning: internal error, the capsule was not pushed: {type(e).__name__}: {e}")
        return 0


if __name__ == "__main__":
    sys.exit(main())
