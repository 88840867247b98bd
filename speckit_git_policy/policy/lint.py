"""Lints (docs/DESIGN.md §8): doc lint (both sources exist) and policy lint (TOML matches §2).

The event lint, which needs the capsule's run logs, lives with ``verify``.
"""

from __future__ import annotations

from speckit_git_policy.errors import PolicyInvalid, PolicyIssue
from speckit_git_policy.git.repo import GitRepo
from speckit_git_policy.policy.checker import check_policy_bytes
from speckit_git_policy.policy.sources import WORKTREE, SourcePaths, Sources, read_sources


def doc_issues(sources: Sources) -> list[PolicyIssue]:
    """Doc lint beyond existence (read_sources already refuses a missing file)."""
    doc = sources.paths.doc
    if not sources.files[doc].strip():
        return [PolicyIssue(doc, 1, "", "rationale document is empty")]
    return []


def validate(
    repo: GitRepo, origin: str = WORKTREE, paths: SourcePaths | None = None
) -> list[PolicyIssue]:
    """Every doc and policy issue of the sources in ``origin`` (work tree, index or commit)."""
    try:
        sources = read_sources(repo, origin, paths)
    except PolicyInvalid as e:
        return list(e.issues)
    issues = doc_issues(sources)
    try:
        check_policy_bytes(sources.policy_bytes, sources.paths.policy)
    except PolicyInvalid as e:
        issues.extend(e.issues)
    return issues
