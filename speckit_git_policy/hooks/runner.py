"""What the installed git hooks run: ``python -m speckit_git_policy.hooks.runner <hook> [args]``.

The sh hook (``templates/hook.sh``) starts Python only when git says a policy
source changed; this module checks again before importing anything heavy
(pydantic, dulwich, click), so running it by hand on an unrelated commit stays
cheap too.

Exit codes, read by the sh hook: 0 = done (or nothing to do), 3 = pre-commit
refuses an invalid staged policy. Anything else is the tool's own failure, which
the hook reports loudly without blocking the commit. The post-* hooks never
return non-zero for a failure of ours: a commit is never lost or blocked by the
tool (docs/DESIGN.md §10), and a capture missed here is found by ``doctor`` / ``verify``.
"""

from __future__ import annotations

import os
import sys

from speckit_git_policy.git.plumbing import (
    changed_paths,
    commits_touching,
    object_infos,
    rev_list,
    staged_paths,
)
from speckit_git_policy.git.repo import GitRepo

# typing is imported for type checkers only: the git hook's hot path must not pay for it.
TYPE_CHECKING = False

if TYPE_CHECKING:
    from collections.abc import Iterable

    from speckit_git_policy.capture import CaptureResult
    from speckit_git_policy.policy.sources import SourcePaths
    from speckit_git_policy.store import Stores

EXIT_BLOCK = 3
PREFIX = "speckit-git-policy"


def _sh_saw_a_change() -> bool:
    """The sh hook (templates/hook.sh) already asked git that a source changed."""
    return os.environ.get("SPECKIT_HOOK_CHANGED") == "1"


def say(hook: str, message: str) -> None:
    from speckit_git_policy.text import printable

    print(f"{PREFIX} {hook}: {printable(message)}", file=sys.stderr)


def touches_sources(repo: GitRepo, commit: str, paths: SourcePaths) -> bool:
    """Whether ``commit``'s first-parent diff (all files for a root commit) touches a source."""
    return bool(set(changed_paths(repo, commit)) & set(paths.all()))


def staged_touches_sources(repo: GitRepo, paths: SourcePaths) -> bool:
    return bool(staged_paths(repo, paths.all()))


# ---- hooks --------------------------------------------------------------------
def pre_commit(repo: GitRepo) -> int:
    from speckit_git_policy.policy.sources import INDEX, source_paths

    paths = source_paths(repo)
    if not _sh_saw_a_change() and not staged_touches_sources(repo, paths):
        return 0
    if compile_staged(repo, paths):
        return 0
    from speckit_git_policy.policy.lint import validate

    # Not valid (or not compiled): validate's own messages, in validate's order.
    issues = validate(repo, INDEX, paths)
    if not issues:
        return 0
    from speckit_git_policy.text import printable

    for issue in issues:
        print(printable(issue.render()), file=sys.stderr)
    say("pre-commit", "commit refused: the staged model policy is invalid (messages above).")
    say(
        "pre-commit",
        "fix it and `git add` it again, or commit on purpose without the check: "
        "git commit --no-verify (its snapshot is then marked not validated)",
    )
    return EXIT_BLOCK


def compile_staged(repo: GitRepo, paths: SourcePaths) -> bool:
    """True when the staged sources are valid; their compile is then kept for post-commit."""
    from speckit_git_policy.compiled_cache import remember
    from speckit_git_policy.errors import PolicyInvalid
    from speckit_git_policy.policy.sources import INDEX, read_sources
    from speckit_git_policy.snapshot import compile_sources

    try:
        sources = read_sources(repo, INDEX, paths)
        compiled = compile_sources(sources)
    except (PolicyInvalid, ValueError):  # ValueError: a value canonical JSON cannot carry
        return False
    if not compiled.validated:
        return False
    remember(repo, sources, compiled)
    return True


def capture_commit(
    repo: GitRepo,
    hook: str,
    commit: str,
    trigger: str,
    paths: SourcePaths,
    stores: Stores | None = None,
) -> CaptureResult | None:
    """Capture from ``commit``'s tree (a full SHA from git); report, never raise (the commit is already made)."""
    from speckit_git_policy.capture import capture_commit_sha
    from speckit_git_policy.errors import SpeckitError

    try:
        result = capture_commit_sha(repo, commit, trigger, paths, stores)
    except (SpeckitError, OSError) as e:
        from speckit_git_policy.capture import make_up_command
        from speckit_git_policy.errors import PolicyInvalid

        if isinstance(e, OSError):
            from speckit_git_policy.text import os_error_line

            say(hook, f"warning: no policy snapshot for commit {commit[:12]}: {os_error_line(e)}")
        else:
            say(hook, f"warning: no policy snapshot for commit {commit[:12]}: {e}")
        if isinstance(e, PolicyInvalid):
            say(
                hook,
                "the committed policy cannot be compiled; the commit that fixes it gets a snapshot",
            )
        else:
            try:
                command = make_up_command(repo, commit, paths)
            except (SpeckitError, OSError):
                command = None
            say(
                hook,
                f"after the fix: {command or f'git speckit-policy capture --commit {commit[:12]}'}",
            )
        return None
    verb = "captured new" if result.created else "bound"
    say(hook, f"{verb} policy snapshot {result.policy_id[:8]} to commit {commit[:12]}")
    if not result.validated:
        say(
            hook,
            "warning: this committed policy does not pass validation "
            "(committed with --no-verify?); see `git speckit-policy validate`",
        )
    return result


# While a rebase runs, the commits it makes are bound when it ends (post-rewrite
# "rebase", which git runs before it removes its state directory); an aborted rebase
# removes that directory, and with it what was deferred (docs/DESIGN.md §5).
REBASE_COMMITS = "speckit-commits"  # commits that changed a source (post-commit), one a line
REBASE_REWRITES = "speckit-rewritten"  # "old new" lines of amends made meanwhile (rebase -x)


def rebase_in_progress(repo: GitRepo) -> str | None:
    """The state directory of a rebase running in this work tree, as git itself tells
    (wt-status.c): ``rebase-merge``, or ``rebase-apply`` unless ``git am`` made it."""
    merge = os.path.join(repo.git_dir, "rebase-merge")
    if os.path.isdir(merge):
        return merge
    apply = os.path.join(repo.git_dir, "rebase-apply")
    if os.path.isdir(apply) and not os.path.exists(os.path.join(apply, "applying")):
        return apply
    return None


def _defer(state_dir: str, name: str, lines: Iterable[str]) -> None:
    text = "".join(f"{line}\n" for line in lines)
    if text:
        with open(os.path.join(state_dir, name), "a", encoding="ascii") as handle:
            handle.write(text)


def _deferred(state_dir: str, name: str) -> list[list[str]]:
    try:
        with open(os.path.join(state_dir, name), encoding="ascii", errors="replace") as handle:
            return [line.split() for line in handle if line.strip()]
    except FileNotFoundError:
        return []


def post_commit(
    repo: GitRepo, hook: str = "post-commit", trigger: str = "commit", *, head: str | None = None
) -> int:
    """Capture the commit just made (``head``: HEAD's SHA, when the caller asked already)."""
    from speckit_git_policy.policy.sources import source_paths

    head = head or repo.head()
    paths = source_paths(repo)
    if head is None or not (_sh_saw_a_change() or touches_sources(repo, head, paths)):
        return 0
    state_dir = rebase_in_progress(repo)
    if state_dir is not None:
        # A pick, an intermediate squash commit or a commit of `rebase -x`: the rebase's
        # post-rewrite decides which of them the rebased branch keeps.
        _defer(state_dir, REBASE_COMMITS, [head])
        return 0
    capture_commit(repo, hook, head, trigger, paths)
    return 0


def post_merge(repo: GitRepo, squash: bool) -> int:
    """Bind the newest commit that brought a source change; capture any such commit not yet bound.

    A fast-forward brings several commits (ORIG_HEAD..HEAD); a true merge brings
    its merge commit, whose first-parent diff shows what the merge changed.
    """
    if squash:
        return 0  # nothing committed yet: the commit that follows fires post-commit
    from speckit_git_policy.policy.sources import source_paths

    head = repo.head()
    if head is None:
        return 0
    paths = source_paths(repo)
    # Newest first.
    touched = rev_list(
        repo, "--first-parent", "ORIG_HEAD..HEAD", pathspecs=paths.all(), check=False
    )
    if not touched:
        if repo.verify("ORIG_HEAD") is not None:
            return 0
        touched = [head] if touches_sources(repo, head, paths) else []  # no ORIG_HEAD
    if not touched:
        return 0
    from speckit_git_policy.store import Stores

    stores = Stores(repo)
    bound = stores.bound_among(touched)
    for commit in reversed(touched):  # oldest first, so the newest is bound last
        if commit == touched[0] or commit not in bound:
            capture_commit(repo, "post-merge", commit, "merge", paths, stores)
    return 0


def source_blobs(
    repo: GitRepo, commits: Iterable[str], paths: SourcePaths
) -> dict[str, tuple[str | None, ...]]:
    """Object ids of the source files in each commit (None where a file is missing),
    in one ``cat-file --batch-check`` call."""
    commits = list(dict.fromkeys(commits))
    names = paths.all()
    infos = object_infos(repo, [f"{commit}:{name}" for commit in commits for name in names])
    oids = [info.oid if info is not None else None for info in infos]
    return {
        commit: tuple(oids[i * len(names) : (i + 1) * len(names)])
        for i, commit in enumerate(commits)
    }


def post_rewrite(repo: GitRepo, kind: str, lines: Iterable[str]) -> int:
    """Bindings follow rewritten commits that carry the same sources; new content is captured.

    A rewrite that changed the sources (amend of the policy, a rebase onto a base
    that changed it) does not carry the old snapshot over: the new commit gets the
    snapshot of what it actually holds, and the old commit keeps its binding (it
    stays reachable through the capsule). A commit that folds several originals
    (squash, fixup) records every one that carried a binding in ``rewritten_from``.
    An amend made while a rebase runs is deferred to the rebase's own post-rewrite,
    which follows chains of rewrites (``rebase -x "git commit --amend"``) to their end.
    """
    pairs = []
    for line in lines:
        fields = line.split()
        if len(fields) >= 2:
            pairs.append((fields[0], fields[1]))
    state_dir = rebase_in_progress(repo)
    if state_dir is not None and kind != "rebase":
        _defer(state_dir, REBASE_REWRITES, (f"{old} {new}" for old, new in pairs))
        return 0
    earlier: list[tuple[str, str]] = []
    made: list[str] = []
    if state_dir is not None:  # the rebase ends now
        earlier = [(f[0], f[1]) for f in _deferred(state_dir, REBASE_REWRITES) if len(f) >= 2]
        deferred = [f[0] for f in _deferred(state_dir, REBASE_COMMITS) if f]
        made = _kept_by_rebase(repo, state_dir, deferred)
    if not pairs and not made:
        return 0
    from speckit_git_policy.policy.sources import source_paths
    from speckit_git_policy.store import Stores
    from speckit_git_policy.store.bindings import compose

    chains = compose(pairs, earlier)
    paths = source_paths(repo)
    blobs = source_blobs(repo, [sha for old, _via, new in chains for sha in (old, new)], paths)
    # Sources missing from a commit never carry a binding over.
    mapping: dict[str, str] = {}
    via: dict[str, list[str]] = {}
    differing: dict[str, list[str]] = {}  # new -> originals of other content
    for old, chain, new in chains:
        if blobs[old] == blobs[new] and None not in blobs[old]:
            mapping[old], via[old] = new, chain
        else:
            differing.setdefault(new, []).append(old)
    stores = Stores(repo)
    if mapping:
        stores.rewrite(mapping, via)
    news = list(dict.fromkeys([*(new for _old, _via, new in chains), *made]))
    bound = stores.bound_among(news)
    touching = commits_touching(repo, [new for new in news if new not in bound], paths.all())
    for new in news:
        if new not in bound and new in touching:
            capture_commit(repo, "post-rewrite", new, "rewrite", paths, stores)
            bound.add(new)
    # A squash or fixup of several originals: those of other content that carried a
    # binding are recorded too (they keep their own snapshot's binding).
    groups: dict[str, list[str]] = {}
    for old, _chain, new in chains:
        groups.setdefault(new, []).append(old)
    folds = {new: olds for new, olds in groups.items() if len(olds) > 1 and new in bound}
    others = [old for olds in folds.values() for old in olds if old not in mapping]
    if others:
        # The whole fold in order, so that rewritten_from stays oldest first.
        carried = stores.bound_among(others) | set(mapping)
        stores.record_folds(
            {new: [old for old in olds if old in carried] for new, olds in folds.items()}
        )
    return 0


def _kept_by_rebase(repo: GitRepo, state_dir: str, commits: list[str]) -> list[str]:
    """Of the commits made while the rebase ran, those its result keeps (between
    ``onto`` and HEAD), oldest first: an intermediate squash commit is not among them."""
    if not commits:
        return []
    try:
        with open(os.path.join(state_dir, "onto"), encoding="ascii") as handle:
            onto = handle.read().strip()
    except OSError:
        onto = ""
    if not onto:
        return []  # both backends write it; without it nothing tells a kept commit
    kept = set(rev_list(repo, "HEAD", f"^{onto}", check=False))
    return [commit for commit in dict.fromkeys(commits) if commit in kept]


def run(hook: str, args: list[str], stdin_lines: Iterable[str] = ()) -> int:
    head = None
    if hook in ("post-commit", "post-applypatch"):
        repo, head = GitRepo.discover_with_head()
    else:
        repo = GitRepo.discover()
    # Every speckit.* setting this hook reads, from the sh hook when it asked git already.
    repo.keep_speckit_config(
        os.environ.get("SPECKIT_HOOK_CONFIG"),
        with_user=os.environ.get("SPECKIT_HOOK_CONFIG_USER") == "1",
    )
    if hook == "pre-commit":
        return pre_commit(repo)
    if hook == "post-commit":
        return post_commit(repo, head=head)
    if hook == "post-applypatch":
        return post_commit(repo, "post-applypatch", "applypatch", head=head)
    if hook == "post-merge":
        return post_merge(repo, squash=bool(args) and args[0] == "1")
    if hook == "post-rewrite":
        return post_rewrite(repo, args[0] if args else "", stdin_lines)
    say(hook, f"unknown hook {hook!r}; reinstall with `git speckit-policy install`")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        print("usage: python -m speckit_git_policy.hooks.runner <hook> [args]", file=sys.stderr)
        return 2
    hook, args = argv[0], argv[1:]
    stdin_lines = sys.stdin.read().splitlines() if hook == "post-rewrite" else []
    try:
        return run(hook, args, stdin_lines)
    except Exception as e:  # noqa: BLE001 -- the tool's own failure must never block or lose a commit
        if isinstance(e, ModuleNotFoundError) and sys.flags.no_site:
            return 1  # started with -S and a module moved since install: the hook starts us again normally
        if isinstance(e, OSError):
            from speckit_git_policy.text import os_error_line

            # A read-only file system, a full disk, no permission: one line, where and why.
            say(hook, f"warning: the policy was not checked or captured: {os_error_line(e)}")
        else:
            say(
                hook,
                f"warning: internal error, the policy was not checked or captured: "
                f"{type(e).__name__}: {e}",
            )
        say(
            hook,
            "run `git speckit-policy doctor`; it lists commits to capture "
            "with `git speckit-policy capture --commit <sha>`",
        )
        if os.environ.get("SPECKIT_DEBUG"):
            import traceback

            traceback.print_exc()
        return 0


if __name__ == "__main__":
    sys.exit(main())
