"""Reading the sources from the work tree, the index and a commit; size and symlink checks."""

from __future__ import annotations

import os
import tracemalloc
from pathlib import Path

import pytest
from conftest import git

from speckit_git_policy.errors import BadInput, PolicyInvalid
from speckit_git_policy.git.repo import GitRepo
from speckit_git_policy.policy.sources import (
    INDEX,
    MAX_SOURCE_BYTES,
    WORKTREE,
    SourcePaths,
    read_sources,
    source_paths,
)

POLICY = "model_policy.toml"
DOC = "docs/MODEL-POLICY.md"


def issues(repo: GitRepo, origin: str) -> list[tuple[str, str]]:
    with pytest.raises(PolicyInvalid, match="MODEL-POLICY|model_policy") as caught:
        read_sources(repo, origin)
    return [(i.file, i.message) for i in caught.value.issues]


def test_default_and_configured_paths(policy_repo: Path) -> None:
    repo = GitRepo.discover(policy_repo)
    assert source_paths(repo) == SourcePaths(policy=POLICY, doc=DOC)
    git(policy_repo, "config", "speckit.policyFile", "./conf/policy.toml")
    assert source_paths(repo).policy == "conf/policy.toml"
    assert source_paths(repo).all() == ["conf/policy.toml", DOC]


@pytest.mark.parametrize("bad", ["../outside.toml", "/etc/passwd", ".", "a/../../b"])
def test_configured_path_outside_the_repo_is_refused(policy_repo: Path, bad: str) -> None:
    git(policy_repo, "config", "speckit.docFile", bad)
    with pytest.raises(BadInput, match="speckit.docFile"):
        source_paths(GitRepo.discover(policy_repo))


def test_worktree_index_and_commit_are_read_separately(policy_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = GitRepo.discover(policy_repo)
    head = repo.head()
    assert head is not None
    committed = (policy_repo / POLICY).read_bytes()
    (policy_repo / POLICY).write_bytes(committed + b"# staged\n")
    git(policy_repo, "add", POLICY)
    (policy_repo / POLICY).write_bytes(committed + b"# worktree\n")

    assert read_sources(repo, WORKTREE).policy_bytes == committed + b"# worktree\n"
    assert read_sources(repo, INDEX).policy_bytes == committed + b"# staged\n"
    from_commit = read_sources(repo, head)
    assert from_commit.policy_bytes == committed
    assert from_commit.origin == head
    assert sorted(from_commit.files) == [DOC, POLICY]

    # GIT_INDEX_FILE (set by `git commit -a`) is honoured.
    other_index = policy_repo / ".git" / "other-index"
    env = {"GIT_INDEX_FILE": str(other_index)}
    git(policy_repo, "read-tree", "HEAD", env=env)
    monkeypatch.setenv("GIT_INDEX_FILE", str(other_index))
    assert read_sources(repo, INDEX).policy_bytes == committed


def test_missing_files_are_all_listed(repo: Path) -> None:
    assert issues(GitRepo.discover(repo), WORKTREE) == [
        (DOC, "required policy source file is missing"),
        (POLICY, "required policy source file is missing"),
    ]


def test_missing_in_a_commit(policy_repo: Path) -> None:
    git(policy_repo, "rm", "-q", DOC)
    git(policy_repo, "commit", "-q", "-m", "drop doc")
    repo = GitRepo.discover(policy_repo)
    head = repo.head()
    assert head is not None
    assert issues(repo, head) == [(DOC, "required policy source file is missing")]
    assert issues(repo, INDEX) == [(DOC, "required policy source file is missing")]


def test_directory_is_refused(repo: Path) -> None:
    (repo / POLICY).mkdir()
    (repo / "docs").mkdir()
    (repo / DOC).write_text("why\n")
    assert issues(GitRepo.discover(repo), WORKTREE) == [(POLICY, "is a directory, expected a file")]


def _huge(path: Path, size: int) -> None:
    with open(path, "wb") as handle:
        handle.truncate(size)  # sparse: cheap to make, still 50 MB to anyone who reads it


def test_huge_worktree_file_is_refused_with_bounded_memory(policy_repo: Path) -> None:
    size = 50 * 1024 * 1024
    _huge(policy_repo / POLICY, size)
    repo = GitRepo.discover(policy_repo)
    tracemalloc.start()
    try:
        found = issues(repo, WORKTREE)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert found == [(POLICY, f"file is {size} bytes; a policy source may be at most {MAX_SOURCE_BYTES}")]
    assert peak < 4 * 1024 * 1024


def test_huge_committed_file_is_refused_with_bounded_memory(policy_repo: Path) -> None:
    size = 50 * 1024 * 1024
    _huge(policy_repo / DOC, size)
    git(policy_repo, "add", DOC)
    git(policy_repo, "commit", "-q", "-m", "huge")
    repo = GitRepo.discover(policy_repo)
    head = repo.head()
    assert head is not None
    for origin in (head, INDEX):
        tracemalloc.start()
        try:
            found = issues(repo, origin)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert found == [(DOC, f"file is {size} bytes; a policy source may be at most {MAX_SOURCE_BYTES}")]
        assert peak < 4 * 1024 * 1024


def test_file_at_the_limit_is_read(policy_repo: Path) -> None:
    data = b"#" * (MAX_SOURCE_BYTES - 1) + b"\n"
    (policy_repo / DOC).write_bytes(data)
    assert read_sources(GitRepo.discover(policy_repo), WORKTREE).files[DOC] == data


def test_worktree_symlink_outside_is_refused(policy_repo: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.toml"
    outside.write_bytes((policy_repo / POLICY).read_bytes())
    (policy_repo / POLICY).unlink()
    os.symlink(outside, policy_repo / POLICY)
    found = issues(GitRepo.discover(policy_repo), WORKTREE)
    assert len(found) == 1 and found[0][0] == POLICY
    assert found[0][1].startswith("is a symlink leading outside the repository")


def test_worktree_directory_symlink_outside_is_refused(policy_repo: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside-docs"
    outside.mkdir()
    (outside / "MODEL-POLICY.md").write_text("why\n")
    (policy_repo / DOC).unlink()
    (policy_repo / "docs").rmdir()
    os.symlink(outside, policy_repo / "docs")
    found = issues(GitRepo.discover(policy_repo), WORKTREE)
    assert [f for f, _ in found] == [DOC]
    assert "outside the repository" in found[0][1]


def test_symlink_inside_the_repo_is_followed(policy_repo: Path) -> None:
    data = (policy_repo / POLICY).read_bytes()
    (policy_repo / "real.toml").write_bytes(data)
    (policy_repo / POLICY).unlink()
    os.symlink("real.toml", policy_repo / POLICY)
    git(policy_repo, "add", "-A")
    git(policy_repo, "commit", "-q", "-m", "link")
    repo = GitRepo.discover(policy_repo)
    head = repo.head()
    assert head is not None
    assert read_sources(repo, WORKTREE).policy_bytes == data
    assert read_sources(repo, head).policy_bytes == data
    assert read_sources(repo, INDEX).policy_bytes == data


@pytest.mark.parametrize("target", ["../outside.toml", "/etc/passwd", "docs/../../x"])
def test_committed_symlink_outside_is_refused(policy_repo: Path, target: str) -> None:
    (policy_repo / POLICY).unlink()
    os.symlink(target, policy_repo / POLICY)
    git(policy_repo, "add", "-A")
    git(policy_repo, "commit", "-q", "-m", "escape")
    repo = GitRepo.discover(policy_repo)
    head = repo.head()
    assert head is not None
    for origin in (head, INDEX):
        assert issues(repo, origin) == [
            (POLICY, f"is a symlink leading outside the repository ({target})")
        ]


def test_fifo_is_refused_without_hanging(policy_repo: Path) -> None:
    (policy_repo / DOC).unlink()
    os.mkfifo(policy_repo / DOC)
    assert issues(GitRepo.discover(policy_repo), WORKTREE) == [(DOC, "is not a regular file")]
