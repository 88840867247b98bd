"""Doc and policy lint (docs/DESIGN.md §8) over the work tree, the index and a commit."""

from __future__ import annotations

from pathlib import Path

from conftest import git

from speckit_git_policy.git.repo import GitRepo
from speckit_git_policy.policy.lint import validate
from speckit_git_policy.policy.sources import INDEX, WORKTREE


def test_example_is_clean(policy_repo: Path) -> None:
    repo = GitRepo.discover(policy_repo)
    head = repo.head()
    assert head is not None
    for origin in (WORKTREE, INDEX, head):
        assert validate(repo, origin) == []


def test_doc_and_policy_issues_together(policy_repo: Path) -> None:
    (policy_repo / "docs" / "MODEL-POLICY.md").write_text("\n  \n")
    policy = policy_repo / "model_policy.toml"
    policy.write_text(policy.read_text().replace("plan = 8000", "plan = 0"))
    issues = [(i.file, i.line, i.key, i.message) for i in validate(GitRepo.discover(policy_repo))]
    line = policy.read_text().splitlines().index("plan = 0") + 1
    assert issues == [
        ("docs/MODEL-POLICY.md", 1, "", "rationale document is empty"),
        ("model_policy.toml", line, "budgets.tokens.plan", "expected an integer greater than 0, got 0"),
    ]


def test_staged_content_is_what_counts_for_index(policy_repo: Path) -> None:
    policy = policy_repo / "model_policy.toml"
    good = policy.read_text()
    policy.write_text(good.replace("plan = 8000", "plan = 0"))
    git(policy_repo, "add", "model_policy.toml")
    policy.write_text(good)
    repo = GitRepo.discover(policy_repo)
    assert validate(repo, WORKTREE) == []
    assert [i.key for i in validate(repo, INDEX)] == ["budgets.tokens.plan"]


def test_missing_sources_are_doc_lint_issues(repo: Path) -> None:
    issues = validate(GitRepo.discover(repo))
    assert [(i.file, i.message) for i in issues] == [
        ("docs/MODEL-POLICY.md", "required policy source file is missing"),
        ("model_policy.toml", "required policy source file is missing"),
    ]
