"""A commit that touches no source costs one git call, not two: pre-commit's answer,
marked for the `git commit` process that asked, spares post-commit its own, and only
where it covers the commit git makes (docs/DESIGN.md §10). Everything else still asks
git, and every commit that changes a source is still captured."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import git
from test_hook_settings import note, traced_commit, traced_git, warm
from test_hooks_support import bound, commit, head, set_policy

STATE = Path(".git") / "speckit"


def diff_tree_calls(calls: list[str]) -> list[str]:
    return [call for call in calls if call.startswith("git diff-tree")]


def staged_diff_calls(calls: list[str]) -> list[str]:
    return [call for call in calls if call.startswith("git diff --cached")]


def plain_commits(root: Path, tmp_path: Path, count: int, start: int = 0) -> list[list[str]]:
    """``count`` commits of a note; the git calls of each."""
    made = []
    for n in range(start, start + count):
        note(root, f"note {n}\n")
        status, stderr, calls = traced_commit(root, f"note {n}", tmp_path)
        assert status == 0, stderr
        made.append(calls)
    return made


def test_a_run_of_plain_commits_asks_git_once_each_after_the_first(
    repo: Path, tmp_path: Path
) -> None:
    warm(repo)
    first, *rest = plain_commits(repo, tmp_path, 3)
    assert staged_diff_calls(first) and diff_tree_calls(first)  # nothing known yet: both ask
    for calls in rest:
        assert staged_diff_calls(calls) and not diff_tree_calls(calls)
    assert len(bound(repo)) == 1  # the policy commit alone


def test_a_policy_commit_after_plain_ones_is_captured_and_the_next_asks_again(
    repo: Path, tmp_path: Path
) -> None:
    warm(repo)
    plain_commits(repo, tmp_path, 2)
    set_policy(repo, warn=7.0)
    git(repo, "add", "-A")
    status, stderr, calls = traced_commit(repo, "policy 2", tmp_path)
    assert status == 0 and "captured new policy snapshot" in stderr
    assert head(repo) in bound(repo)
    # HEAD now changes a source: nothing vouches for it, so the next commit asks git.
    (after,) = plain_commits(repo, tmp_path, 1, start=5)
    assert diff_tree_calls(after)


def test_an_amend_of_a_policy_commit_is_captured_by_post_commit(repo: Path, tmp_path: Path) -> None:
    warm(repo)
    plain_commits(repo, tmp_path, 2)
    set_policy(repo, warn=7.0)
    git(repo, "add", "-A")
    commit(repo, "policy 2")
    # The amend stages no source, yet the commit it makes changes one against its
    # parent: without post-rewrite, post-commit alone must see it.
    note(repo, "amended\n")
    status, stderr, calls = _amend(repo, tmp_path)
    assert status == 0, stderr
    assert diff_tree_calls(calls) and "policy snapshot" in stderr
    assert head(repo) in bound(repo)


def _amend(root: Path, tmp_path: Path) -> tuple[int, str, list[str]]:
    return traced_git(
        root, tmp_path, "amend", "commit", "-q", "--amend", "--no-edit", "--no-post-rewrite"
    )


def test_an_amend_of_a_plain_commit_needs_no_second_call(repo: Path, tmp_path: Path) -> None:
    warm(repo)
    plain_commits(repo, tmp_path, 2)
    note(repo, "amended\n")
    status, stderr, calls = _amend(repo, tmp_path)
    assert status == 0, stderr
    assert not diff_tree_calls(calls)
    assert head(repo) not in bound(repo)


def test_commits_made_without_pre_commit_ask_git(repo: Path, tmp_path: Path) -> None:
    """cherry-pick and --no-verify run post-commit alone: a marker left by an earlier
    `git commit` names another process and is not trusted."""
    warm(repo)
    picked = _other_policy(repo)
    plain_commits(repo, tmp_path, 2)
    # A commit refused after pre-commit ran (an empty message) leaves its marker unused.
    note(repo, "refused\n")
    refused = subprocess.run(
        ["git", "commit", "-q", "-m", ""], cwd=repo, capture_output=True, text=True, check=False
    )
    assert refused.returncode != 0
    assert (repo / STATE / "hook-commit").read_text().endswith("\nend\n")
    git(repo, "reset", "-q")
    result = subprocess.run(
        ["git", "cherry-pick", picked], cwd=repo, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "policy snapshot" in result.stderr and head(repo) in bound(repo)

    plain_commits(repo, tmp_path, 2, start=10)
    set_policy(repo, warn=9.5)
    git(repo, "add", "-A")
    stderr = commit(repo, "unverified policy", "--no-verify")
    assert "policy snapshot" in stderr and head(repo) in bound(repo)


def test_a_torn_record_or_marker_is_ignored(repo: Path, tmp_path: Path) -> None:
    warm(repo)
    plain_commits(repo, tmp_path, 2)
    record = repo / STATE / "hook-neutral"
    record.write_text(record.read_text().removesuffix("end\n"))
    (calls,) = plain_commits(repo, tmp_path, 1, start=3)
    assert diff_tree_calls(calls)  # the torn record vouches for nothing
    (calls,) = plain_commits(repo, tmp_path, 1, start=4)
    assert not diff_tree_calls(calls)  # and the git call rewrote it whole

    # A marker without its last line, however it came to be, spares nothing.
    marker = repo / STATE / "hook-commit"
    marker.write_text("1\n2\nmodel_policy.toml\ndocs/MODEL-POLICY.md\n")
    set_policy(repo, warn=6.0)
    git(repo, "add", "-A")
    stderr = commit(repo, "policy unverified", "--no-verify")
    assert "policy snapshot" in stderr and head(repo) in bound(repo)


def test_a_changed_source_path_is_not_vouched_for_by_the_old_one(
    repo: Path, tmp_path: Path
) -> None:
    warm(repo)
    plain_commits(repo, tmp_path, 2)
    git(repo, "config", "speckit.docFile", "docs/WHY.md")
    (repo / "docs" / "WHY.md").write_text("# Why\n")
    git(repo, "add", "-A")
    commit(repo, "the doc moves")
    (calls,) = plain_commits(repo, tmp_path, 1, start=3)
    assert diff_tree_calls(calls)


def test_a_chained_post_commit_hook_that_amends_the_policy_in(repo: Path, tmp_path: Path) -> None:
    """A hook that was there before install runs first; when it amends the commit just
    made with a policy change, that amend (its own hooks) captures it."""
    warm(repo)
    plain_commits(repo, tmp_path, 2)
    legacy = repo / ".git" / "hooks" / "post-commit.speckit-legacy"
    legacy.write_text(
        "#!/bin/sh\n"
        "[ -f amend-policy ] || exit 0\n"
        "rm amend-policy\n"
        "sed -i 's/^warn_threshold = .*/warn_threshold = 6.25/' model_policy.toml\n"
        "git add model_policy.toml && git commit -q --amend --no-edit\n"
    )
    legacy.chmod(0o755)
    (repo / "amend-policy").write_text("")
    note(repo, "then the hook amends\n")
    stderr = commit(repo, "amended by the hook")
    assert "warn_threshold = 6.25" in git(repo, "show", "HEAD:model_policy.toml")
    assert "policy snapshot" in stderr and head(repo) in bound(repo)
    (calls,) = plain_commits(repo, tmp_path, 1, start=3)
    assert diff_tree_calls(calls)  # HEAD changed a source: not vouched for


def test_a_linked_worktree_asks_git(repo: Path, tmp_path: Path) -> None:
    warm(repo)
    other = tmp_path / "other"
    git(repo, "worktree", "add", "-q", "-b", "wt", str(other))
    for calls in plain_commits(other, tmp_path, 3):
        assert diff_tree_calls(calls)
    set_policy(other, warn=6.5)
    git(other, "add", "-A")
    commit(other, "policy in the worktree")
    assert head(other) in bound(repo)


@pytest.mark.skipif(shutil.which("pre-commit") is None, reason="needs the pre-commit package")
def test_a_policy_edit_staged_after_our_pre_commit_by_the_framework_is_captured(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pre-commit framework, installed over our hook, runs it first (as its
    `.legacy`) and its own hooks after: one that stages a policy edit changes the commit
    after our staged diff said "no source". Our hook's parent there is the framework's
    process, not `git commit`, so post-commit does not take the marker for its commit."""
    warm(repo)
    plain_commits(repo, tmp_path, 2)
    (repo / ".pre-commit-config.yaml").write_text(
        "repos:\n"
        "  - repo: local\n"
        "    hooks:\n"
        "      - id: bump-policy\n"
        "        name: bump the policy\n"
        "        language: system\n"
        "        entry: sh -c \"sed -i 's/^warn_threshold = .*/warn_threshold = 6.75/'"
        " model_policy.toml && git add model_policy.toml\"\n"
        "        pass_filenames: false\n"
        "        always_run: true\n"
    )
    git(repo, "add", ".pre-commit-config.yaml")
    commit(repo, "the framework's config", "--no-verify")
    monkeypatch.setenv("PRE_COMMIT_HOME", str(tmp_path / "pre-commit-home"))
    subprocess.run(["pre-commit", "install", "-t", "pre-commit"], cwd=repo, check=True,
                   capture_output=True)
    assert (repo / ".git" / "hooks" / "pre-commit.legacy").exists()
    note(repo, "the framework bumps the policy\n")
    stderr = commit(repo, "bumped by a framework hook")
    assert "warn_threshold = 6.75" in git(repo, "show", "HEAD:model_policy.toml")
    assert "policy snapshot" in stderr, stderr
    assert head(repo) in bound(repo)


# ---- parents as git reads them: shallow boundaries, grafts, replace refs -------------------
def _changes_a_source(root: Path, sha: str) -> bool:
    """Whether ``sha`` changes a source against its real first parent (no replace refs)."""
    env = {**os.environ, "GIT_NO_REPLACE_OBJECTS": "1"}
    parents = subprocess.run(["git", "rev-list", "--parents", "-n1", sha], cwd=root, env=env,
                             capture_output=True, text=True, check=True).stdout.split()[1:]
    against = [parents[0]] if parents else ["--root"]
    result = subprocess.run(["git", "diff-tree", "--quiet", "-r", *against, sha, "--",
                             "model_policy.toml", "docs/MODEL-POLICY.md"], cwd=root, env=env,
                            check=False)
    assert result.returncode in (0, 1)
    return result.returncode == 1


def _other_policy(root: Path) -> str:
    """A commit on another branch whose policy differs from main's HEAD."""
    git(root, "checkout", "-q", "-b", "other")
    set_policy(root, warn=9.75)
    git(root, "add", "-A")
    commit(root, "other policy")
    other = head(root)
    git(root, "checkout", "-q", "-")
    return other


def _recorded(root: Path) -> str:
    return (root / STATE / "hook-neutral").read_text().split("\n")[0]


@pytest.mark.parametrize("packed", [False, True])
def test_an_amend_onto_a_grafted_parent_is_captured(repo: Path, tmp_path: Path, packed: bool) -> None:
    # H0 was recorded as holding its first parent's sources; a graft then gives it a
    # parent of other sources, which an amend's commit takes as its own.
    warm(repo)
    other = _other_policy(repo)
    plain_commits(repo, tmp_path, 2)
    assert _recorded(repo) == head(repo)
    git(repo, "replace", "--graft", head(repo), other)
    if packed:  # as `git gc` leaves it: the replace ref in packed-refs, none loose
        h0 = head(repo)
        git(repo, "pack-refs", "--all")
        assert not list((repo / ".git" / "refs" / "replace").glob("*"))
        git(repo, "update-ref", "refs/heads/main", other)  # the branch loose again, at H0
        git(repo, "update-ref", "refs/heads/main", h0)
        assert (repo / ".git" / "refs" / "heads" / "main").exists()
    note(repo, "amended onto the graft\n")
    status, stderr, calls = _amend(repo, tmp_path)
    assert status == 0, stderr
    # The amend wrote the grafted parent into its commit: a source changes against it.
    assert git(repo, "rev-list", "--parents", "-n1", head(repo)).split()[1] == other
    assert _changes_a_source(repo, head(repo))
    assert diff_tree_calls(calls) and head(repo) in bound(repo)  # against git's parent: changed


def test_an_amend_at_a_shallow_boundary_is_captured(repo: Path, tmp_path: Path) -> None:
    # `fetch --depth=1` cuts the history at H0: an amend then makes a root commit, which
    # holds the sources.
    warm(repo)
    plain_commits(repo, tmp_path, 2)
    assert _recorded(repo) == head(repo)
    origin = tmp_path / "origin.git"
    git(repo, "clone", "-q", "--bare", str(repo), str(origin))
    git(repo, "remote", "add", "origin", f"file://{origin}")
    git(repo, "fetch", "-q", "--depth=1", "origin")
    assert (repo / ".git" / "shallow").read_text().split() == [head(repo)]
    note(repo, "amended at the boundary\n")
    status, stderr, calls = _amend(repo, tmp_path)
    assert status == 0, stderr
    assert git(repo, "rev-list", "--parents", "-n1", head(repo)).split()[1:] == []
    assert diff_tree_calls(calls) and head(repo) in bound(repo)


def test_nothing_is_recorded_while_a_replace_ref_is_in_place(repo: Path, tmp_path: Path) -> None:
    warm(repo)
    other = _other_policy(repo)
    plain_commits(repo, tmp_path, 1)
    recorded = _recorded(repo)
    git(repo, "replace", "--graft", recorded, other)
    git(repo, "pack-refs", "--all")
    for calls in plain_commits(repo, tmp_path, 2, start=3):
        assert diff_tree_calls(calls)
    assert _recorded(repo) == recorded
    git(repo, "replace", "-d", recorded)
    git(repo, "pack-refs", "--all")  # packed-refs rewritten without it: searched again
    first, second = plain_commits(repo, tmp_path, 2, start=6)
    assert diff_tree_calls(first) and not diff_tree_calls(second)


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace (.ci/run installs it)")
def test_a_source_staged_by_another_process_after_pre_commit_is_captured(
    repo: Path, tmp_path: Path
) -> None:
    """A plain commit's index is not locked while its hooks run: another process (an
    editor, a second terminal) can stage a policy edit after pre-commit's diff and before
    git reads the index for the tree. strace holds git for a second after each hook it
    waits for, so the staging lands in that gap every time."""
    warm(repo)
    plain_commits(repo, tmp_path, 2)
    note(repo, "while an editor stages the policy\n")
    set_policy(repo, warn=6.5)  # edited, not staged
    stager = subprocess.Popen(
        ["sh", "-c", "sleep 0.6 && git add model_policy.toml"], cwd=repo
    )
    try:
        held = subprocess.run(
            ["strace", "-qq", "-o", "/dev/null", "-e", "trace=wait4",
             "-e", "inject=wait4:delay_exit=1000000",
             "git", "commit", "-q", "-m", "staged behind its back"],
            cwd=repo, capture_output=True, text=True, check=False, timeout=60,
        )
    finally:
        assert stager.wait(timeout=60) == 0
    assert held.returncode == 0, held.stderr
    assert "warn_threshold = 6.5" in git(repo, "show", "HEAD:model_policy.toml")
    assert "policy snapshot" in held.stderr, held.stderr
    assert head(repo) in bound(repo)
    assert _recorded(repo) != head(repo)
