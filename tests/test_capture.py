"""Capture: one snapshot per distinct content, bindings to every commit that carries it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import git

from speckit_git_policy.capture import capture
from speckit_git_policy.errors import NotFound
from speckit_git_policy.git.repo import GitRepo
from speckit_git_policy.store import Stores


@pytest.fixture
def fs_repo(policy_repo: Path) -> Path:
    git(policy_repo, "config", "speckit.capsule", "false")
    return policy_repo


def commit_edit(root: Path, old: str, new: str, message: str) -> str:
    path = root / "model_policy.toml"
    path.write_text(path.read_text().replace(old, new))
    git(root, "commit", "-q", "-am", message)
    return git(root, "rev-parse", "HEAD").strip()


def snapshot_files(root: Path) -> list[str]:
    return sorted(os.listdir(root / ".speckit" / "policies"))


def test_one_snapshot_per_content_across_commits_branches_and_revert(fs_repo: Path) -> None:
    repo = GitRepo.discover(fs_repo)
    stores = Stores(repo)
    first = capture(repo)
    c0 = git(fs_repo, "rev-parse", "HEAD").strip()
    assert (first.created, first.commit) == (True, c0)

    c1 = commit_edit(fs_repo, "plan = 8000", "plan = 9000", "raise plan")
    second = capture(repo, trigger="commit")
    assert second.created and second.policy_id != first.policy_id and second.commit == c1

    git(fs_repo, "revert", "--no-edit", "HEAD")
    c2 = git(fs_repo, "rev-parse", "HEAD").strip()
    reverted = capture(repo, trigger="commit")
    assert (reverted.policy_id, reverted.created, reverted.commit) == (first.policy_id, False, c2)

    git(fs_repo, "checkout", "-q", "-b", "other", c0)
    (fs_repo / "unrelated.txt").write_text("x\n")
    git(fs_repo, "add", "unrelated.txt")
    git(fs_repo, "commit", "-q", "-m", "unrelated")
    c3 = git(fs_repo, "rev-parse", "HEAD").strip()
    on_branch = capture(repo)
    assert (on_branch.policy_id, on_branch.created, on_branch.commit) == (first.policy_id, False, c3)

    # c3 did not touch the policy: read at c3, bound to nothing (docs/DESIGN.md §5).
    assert [b["commit"] for b in stores.bindings(first.policy_id)] == [c0, c2]
    assert [b["commit"] for b in stores.bindings(second.policy_id)] == [c1]
    assert len(snapshot_files(fs_repo)) == 2

    # Capturing the same commit again adds nothing.
    capture(repo, commit=c0)
    assert [b["commit"] for b in stores.bindings(first.policy_id)] == [c0, c2]


def test_capture_from_a_commit_ignores_the_work_tree(fs_repo: Path) -> None:
    repo = GitRepo.discover(fs_repo)
    c0 = git(fs_repo, "rev-parse", "HEAD").strip()
    commit_edit(fs_repo, "plan = 8000", "plan = 9000", "raise plan")
    (fs_repo / "model_policy.toml").write_text("not = [valid")
    old = capture(repo, commit=c0)
    document = Stores(repo).load(old.policy_id)
    assert document["budgets"]["tokens"]["plan"] == 8000
    assert document["provenance"]["commit"] == c0
    assert document["provenance"]["dirty"] is False
    via_rev = capture(repo, commit="HEAD~1")
    assert (via_rev.policy_id, via_rev.created, via_rev.commit) == (old.policy_id, False, c0)


def test_dirty_capture_has_no_commit(fs_repo: Path) -> None:
    repo = GitRepo.discover(fs_repo)
    (fs_repo / "docs" / "MODEL-POLICY.md").write_text("# changed rationale\n")
    result = capture(repo)
    assert result.commit is None and result.created
    document = Stores(repo).load(result.policy_id)
    assert document["provenance"]["commit"] is None and document["provenance"]["dirty"] is True
    assert Stores(repo).bindings(result.policy_id) == []


def test_unknown_commit_is_not_found(fs_repo: Path) -> None:
    repo = GitRepo.discover(fs_repo)
    for rev in ["deadbeef" * 5, "no-such-branch", "--all"]:
        with pytest.raises(NotFound, match="commit|revision"):
            capture(repo, commit=rev)
    assert not (fs_repo / ".speckit").exists()


def test_capturing_twice_reuses_the_snapshot(fs_repo: Path) -> None:
    repo = GitRepo.discover(fs_repo)
    first = capture(repo)
    assert capture(repo).policy_id == first.policy_id
    assert len(snapshot_files(fs_repo)) == 1


def test_configured_source_path_changes_the_hash(fs_repo: Path) -> None:
    repo = GitRepo.discover(fs_repo)
    default = capture(repo)
    (fs_repo / "conf").mkdir()
    (fs_repo / "conf" / "policy.toml").write_bytes((fs_repo / "model_policy.toml").read_bytes())
    git(fs_repo, "config", "speckit.policyFile", "conf/policy.toml")
    moved = capture(repo)
    assert moved.created and moved.hash != default.hash
    document = Stores(repo).load(moved.policy_id)
    assert document["source_files"] == ["conf/policy.toml", "docs/MODEL-POLICY.md"]
    assert document["routing"] == Stores(repo).load(default.policy_id)["routing"]
