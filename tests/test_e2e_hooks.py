"""End to end: the real git binary runs the installed hooks (docs/DESIGN.md §5, issue 4).

Every test commits, merges, picks, rebases or applies with git itself and then
looks at what the hooks left in the stores.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import git
from test_hooks_support import (
    INVALID_POLICY,
    binding_of,
    bound,
    commit,
    head,
    install_hooks,
    set_policy,
    snapshot_of,
    stores,
)


@pytest.fixture
def hooked(repo: Path) -> Path:
    install_hooks(repo)
    return repo


@pytest.fixture
def hooked_policy(hooked: Path) -> Path:
    set_policy(hooked, 5.0)
    git(hooked, "add", "-A")
    commit(hooked, "Add model policy")
    return hooked


def cli(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([sys.executable, "-m", "speckit_git_policy", "-C", str(root), *args],
                            capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"{args} failed ({result.returncode}):\n{result.stderr}")
    return result


def no_hooks(root: Path, *args: str) -> str:
    """Run git with every hook switched off (a clone without the tool, a CI bot)."""
    return git(root, "-c", f"core.hooksPath={root / 'no-such-hooks'}", *args)


# ---- commits --------------------------------------------------------------------------
def test_root_commit_is_captured_from_its_tree(hooked: Path) -> None:
    set_policy(hooked, 5.0)
    git(hooked, "add", "-A")
    stderr = commit(hooked, "Add model policy")
    sha = head(hooked)
    document = snapshot_of(hooked, sha)
    assert document["provenance"]["commit"] == sha
    assert document["provenance"]["trigger"] == "commit"
    assert document["provenance"]["validated"] is True
    assert "captured new policy snapshot" in stderr
    assert git(hooked, "status", "--porcelain") == ""  # .speckit/ stays out of the tree


def test_commit_not_touching_the_policy_binds_nothing(hooked_policy: Path) -> None:
    before = bound(hooked_policy)
    (hooked_policy / "README").write_text("hello\n")
    git(hooked_policy, "add", "README")
    stderr = commit(hooked_policy, "readme")
    assert bound(hooked_policy) == before
    assert "speckit" not in stderr


def test_partial_commit_captures_the_committed_tree_not_the_work_tree(hooked_policy: Path) -> None:
    set_policy(hooked_policy, 6.0)
    git(hooked_policy, "add", "model_policy.toml")
    set_policy(hooked_policy, 7.0)  # unstaged edit on top
    commit(hooked_policy, "warn at 6")
    document = snapshot_of(hooked_policy, head(hooked_policy))
    assert document["budgets"]["cost"]["warn_threshold"] == 6.0
    assert "warn_threshold = 7.0" in (hooked_policy / "model_policy.toml").read_text()


def test_pre_commit_checks_the_staged_policy_not_the_work_tree(hooked_policy: Path) -> None:
    set_policy(hooked_policy, 6.0)
    git(hooked_policy, "add", "model_policy.toml")
    set_policy(hooked_policy, text=INVALID_POLICY)  # broken, but not staged
    commit(hooked_policy, "valid staged")
    assert snapshot_of(hooked_policy, head(hooked_policy))["provenance"]["validated"] is True

    git(hooked_policy, "add", "model_policy.toml")  # now the broken one is staged
    set_policy(hooked_policy, 6.0)  # and the work tree is fine again
    before = head(hooked_policy)
    stderr = commit(hooked_policy, "invalid staged", check=False)
    assert head(hooked_policy) == before
    assert "model_policy.toml:" in stderr and "capture.mode" in stderr


def test_commit_all_with_invalid_policy_is_blocked_with_located_message(hooked_policy: Path) -> None:
    set_policy(hooked_policy, text=INVALID_POLICY)
    before = head(hooked_policy)
    stderr = commit(hooked_policy, "break it", "-a", check=False)
    assert head(hooked_policy) == before
    line = next(n for n, text in enumerate(INVALID_POLICY.splitlines(), 1) if "everything" in text)
    assert f"model_policy.toml:{line}: capture.mode:" in stderr
    assert "git commit --no-verify" in stderr

    set_policy(hooked_policy, 9.0)
    commit(hooked_policy, "fix it", "-a")
    assert snapshot_of(hooked_policy, head(hooked_policy))["budgets"]["cost"]["warn_threshold"] == 9.0


def test_commit_of_paths_uses_gits_temporary_index(hooked_policy: Path) -> None:
    set_policy(hooked_policy, text=INVALID_POLICY)
    before = head(hooked_policy)
    stderr = commit(hooked_policy, "only the policy", "--", "model_policy.toml", check=False)
    assert head(hooked_policy) == before and "capture.mode" in stderr


def test_no_verify_commit_still_gets_a_snapshot_marked_not_validated(hooked_policy: Path) -> None:
    set_policy(hooked_policy, text=INVALID_POLICY)
    stderr = commit(hooked_policy, "on purpose", "-a", "--no-verify")
    document = snapshot_of(hooked_policy, head(hooked_policy))
    assert document["provenance"]["validated"] is False
    assert document["capture"]["mode"] == "everything"
    assert "does not pass validation" in stderr


def test_amend_moves_the_binding_and_keeps_the_old_commit(hooked_policy: Path) -> None:
    set_policy(hooked_policy, 6.0)
    commit(hooked_policy, "warn at 6", "-a")
    old = head(hooked_policy)
    policy_id = binding_of(hooked_policy, old)["policy_id"]
    commit(hooked_policy, "warn at six", "--amend")
    new = head(hooked_policy)
    assert new != old
    binding = binding_of(hooked_policy, new)
    assert binding["policy_id"] == policy_id
    assert old in binding["rewritten_from"]
    assert old not in bound(hooked_policy)
    # the old commit stays reachable through the capsule, so tracing survives gc
    git(hooked_policy, "reflog", "expire", "--expire=now", "--all")
    git(hooked_policy, "gc", "-q", "--prune=now")
    assert git(hooked_policy, "cat-file", "-t", old).strip() == "commit"


def test_amend_follows_a_binding_only_the_capsule_holds(hooked_policy: Path) -> None:
    # A binding pulled from another clone lives in the capsule only; the sh hook must
    # still see it (its by-commit index) even though .speckit/bindings exists here.
    assert (hooked_policy / ".speckit" / "bindings").is_dir()
    (hooked_policy / "notes.txt").write_text("n\n")
    git(hooked_policy, "add", "notes.txt")
    commit(hooked_policy, "notes")
    old = head(hooked_policy)
    capsule = stores(hooked_policy).capsule
    assert capsule is not None
    policy_id = binding_of(hooked_policy, git(hooked_policy, "rev-parse", "HEAD~1").strip())["policy_id"]
    assert capsule.add_binding(policy_id, old)
    commit(hooked_policy, "notes (amended)", "--amend")
    new = head(hooked_policy)
    assert capsule.policy_for_commit(new) == policy_id
    assert old in binding_of(hooked_policy, new)["rewritten_from"]


def test_amend_that_changes_the_policy_binds_the_new_content(hooked_policy: Path) -> None:
    set_policy(hooked_policy, 6.0)
    commit(hooked_policy, "warn at 6", "-a")
    old = head(hooked_policy)
    set_policy(hooked_policy, 8.0)
    commit(hooked_policy, "warn at 8", "-a", "--amend")
    new = head(hooked_policy)
    assert snapshot_of(hooked_policy, new)["budgets"]["cost"]["warn_threshold"] == 8.0
    # the old commit keeps the snapshot of what it held
    assert snapshot_of(hooked_policy, old)["budgets"]["cost"]["warn_threshold"] == 6.0


# ---- merges, picks, rebases, am ---------------------------------------------------------
def test_fast_forward_merge_binds_the_newest_policy_commit(hooked_policy: Path) -> None:
    git(hooked_policy, "checkout", "-q", "-b", "topic")
    set_policy(hooked_policy, 6.0)
    no_hooks(hooked_policy, "commit", "-q", "-am", "warn 6")
    set_policy(hooked_policy, 7.0)
    no_hooks(hooked_policy, "commit", "-q", "-am", "warn 7")
    newest_policy = head(hooked_policy)
    (hooked_policy / "notes.txt").write_text("n\n")
    no_hooks(hooked_policy, "add", "notes.txt")
    no_hooks(hooked_policy, "commit", "-q", "-m", "notes")
    git(hooked_policy, "checkout", "-q", "main")
    git(hooked_policy, "merge", "-q", "--ff-only", "topic")
    document = snapshot_of(hooked_policy, newest_policy)
    assert document["budgets"]["cost"]["warn_threshold"] == 7.0
    assert document["provenance"]["trigger"] == "merge"
    assert head(hooked_policy) not in bound(hooked_policy)  # "notes" did not touch the policy


def test_true_merge_binds_the_merge_commit(hooked_policy: Path) -> None:
    git(hooked_policy, "checkout", "-q", "-b", "topic")
    set_policy(hooked_policy, 6.0)
    no_hooks(hooked_policy, "commit", "-q", "-am", "warn 6")
    git(hooked_policy, "checkout", "-q", "main")
    (hooked_policy / "other.txt").write_text("o\n")
    git(hooked_policy, "add", "other.txt")
    commit(hooked_policy, "other")
    git(hooked_policy, "merge", "-q", "--no-ff", "--no-edit", "topic")
    merge = head(hooked_policy)
    assert len(git(hooked_policy, "rev-list", "--parents", "-n1", "HEAD").split()) == 3
    assert snapshot_of(hooked_policy, merge)["budgets"]["cost"]["warn_threshold"] == 6.0


def test_cherry_pick_binds_the_pick_to_the_same_snapshot(hooked_policy: Path) -> None:
    git(hooked_policy, "checkout", "-q", "-b", "topic")
    set_policy(hooked_policy, 6.0)
    commit(hooked_policy, "warn 6", "-a")
    original = head(hooked_policy)
    git(hooked_policy, "checkout", "-q", "main")
    (hooked_policy / "other.txt").write_text("o\n")  # so that the pick is a new commit
    git(hooked_policy, "add", "other.txt")
    commit(hooked_policy, "other")
    git(hooked_policy, "cherry-pick", original)
    pick = head(hooked_policy)
    assert pick != original
    assert binding_of(hooked_policy, pick)["policy_id"] == binding_of(hooked_policy, original)["policy_id"]


@pytest.mark.parametrize("backend", ["--merge", "--apply"])
def test_rebase_of_several_commits_follows_every_binding(hooked_policy: Path, backend: str) -> None:
    git(hooked_policy, "checkout", "-q", "-b", "topic")
    olds = []
    for warn in (6.0, 7.0):
        set_policy(hooked_policy, warn)
        commit(hooked_policy, f"warn {warn}", "-a")
        olds.append(head(hooked_policy))
    (hooked_policy / "t.txt").write_text("t\n")
    git(hooked_policy, "add", "t.txt")
    commit(hooked_policy, "t")
    ids = [binding_of(hooked_policy, sha)["policy_id"] for sha in olds]
    git(hooked_policy, "checkout", "-q", "main")
    (hooked_policy / "base.txt").write_text("b\n")
    git(hooked_policy, "add", "base.txt")
    commit(hooked_policy, "base moves")
    git(hooked_policy, "checkout", "-q", "topic")
    git(hooked_policy, "rebase", "-q", backend, "main")
    news = git(hooked_policy, "rev-list", "--reverse", "main..HEAD").split()[:2]
    assert set(news).isdisjoint(olds)
    for old, new, policy_id in zip(olds, news, ids):
        binding = binding_of(hooked_policy, new)
        assert binding["policy_id"] == policy_id
        assert old in binding["rewritten_from"]
        assert old not in bound(hooked_policy)


def test_apply_backend_rebase_captures_new_commits_that_were_never_bound(hooked_policy: Path) -> None:
    git(hooked_policy, "checkout", "-q", "-b", "topic")
    set_policy(hooked_policy, 6.0)
    no_hooks(hooked_policy, "commit", "-q", "-am", "warn 6 (made without hooks)")
    git(hooked_policy, "checkout", "-q", "main")
    (hooked_policy / "base.txt").write_text("b\n")
    git(hooked_policy, "add", "base.txt")
    commit(hooked_policy, "base moves")
    git(hooked_policy, "checkout", "-q", "topic")
    git(hooked_policy, "rebase", "-q", "--apply", "main")
    document = snapshot_of(hooked_policy, head(hooked_policy))
    assert document["budgets"]["cost"]["warn_threshold"] == 6.0


def test_git_am_binds_the_applied_commit(hooked_policy: Path, tmp_path: Path) -> None:
    git(hooked_policy, "checkout", "-q", "-b", "topic")
    set_policy(hooked_policy, 6.0)
    no_hooks(hooked_policy, "commit", "-q", "-am", "warn 6 by mail")
    patches = tmp_path / "patches"
    git(hooked_policy, "format-patch", "-q", "-o", str(patches), "main..topic")
    git(hooked_policy, "checkout", "-q", "main")
    git(hooked_policy, "am", "-q", *sorted(str(p) for p in patches.iterdir()))
    document = snapshot_of(hooked_policy, head(hooked_policy))
    assert document["provenance"]["trigger"] == "applypatch"
    assert document["budgets"]["cost"]["warn_threshold"] == 6.0


# ---- where the hooks live ------------------------------------------------------------------
def test_linked_worktree_uses_the_common_hooks(hooked_policy: Path, tmp_path: Path) -> None:
    worktree = tmp_path / "wt"
    git(hooked_policy, "worktree", "add", "-q", "-b", "side", str(worktree))
    assert not (worktree / ".git").is_dir()
    set_policy(worktree, 6.0)
    commit(worktree, "warn 6 in a worktree", "-a")
    assert snapshot_of(worktree, head(worktree))["budgets"]["cost"]["warn_threshold"] == 6.0
    set_policy(worktree, text=INVALID_POLICY)
    stderr = commit(worktree, "broken", "-a", check=False)
    assert "capture.mode" in stderr


def test_relative_core_hooks_path_resolves_against_the_work_tree(repo: Path) -> None:
    git(repo, "config", "core.hooksPath", ".githooks")
    result = cli(repo, "install")
    assert (repo / ".githooks" / "post-commit").is_file()
    assert not (repo / ".git" / "hooks" / "post-commit").exists()
    assert ".githooks" in result.stdout
    (repo / "sub").mkdir()
    set_policy(repo, 5.0)
    git(repo / "sub", "add", "-A", "..")
    subprocess.run(["git", "commit", "-q", "-m", "policy from a subdirectory"], cwd=repo / "sub",
                   check=True, capture_output=True)
    assert binding_of(repo, head(repo))["commit"] == head(repo)


def test_foreign_hooks_are_chained_and_restored_exactly(repo: Path) -> None:
    hooks = repo / ".git" / "hooks"
    foreign_pre = b"#!/bin/sh\necho foreign-pre >> \"$(git rev-parse --git-dir)/ran\"\nexit ${FOREIGN_EXIT:-0}\n"
    foreign_post = b"#!/bin/sh\n# post-rewrite sees its stdin too\ncat >> \"$(git rev-parse --git-dir)/rewrites\"\n"
    (hooks / "pre-commit").write_bytes(foreign_pre)
    (hooks / "pre-commit").chmod(0o750)
    (hooks / "post-rewrite").write_bytes(foreign_post)
    (hooks / "post-rewrite").chmod(0o755)
    install_hooks(repo)
    install_hooks(repo)  # idempotent: the foreign hook is not moved twice
    assert (hooks / "pre-commit.speckit-legacy").read_bytes() == foreign_pre

    set_policy(repo, 5.0)
    git(repo, "add", "-A")
    commit(repo, "policy")
    assert (repo / ".git" / "ran").read_text() == "foreign-pre\n"
    assert binding_of(repo, head(repo))
    commit(repo, "policy, reworded", "--amend")
    assert len((repo / ".git" / "rewrites").read_text().split()) >= 2  # "old new"

    (repo / "x").write_text("x\n")
    git(repo, "add", "x")
    before = head(repo)
    blocked = subprocess.run(["git", "commit", "-q", "-m", "x"], cwd=repo, capture_output=True,
                             env=dict(os.environ, FOREIGN_EXIT="1"), check=False)
    assert blocked.returncode != 0 and head(repo) == before

    cli(repo, "uninstall")
    assert (hooks / "pre-commit").read_bytes() == foreign_pre
    assert (hooks / "pre-commit").stat().st_mode & 0o777 == 0o750
    assert (hooks / "post-rewrite").read_bytes() == foreign_post
    assert not (hooks / "post-commit").exists()
    assert not list(hooks.glob("*.speckit-legacy"))


def test_repo_path_with_spaces_and_non_ascii(tmp_path: Path) -> None:
    root = tmp_path / "my répo ü 政策"
    root.mkdir()
    git(root, "init", "-q")
    cli(root, "init")
    git(root, "add", "-A")
    commit(root, "policy")
    assert snapshot_of(root, head(root))["provenance"]["validated"] is True


def test_configured_source_paths_are_honoured_by_the_sh_hot_path(hooked: Path) -> None:
    git(hooked, "config", "speckit.policyFile", "policy/team policy.toml")
    (hooked / "policy").mkdir()
    set_policy(hooked, 5.0)
    (hooked / "model_policy.toml").rename(hooked / "policy" / "team policy.toml")
    git(hooked, "add", "-A")
    commit(hooked, "policy at a configured path")
    assert binding_of(hooked, head(hooked))
    (hooked / "policy" / "team policy.toml").write_text(INVALID_POLICY)
    assert "capture.mode" in commit(hooked, "broken", "-a", check=False)


# ---- failures of the tool itself --------------------------------------------------------
def test_missing_interpreter_is_loud_and_never_blocks(repo: Path) -> None:
    install_hooks(repo, python="/nonexistent/venv/bin/python")
    set_policy(repo, 5.0)
    git(repo, "add", "-A")
    stderr = commit(repo, "policy")
    assert git(repo, "rev-list", "--count", "HEAD").strip() == "1"
    assert "/nonexistent/venv/bin/python" in stderr and "git speckit-policy install" in stderr
    report = json.loads(cli(repo, "doctor", "--json", check=False).stdout)
    checks = {check["name"]: check for check in report["checks"]}
    assert report["ok"] is False
    assert checks["interpreter"]["ok"] is False
    assert checks["missed captures"]["ok"] is False and head(repo)[:12] in checks["missed captures"]["detail"]


def test_capture_failure_never_blocks_and_is_made_up_later(hooked_policy: Path) -> None:
    git(hooked_policy, "config", "speckit.workspace", "../escape")  # the capture will refuse this
    set_policy(hooked_policy, 6.0)
    stderr = commit(hooked_policy, "warn 6", "-a")
    sha = head(hooked_policy)
    assert "speckit-git-policy post-commit" in stderr and "warning" in stderr
    git(hooked_policy, "config", "--unset", "speckit.workspace")
    doctor = json.loads(cli(hooked_policy, "doctor", "--json", check=False).stdout)
    missed = next(c for c in doctor["checks"] if c["name"] == "missed captures")
    assert missed["ok"] is False and sha[:12] in missed["detail"]
    cli(hooked_policy, "capture", "--commit", sha)
    assert binding_of(hooked_policy, sha)


def test_doctor_is_green_after_init(repo: Path) -> None:
    cli(repo, "init")
    git(repo, "add", "-A")
    commit(repo, "policy")
    report = json.loads(cli(repo, "doctor", "--json").stdout)
    assert report["ok"] is True
    assert [c["name"] for c in report["checks"]] == [
        "hooks", "interpreter", "tool", "capsule refspecs", "capsule", "missed captures", "settings"]
    assert all(set(c) == {"name", "ok", "detail"} for c in report["checks"])


# ---- the hot path ------------------------------------------------------------------------
def python_wrapper(tmp_path: Path) -> tuple[Path, Path]:
    """An interpreter that logs every start, to see when the sh hook needs Python."""
    log = tmp_path / "python-starts.log"
    wrapper = tmp_path / "logging-python"
    wrapper.write_text(f'#!/bin/sh\necho "$*" >> "{log}"\nexec "{sys.executable}" "$@"\n')
    wrapper.chmod(0o755)
    return wrapper, log


def test_python_starts_only_when_a_source_changed(repo: Path, tmp_path: Path) -> None:
    wrapper, log = python_wrapper(tmp_path)
    install_hooks(repo, python=str(wrapper))
    set_policy(repo, 5.0)
    git(repo, "add", "-A")
    commit(repo, "policy")
    assert "pre-commit" in log.read_text() and "post-commit" in log.read_text()
    log.unlink()
    (repo / "a.txt").write_text("a\n")
    git(repo, "add", "a.txt")
    commit(repo, "unrelated")
    commit(repo, "unrelated, reworded", "--amend")
    (repo / "b.txt").write_text("b\n")
    git(repo, "add", "b.txt")
    commit(repo, "unrelated b")
    git(repo, "checkout", "-q", "-b", "topic", "HEAD~1")
    git(repo, "checkout", "-q", "main")
    git(repo, "merge", "-q", "--no-edit", "topic")
    assert not log.exists()


@pytest.mark.parametrize("hook", ["pre-commit", "post-commit", "post-merge"])
def test_runner_imports_nothing_heavy_when_no_source_changed(hooked_policy: Path, hook: str) -> None:
    (hooked_policy / "a.txt").write_text("a\n")
    git(hooked_policy, "add", "a.txt")
    if hook != "pre-commit":
        commit(hooked_policy, "unrelated")
    code = (
        "import sys\n"
        "from speckit_git_policy.hooks import runner as hook_runner\n"
        f"rc = hook_runner.main([{hook!r}, '0'])\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('dulwich', 'pydantic', 'click'))\n"
        "print(rc, heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=hooked_policy, capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == "0 []"
