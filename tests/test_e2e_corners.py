"""End to end through git's corners (issue 11): every way people commit, rebase and clone
keeps a correct trail, and the tool's own failures are fast and clear.

Every test drives the real git binary through the installed hooks (and the CLI as a
user runs it), then looks at what the stores hold and what the commands say.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import git
from test_hooks_support import (
    INVALID_POLICY,
    commit,
    head,
    install_hooks,
    policy_text,
    set_policy,
    stores,
)

from speckit_git_policy.git.repo import GitRepo
from speckit_git_policy.store import Stores

EDITOR = {"GIT_EDITOR": "true"}


def speckit(root: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI as a user runs it, in a fresh process."""
    return subprocess.run([sys.executable, "-m", "speckit_git_policy", "-C", str(root), *args],
                          capture_output=True, text=True, check=False, env={**os.environ, **(env or {})})


def ok(root: Path, *args: str) -> str:
    result = speckit(root, *args)
    assert result.returncode == 0, f"{args}: {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def sh_git(root: Path, *args: str, env: dict[str, str] | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    """git with the hooks (they speak on stderr), returning the whole result."""
    result = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                            env={**os.environ, **EDITOR, **(env or {})}, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
    return result


def no_hooks(root: Path, *args: str) -> str:
    return git(root, "-c", f"core.hooksPath={root / 'no-such-hooks'}", *args)


def every_binding(root: Path) -> dict[str, list[dict[str, Any]]]:
    """policy id → its bindings, as both stores hold them, merged."""
    return {pid: [dict(b) for b in bs] for pid, bs in stores(root).all_bindings().items()}


def bound_commits(root: Path) -> set[str]:
    return {b["commit"] for bs in every_binding(root).values() for b in bs}


def binding(root: Path, commit_sha: str) -> dict[str, Any]:
    for policy_id, bindings in every_binding(root).items():
        for found in bindings:
            if found["commit"] == commit_sha:
                return {"policy_id": policy_id, **found}
    raise AssertionError(f"{commit_sha} is not bound; bindings: {every_binding(root)}")


def history(root: Path, rev: str = "HEAD") -> list[str]:
    return git(root, "rev-list", rev).split()


def log_commits(root: Path, *args: str) -> list[str]:
    return [entry["commit"] for entry in json.loads(ok(root, "log", "--json", *args))]


@pytest.fixture
def hooked_policy(repo: Path) -> Path:
    install_hooks(repo)
    set_policy(repo, 5.0)
    git(repo, "add", "-A")
    commit(repo, "Add model policy")
    return repo


def policy_commit(root: Path, warn: float, message: str) -> str:
    set_policy(root, warn)
    commit(root, message, "-a")
    return head(root)


def other_commit(root: Path, name: str) -> str:
    (root / name).write_text(f"{name}\n")
    git(root, "add", name)
    commit(root, name)
    return head(root)


# ---- 1. a merge concluded after a conflict ---------------------------------------------------
@pytest.mark.parametrize("conclude", [["commit", "--no-edit"], ["merge", "--continue"]])
def test_merge_concluded_after_a_conflict_in_the_policy_is_captured(
    hooked_policy: Path, conclude: list[str]
) -> None:
    git(hooked_policy, "checkout", "-q", "-b", "topic")
    policy_commit(hooked_policy, 6.0, "warn 6 on topic")
    git(hooked_policy, "checkout", "-q", "main")
    policy_commit(hooked_policy, 7.0, "warn 7 on main")
    merging = sh_git(hooked_policy, "merge", "topic", check=False)
    assert merging.returncode != 0 and "CONFLICT" in merging.stdout
    git(hooked_policy, "checkout", "--theirs", "model_policy.toml")
    git(hooked_policy, "add", "model_policy.toml")
    concluded = sh_git(hooked_policy, *conclude)
    merge = head(hooked_policy)
    assert len(git(hooked_policy, "rev-list", "--parents", "-n1", "HEAD").split()) == 3
    assert "post-commit: bound policy snapshot" in concluded.stderr
    document = stores(hooked_policy).load(binding(hooked_policy, merge)["policy_id"])
    assert document["budgets"]["cost"]["warn_threshold"] == 6.0
    current = json.loads(ok(hooked_policy, "current", "--json"))
    assert current["drift"] is False and current["commit"] == merge
    doctor = json.loads(ok(hooked_policy, "doctor", "--json"))
    assert next(c for c in doctor["checks"] if c["name"] == "missed captures")["ok"] is True
    assert log_commits(hooked_policy)[0] == merge


# ---- 2. squash and fixup ----------------------------------------------------------------------
def test_squash_and_fixup_record_every_folded_original_and_never_bind_the_intermediate(
    hooked_policy: Path,
) -> None:
    base = head(hooked_policy)
    originals = [policy_commit(hooked_policy, warn, f"warn {warn}") for warn in (6.0, 7.0, 8.0)]
    other_commit(hooked_policy, "notes.txt")
    before = bound_commits(hooked_policy)
    todo = "sed -i -e '2s/^pick/squash/' -e '3s/^pick/fixup/'"
    sh_git(hooked_policy, "rebase", "-q", "-i", base, env={"GIT_SEQUENCE_EDITOR": todo})
    squashed = git(hooked_policy, "rev-list", "-n1", "HEAD~1").strip()
    assert git(hooked_policy, "rev-list", "--count", f"{base}..HEAD").strip() == "2"
    folded = binding(hooked_policy, squashed)
    assert folded["rewritten_from"] == originals  # every original, oldest first
    document = stores(hooked_policy).load(folded["policy_id"])
    assert document["budgets"]["cost"]["warn_threshold"] == 8.0
    # Bound now: what was bound before, and the squashed commit; no intermediate commit
    # of the sequencer ("This is a combination of 2 commits") is among them.
    assert bound_commits(hooked_policy) - before == {squashed}
    assert log_commits(hooked_policy) == [squashed, base]


def test_rebase_exec_amend_keeps_the_first_original(hooked_policy: Path) -> None:
    git(hooked_policy, "checkout", "-q", "-b", "topic")
    original = policy_commit(hooked_policy, 6.0, "warn 6")
    git(hooked_policy, "checkout", "-q", "main")
    other_commit(hooked_policy, "base.txt")
    git(hooked_policy, "checkout", "-q", "topic")
    sh_git(hooked_policy, "rebase", "-q", "-x", "git commit -q --amend -m 'warn 6, reworded'", "main")
    final = head(hooked_policy)
    found = binding(hooked_policy, final)
    assert found["rewritten_from"][0] == original and len(found["rewritten_from"]) == 2
    assert original not in bound_commits(hooked_policy)
    assert log_commits(hooked_policy)[0] == final


# ---- 3. an aborted rebase ----------------------------------------------------------------------
def test_aborted_rebase_leaves_no_binding_on_the_picks_it_abandoned(hooked_policy: Path) -> None:
    git(hooked_policy, "checkout", "-q", "-b", "topic")
    policy_commit(hooked_policy, 6.0, "warn 6")
    policy_commit(hooked_policy, 7.0, "warn 7")
    git(hooked_policy, "checkout", "-q", "main")
    other_commit(hooked_policy, "base.txt")
    git(hooked_policy, "checkout", "-q", "topic")
    before = every_binding(hooked_policy)
    stopped = sh_git(hooked_policy, "rebase", "-i", "main",
                     env={"GIT_SEQUENCE_EDITOR": "sed -i -e '2s/^pick/edit/'"})
    assert "git rebase --continue" in stopped.stderr  # stopped after picking both
    sh_git(hooked_policy, "commit", "-q", "--amend", "-m", "warn 7, amended while stopped")
    sh_git(hooked_policy, "rebase", "--abort")
    assert every_binding(hooked_policy) == before
    assert json.loads(ok(hooked_policy, "verify", "--json"))["ok"] is True


# ---- 4. there and back -----------------------------------------------------------------------
def test_rebase_there_and_back_to_the_same_sha_keeps_the_binding(
    hooked_policy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in ("GIT_COMMITTER_DATE", "GIT_AUTHOR_DATE"):
        monkeypatch.setenv(variable, "1700000000 +0000")  # so that "back" is the same SHA
    start = head(hooked_policy)
    git(hooked_policy, "checkout", "-q", "-b", "topic")
    original = policy_commit(hooked_policy, 6.0, "warn 6")
    git(hooked_policy, "checkout", "-q", "main")
    other_commit(hooked_policy, "base.txt")
    git(hooked_policy, "checkout", "-q", "topic")
    sh_git(hooked_policy, "rebase", "-q", "main")
    there = head(hooked_policy)
    assert there != original and binding(hooked_policy, there)["rewritten_from"] == [original]
    sh_git(hooked_policy, "rebase", "-q", "--onto", start, "main")
    assert head(hooked_policy) == original
    back = binding(hooked_policy, original)
    assert there in back["rewritten_from"]
    assert stores(hooked_policy).load(back["policy_id"])["budgets"]["cost"]["warn_threshold"] == 6.0
    assert json.loads(ok(hooked_policy, "verify", "--json"))["ok"] is True
    assert log_commits(hooked_policy)[0] == original


# ---- 5. a rewrite made while the capsule was off -----------------------------------------------
def test_verify_repair_carries_a_rewrite_made_while_the_capsule_was_off(hooked_policy: Path) -> None:
    original = policy_commit(hooked_policy, 6.0, "warn 6")
    policy_id = binding(hooked_policy, original)["policy_id"]
    git(hooked_policy, "config", "speckit.capsule", "false")
    commit(hooked_policy, "warn 6, reworded", "--amend")
    amended = head(hooked_policy)
    git(hooked_policy, "config", "--unset", "speckit.capsule")
    capsule = stores(hooked_policy).capsule
    assert capsule is not None
    assert [b["commit"] for b in capsule.bindings(policy_id)] == [original]
    report = json.loads(speckit(hooked_policy, "verify", "--json").stdout)
    problem = next(p for p in report["problems"] if p["kind"] == "binding")
    assert report["ok"] is False and problem["commit"] == amended and problem["repairable"] is True
    assert "rewrite of" in problem["message"]
    ok(hooked_policy, "verify", "--repair")
    assert [(b["commit"], b["rewritten_from"]) for b in capsule.bindings(policy_id)] == [
        (amended, [original])
    ]
    assert json.loads(ok(hooked_policy, "verify", "--json"))["ok"] is True


# ---- 6. a rewrite from another clone, across snapshots -----------------------------------------
def test_another_clones_amend_moves_this_clones_own_snapshot_of_that_commit(
    tmp_path: Path, bare_remote: Path
) -> None:
    first = tmp_path / "first"
    git(tmp_path, "init", "-q", str(first))
    install_hooks(first)
    set_policy(first, 5.0)
    git(first, "add", "-A")
    commit(first, "Add model policy")
    git(first, "remote", "add", "origin", str(bare_remote))
    git(first, "push", "-q", "-u", "origin", "main")
    policy_commit(first, 6.0, "warn 6")
    original = head(first)
    git(first, "push", "-q", "origin", "main")

    second = tmp_path / "second"
    git(tmp_path, "clone", "-q", str(bare_remote), str(second))
    install_hooks(second)
    # The branch arrives without the capsule: the merge captures its own snapshot.
    git(second, "reset", "-q", "--hard", "HEAD~1")
    sh_git(second, "merge", "-q", "--ff-only", "origin/main")
    own = binding(second, original)["policy_id"]
    theirs = binding(first, original)["policy_id"]
    assert own != theirs

    commit(first, "warn 6, reworded", "--amend")
    amended = head(first)
    git(first, "push", "-q", "-f", "origin", "main")
    ok(first, "push")
    ok(second, "pull")
    # Both snapshots of that content now follow the amend; neither binds the old SHA.
    for policy_id in (own, theirs):
        moved = {b["commit"]: b for b in every_binding(second)[policy_id]}
        assert original not in moved and moved[amended]["rewritten_from"] == [original]
    ok(second, "verify", "--repair")  # the first clone's snapshot, restored into .speckit/
    assert json.loads(ok(second, "verify", "--json"))["ok"] is True
    # Its history still holds the original until it fetches the branch: log lists what it has.
    assert log_commits(second, "origin/main")[0] == original
    git(second, "fetch", "-q", "origin")
    assert log_commits(second, "origin/main")[0] == amended


# ---- 7. run start on a HEAD that did not touch the policy ---------------------------------------
def test_run_start_on_an_unrelated_head_records_it_and_binds_nothing(hooked_policy: Path) -> None:
    policy = head(hooked_policy)
    unrelated = other_commit(hooked_policy, "README")
    run = json.loads(ok(hooked_policy, "run", "start", "--run-id", "r1", "--json"))
    assert run["commit"] == unrelated
    assert unrelated not in bound_commits(hooked_policy)
    ok(hooked_policy, "run", "stage", "r1", "plan")
    assert unrelated not in bound_commits(hooked_policy)
    events = json.loads(ok(hooked_policy, "run", "show", "r1", "--json"))
    assert events[0]["commit"] == unrelated
    traced = json.loads(ok(hooked_policy, "trace", "r1", "--json"))
    assert [s["commit"] for s in traced["snapshots"]] == [policy]
    assert log_commits(hooked_policy) == [policy]


# ---- 8. log walks REV's history in git's order ----------------------------------------------
def test_log_walks_head_in_gits_order_after_reset_to_orig_head(hooked_policy: Path) -> None:
    first = head(hooked_policy)
    git(hooked_policy, "checkout", "-q", "-b", "topic")
    original = policy_commit(hooked_policy, 6.0, "warn 6")
    git(hooked_policy, "checkout", "-q", "main")
    other_commit(hooked_policy, "base.txt")
    git(hooked_policy, "checkout", "-q", "topic")
    sh_git(hooked_policy, "rebase", "-q", "main")
    rebased = head(hooked_policy)
    assert log_commits(hooked_policy) == [rebased, first]
    git(hooked_policy, "reset", "-q", "--hard", "ORIG_HEAD")  # the rebase, undone
    assert head(hooked_policy) == original
    assert log_commits(hooked_policy) == [original, first]  # not the rebased copy
    assert log_commits(hooked_policy, "main") == [first]
    everything = log_commits(hooked_policy, "--all")
    assert rebased in everything and first in everything


def test_log_puts_a_commit_dated_before_its_parent_after_its_child(hooked_policy: Path) -> None:
    parent = policy_commit(hooked_policy, 6.0, "warn 6")
    set_policy(hooked_policy, 7.0)
    earlier = {"GIT_COMMITTER_DATE": "1000000000 +0000", "GIT_AUTHOR_DATE": "1000000000 +0000"}
    sh_git(hooked_policy, "commit", "-q", "-am", "warn 7, clock skewed", env=earlier)
    child = head(hooked_policy)
    entries = json.loads(ok(hooked_policy, "log", "--json"))
    assert [e["commit"] for e in entries[:2]] == [child, parent]
    assert entries[0]["changed"] == ["budgets.cost.warn_threshold", "source_digests.model_policy.toml"]
    assert [e["commit"] for e in json.loads(ok(hooked_policy, "log", "-n", "1", "--json"))] == [child]
    assert speckit(hooked_policy, "log", "HEAD", "--all").returncode == 2


def test_log_n_reads_a_bounded_part_of_a_long_history(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from test_history import bind_snapshots, build_history

    from speckit_git_policy.git import repo as git_repo_module
    from speckit_git_policy.queries.history import policy_log

    shas = build_history(repo, 600, 3)  # 200 commits that changed the policy
    bind_snapshots(repo, shas)
    calls: list[list[str]] = []
    real = git_repo_module.run_git

    def counted(args: list[str], *rest: Any, **kwargs: Any) -> bytes:
        calls.append(args)
        return real(args, *rest, **kwargs)

    monkeypatch.setattr(git_repo_module, "run_git", counted)
    git_repo = GitRepo.discover(repo)
    entries = policy_log(git_repo, Stores(git_repo), limit=10)
    assert [e["commit"] for e in entries] == shas[::-1][:10]
    walks = [args for args in calls if "rev-list" in args]
    assert len(walks) == 1 and any(arg.startswith("--max-count=") for arg in walks[0])
    assert int(next(a for a in walks[0] if a.startswith("--max-count="))[12:]) < len(shas)


# ---- 9. SHA-256 repositories ----------------------------------------------------------------
def test_sha256_repository_keeps_a_capsule_git_fsck_and_gc_accept(tmp_path: Path) -> None:
    root = tmp_path / "sha256"
    git(tmp_path, "init", "-q", "--object-format=sha256", str(root))
    ok(root, "init")
    git(root, "add", "-A")
    stderr = commit(root, "Add model policy")
    first = head(root)
    assert len(first) == 64 and "captured new policy snapshot" in stderr
    policy_commit(root, 6.0, "warn 6")
    commit(root, "warn 6, reworded", "--amend")
    amended = head(root)
    assert binding(root, amended)["rewritten_from"][0] != amended
    run = json.loads(ok(root, "run", "start", "--run-id", "r1", "--json"))
    ok(root, "run", "checkpoint", "r1", "--label", "done")
    assert run["commit"] == amended
    fsck = subprocess.run(["git", "fsck", "--strict", "--no-progress"], cwd=root,
                          capture_output=True, text=True, check=False)
    assert fsck.returncode == 0 and "error" not in fsck.stderr.lower(), fsck.stderr
    gc = subprocess.run(["git", "gc", "-q", "--prune=now"], cwd=root, capture_output=True,
                        text=True, check=False)
    assert gc.returncode == 0 and gc.stderr == "", gc.stderr
    assert log_commits(root) == [amended, first]
    assert json.loads(ok(root, "verify", "--json"))["ok"] is True
    traced = json.loads(ok(root, "trace", "r1", "--json"))
    assert traced["snapshots"][0]["commit"] == amended and traced["snapshots"][0]["author"]
    assert json.loads(ok(root, "doctor", "--json"))["ok"] is True


# ---- 10. partial clones ----------------------------------------------------------------------
def test_partial_clone_reads_promisor_objects_through_git(tmp_path: Path) -> None:
    origin = tmp_path / "origin"
    git(tmp_path, "init", "-q", str(origin))
    ok(origin, "init")
    git(origin, "add", "-A")
    commit(origin, "Add model policy")
    policy_commit(origin, 6.0, "warn 6")
    ok(origin, "run", "start", "--run-id", "r1")
    ok(origin, "run", "stage", "r1", "plan")
    git(origin, "config", "uploadpack.allowFilter", "true")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", "--filter=blob:none", f"file://{origin}", str(clone))
    git(clone, "fetch", "-q", "origin", "refs/speckit/*:refs/speckit/*")
    missing = git(clone, "rev-list", "--objects", "--missing=print", "refs/speckit/default/policy")
    assert any(line.startswith("?") for line in missing.splitlines())  # promisor objects
    for args in (["list"], ["log"], ["trace", "r1"], ["blame", "r1"], ["run", "checkpoint", "r1"]):
        result = speckit(clone, *args)
        assert result.returncode == 0 and "KeyError" not in result.stderr, (args, result.stderr)
    ok(clone, "verify", "--repair")
    assert json.loads(ok(clone, "verify", "--json"))["ok"] is True
    assert [e["commit"] for e in json.loads(ok(clone, "log", "--json"))] == history(clone)[:2]


# ---- 11. worktrees, sparse checkouts, GIT_DIR ----------------------------------------------------
def test_linked_worktree_restores_a_snapshot_captured_in_another(hooked_policy: Path, tmp_path: Path) -> None:
    worktree = tmp_path / "wt"
    git(hooked_policy, "worktree", "add", "-q", "-b", "side", str(worktree))
    policy_commit(worktree, 6.0, "warn 6 in the linked worktree")
    captured = binding(worktree, head(worktree))["policy_id"]
    assert not (hooked_policy / ".speckit" / "policies" / f"snapshot-{captured}.json").exists()
    report = json.loads(ok(hooked_policy, "verify", "--json"))
    assert report["ok"] is True
    assert [p["kind"] for p in report["problems"]] == ["restored"]
    assert (hooked_policy / ".speckit" / "policies" / f"snapshot-{captured}.json").is_file()
    assert json.loads(ok(hooked_policy, "verify", "--json"))["problems"] == []
    assert git(hooked_policy, "status", "--porcelain") == ""


def test_sparse_checkout_without_docs_reads_the_left_out_source_from_the_index(hooked_policy: Path) -> None:
    git(hooked_policy, "sparse-checkout", "set", "--no-cone", "/*", "!/docs/")
    assert not (hooked_policy / "docs" / "MODEL-POLICY.md").exists()
    current = json.loads(ok(hooked_policy, "current", "--json"))
    assert current["drift"] is False
    assert "policy is valid" in ok(hooked_policy, "validate")
    run = json.loads(ok(hooked_policy, "run", "start", "--json"))
    assert run["policy_id"] == current["policy_id"]
    captured = json.loads(ok(hooked_policy, "capture", "--json"))
    assert captured["created"] is False and captured["commit"] == head(hooked_policy)
    policy_commit(hooked_policy, 6.0, "warn 6 in a sparse checkout")
    assert binding(hooked_policy, head(hooked_policy))


def test_git_dir_and_work_tree_with_the_cwd_outside(hooked_policy: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    env = {**os.environ, "GIT_DIR": os.path.relpath(hooked_policy / ".git", outside),
           "GIT_WORK_TREE": os.path.relpath(hooked_policy, outside)}
    for args in (["current", "--json"], ["validate"], ["log", "--json"], ["verify", "--json"]):
        result = subprocess.run([sys.executable, "-m", "speckit_git_policy", *args], cwd=outside,
                                capture_output=True, text=True, env=env, check=False)
        assert result.returncode == 0, (args, result.stderr)
        assert "needs a work tree" not in result.stderr
    assert json.loads(subprocess.run([sys.executable, "-m", "speckit_git_policy", "current", "--json"],
                                     cwd=outside, capture_output=True, text=True, env=env,
                                     check=True).stdout)["commit"] == head(hooked_policy)


# ---- 12. a global core.hooksPath -----------------------------------------------------------------
def test_install_refuses_a_global_hooks_path_unless_asked(repo: Path, tmp_path: Path) -> None:
    shared = tmp_path / "shared-hooks"
    git(repo, "config", "--global", "core.hooksPath", str(shared))
    refused = speckit(repo, "install")
    assert refused.returncode == 2 and not shared.exists()
    assert "global git config" in refused.stderr and "--shared-hooks-path" in refused.stderr
    assert speckit(repo, "init").returncode == 2 and not (repo / "model_policy.toml").exists()
    ok(repo, "install", "--shared-hooks-path")
    assert (shared / "post-commit").is_file()
    # A value of this repository's own wins over the global one: installed here, no flag.
    git(repo, "config", "core.hooksPath", ".githooks")
    ok(repo, "install")
    assert (repo / ".githooks" / "post-commit").is_file()


# ---- 13. capsule refs that are garbage, symbolic or dangling ----------------------------------------
POLICY_REF = Path(".git") / "refs" / "speckit" / "default" / "policy"


@pytest.mark.parametrize("content", [b"garbage\n", b"ref: refs/heads/main\n", b""])
def test_a_broken_capsule_ref_fails_at_once_and_the_commit_lands(hooked_policy: Path, content: bytes) -> None:
    (hooked_policy / POLICY_REF).write_bytes(content)
    set_policy(hooked_policy, 6.0)
    result = sh_git(hooked_policy, "commit", "-q", "-am", "warn 6")
    landed = head(hooked_policy)
    assert git(hooked_policy, "log", "-1", "--format=%s").strip() == "warn 6"
    assert "lost races" not in result.stderr and "Traceback" not in result.stderr
    assert "capsule ref refs/speckit/default/policy" in result.stderr
    assert "mv " in result.stderr  # the fix
    assert git(hooked_policy, "rev-parse", "main").strip() == landed  # a symref moved nothing
    assert (hooked_policy / POLICY_REF).read_bytes() == content  # nothing written to it
    doctor = speckit(hooked_policy, "doctor", "--json")
    capsule = next(c for c in json.loads(doctor.stdout)["checks"] if c["name"] == "capsule")
    assert doctor.returncode == 1 and capsule["ok"] is False and "policy" in capsule["detail"]
    verify = speckit(hooked_policy, "verify")
    assert verify.returncode == 1 and "Traceback" not in verify.stderr
    assert "capsule ref refs/speckit/default/policy" in verify.stderr
    listed = speckit(hooked_policy, "list")
    assert listed.returncode == 1 and listed.stderr.count("\n") == 1  # one line, exit 1


def test_a_capsule_ref_naming_a_missing_object_is_reported(hooked_policy: Path) -> None:
    (hooked_policy / POLICY_REF).write_text("1" * 40 + "\n")
    for args in (["verify", "--json"], ["doctor", "--json"]):
        result = speckit(hooked_policy, *args)
        assert result.returncode == 1 and "KeyError" not in result.stdout + result.stderr
        assert "1111111111111111111111111111111111111111, which is missing" in result.stdout
    assert "is missing" in speckit(hooked_policy, "log").stderr


# ---- 14. locks, full disks, read-only refs, leftovers ---------------------------------------------
def test_a_stale_lock_is_named_with_its_fix_by_the_hook_doctor_and_verify(hooked_policy: Path) -> None:
    lock = hooked_policy / ".git" / "refs" / "speckit" / "default" / "policy.lock"
    lock.write_text("")
    os.utime(lock, (1_000_000_000, 1_000_000_000))
    set_policy(hooked_policy, 6.0)
    stderr = sh_git(hooked_policy, "commit", "-q", "-am", "warn 6").stderr
    assert git(hooked_policy, "log", "-1", "--format=%s").strip() == "warn 6"
    assert f"rm '{lock}'" in stderr
    doctor = json.loads(speckit(hooked_policy, "doctor", "--json").stdout)
    assert f"rm '{lock}'" in next(c for c in doctor["checks"] if c["name"] == "capsule")["detail"]
    verify = json.loads(speckit(hooked_policy, "verify", "--json").stdout)
    assert any(p["kind"] == "lock" and f"rm '{lock}'" in p["message"] for p in verify["problems"])
    lock.unlink()
    commit_sha = head(hooked_policy)
    ok(hooked_policy, "capture", "--commit", commit_sha)
    assert json.loads(ok(hooked_policy, "verify", "--json"))["ok"] is True


INJECT = '''
import errno, os, runpy, stat, sys
kind = os.environ["SPECKIT_TEST_FAULT"]
real_open, real_write = os.open, os.write
def fault(path):
    code = {"EROFS": errno.EROFS, "EACCES": errno.EACCES, "ENOSPC": errno.ENOSPC}[kind]
    return OSError(code, os.strerror(code), path)
def refusing_open(path, flags, *args, **kwargs):
    if kind != "ENOSPC" and flags & os.O_CREAT and os.sep + ".speckit" + os.sep in os.fspath(path):
        raise fault(path)
    return real_open(path, flags, *args, **kwargs)
def full_write(fd, data):
    if kind == "ENOSPC" and stat.S_ISREG(os.fstat(fd).st_mode):
        raise fault(None)
    return real_write(fd, data)
os.open, os.write = refusing_open, full_write
args = [a for a in sys.argv[1:] if a != "-S"]
if "-c" in args:  # the sh hook: python -c "<runner>" <hook> [args]
    code = args[args.index("-c") + 1]
    sys.argv = ["-c", *args[args.index("-c") + 2:]]
    exec(compile(code, "<string>", "exec"), {"__name__": "__main__"})
    raise SystemExit(0)
module = args[args.index("-m") + 1]
sys.argv = [module, *args[args.index("-m") + 2:]]
runpy.run_module(module, run_name="__main__", alter_sys=True)
'''


def faulty_python(tmp_path: Path) -> Path:
    """An interpreter whose file writes fail like a read-only file system, a denied
    permission or a full disk (SPECKIT_TEST_FAULT), as the hooks and the CLI start it."""
    script = tmp_path / "inject.py"
    script.write_text(INJECT)
    wrapper = tmp_path / "faulty-python"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{script}" "$@"\n')
    wrapper.chmod(0o755)
    return wrapper


@pytest.mark.parametrize("fault", ["EROFS", "EACCES", "ENOSPC"])
def test_a_refused_write_is_one_clear_line_in_the_cli_and_the_hook(
    repo: Path, tmp_path: Path, fault: str
) -> None:
    python = faulty_python(tmp_path)
    install_hooks(repo, python=str(python))
    set_policy(repo, 5.0)
    git(repo, "add", "-A")
    env = {"SPECKIT_TEST_FAULT": fault}
    hooked = sh_git(repo, "commit", "-q", "-m", "policy", env=env)
    assert git(repo, "rev-list", "--count", "HEAD").strip() == "1"  # the commit landed
    warning = [line for line in hooked.stderr.splitlines() if "no policy snapshot" in line]
    assert len(warning) == 1 and f"({fault})" in warning[0] and "internal error" not in hooked.stderr
    assert str(repo) in warning[0]  # the path that was refused
    result = subprocess.run([str(python), "-m", "speckit_git_policy", "-C", str(repo), "capture"],
                            capture_output=True, text=True, env={**os.environ, **env}, check=False)
    assert result.returncode == 3 and "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1 and f"({fault})" in result.stderr
    assert result.stderr.startswith(f"error: {repo}")  # the path that was refused


def test_leftovers_of_killed_writers_are_swept(hooked_policy: Path) -> None:
    old = (1_000_000_000, 1_000_000_000)
    temp = hooked_policy / ".speckit" / "policies" / ".snapshot-x.json.1_abc.tmp"
    temp.write_bytes(b"{")
    fresh = hooked_policy / ".speckit" / "policies" / ".snapshot-y.json.2_def.tmp"
    fresh.write_bytes(b"{")
    fan = hooked_policy / ".git" / "objects" / "ab"
    fan.mkdir(exist_ok=True)
    tmp_obj = fan / "tmp_obj_123_abc"
    tmp_obj.write_bytes(b"x")
    for path in (temp, tmp_obj):
        os.utime(path, old)
    git(hooked_policy, "update-ref", "refs/speckit-pull/deadbeef/default/policy", head(hooked_policy))
    os.utime(hooked_policy / ".git" / "refs" / "speckit-pull" / "deadbeef" / "default" / "policy", old)
    ok(hooked_policy, "verify")
    assert not temp.exists() and not tmp_obj.exists()
    assert fresh.exists()  # a live writer's temp file is left alone
    assert git(hooked_policy, "for-each-ref", "refs/speckit-pull/") == ""


# ---- 16. control characters never reach the terminal -----------------------------------------------
CONTROL = ["\x1b", "\x9b", "\x07", "\x7f", "\u202e"]


def assert_no_control(text: str) -> None:
    for character in CONTROL:
        assert character not in text, (character, text)
    assert "\r" not in text


def test_commit_subjects_and_policy_values_are_escaped_in_human_output(hooked_policy: Path) -> None:
    text = policy_text(6.0) + '\n[model_config.display]\nnote = "warm\\u009b31m \\u001b]0;pwned\\u0007 done"\n'
    set_policy(hooked_policy, text=text)
    git(hooked_policy, "add", "-A")
    subject = "warn 6 \x1b[2J\x1b]0;title\x07 forged"
    commit(hooked_policy, subject)
    ok(hooked_policy, "run", "start", "--run-id", "r1")
    ok(hooked_policy, "run", "checkpoint", "r1", "--label", "checked")
    for args in (["log"], ["trace", "r1"], ["blame", "r1"], ["run", "show", "r1"], ["run", "list"],
                 ["show", "current"], ["list"], ["doctor"], ["verify"], ["current"]):
        result = speckit(hooked_policy, *args)
        assert_no_control(result.stdout + result.stderr)
    assert "\\x1b[2J" in ok(hooked_policy, "log")
    assert "\\x9b31m" in ok(hooked_policy, "blame", "r1", "model_config")
    shown = ok(hooked_policy, "show", "current")
    assert "\\u009b31m" in shown
    document = json.loads(shown)  # still the same value, read back
    assert document["model_config"]["display"]["note"].startswith("warm\x9b31m")
    assert_no_control(ok(hooked_policy, "log", "--json"))


def test_route_escapes_model_ids_of_a_snapshot_from_elsewhere(hooked_policy: Path) -> None:
    from speckit_git_policy.ids import new_policy_id
    from speckit_git_policy.policy.sources import read_sources
    from speckit_git_policy.snapshot import (
        Compiled,
        build_document,
        compile_sources,
        content_hash,
        document_bytes,
    )

    git_repo = GitRepo.discover(hooked_policy)
    compiled = compile_sources(read_sources(git_repo, head(hooked_policy)))
    content = json.loads(json.dumps(compiled.content))
    content["routing"]["cloud"]["architect"] = ["model\x1b]0;pwned\x07\nforged line", "gpt\x9b2J"]
    forged = Compiled(content, content_hash(content), True, ())
    policy_id = new_policy_id()
    data = document_bytes(build_document(forged, policy_id, created_at="2026-01-01T00:00:00.000000Z",
                                         commit=None, trigger="manual"))
    held = Stores(git_repo)
    held.store(policy_id, forged.hash, "2026-01-01T00:00:00.000000Z", data)
    routed = speckit(hooked_policy, "route", "architect", "--policy", policy_id)
    assert routed.returncode == 0, routed.stderr
    assert_no_control(routed.stdout)
    assert routed.stdout.splitlines()[0] == "architect: model\\x1b]0;pwned\\x07\\nforged line, gpt\\x9b2J"
    as_json = speckit(hooked_policy, "route", "architect", "--policy", policy_id, "--json").stdout
    assert_no_control(as_json.replace("\n", " "))
    assert json.loads(as_json)["candidates"][0] == "model\x1b]0;pwned\x07\nforged line"


# ---- 17. exit codes and hints ------------------------------------------------------------------------
def test_the_tools_own_crash_exits_3_in_one_line(hooked_policy: Path) -> None:
    code = (
        "import sys\n"
        "import speckit_git_policy.queries.history as history\n"
        "def broken(*args, **kwargs):\n"
        "    raise ZeroDivisionError('a bug of ours')\n"
        "history.policy_log = broken\n"
        "from speckit_git_policy.cli import main\n"
        f"sys.argv = ['git-speckit-policy', '-C', {str(hooked_policy)!r}, 'log']\n"
        "main()\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 3
    assert result.stderr == "error: internal error: ZeroDivisionError: a bug of ours (set SPECKIT_DEBUG=1 for details)\n"


def test_a_missed_capture_of_an_invalid_policy_names_the_command_that_works(hooked_policy: Path) -> None:
    git(hooked_policy, "config", "speckit.workspace", "../escape")  # the capture will refuse this
    set_policy(hooked_policy, text=INVALID_POLICY)
    stderr = sh_git(hooked_policy, "commit", "-q", "-am", "invalid, on purpose", "--no-verify").stderr
    sha = head(hooked_policy)
    fix = f"git speckit-policy capture --commit {sha[:12]} --allow-invalid"
    assert fix in stderr
    git(hooked_policy, "config", "--unset", "speckit.workspace")
    doctor = json.loads(speckit(hooked_policy, "doctor", "--json").stdout)
    assert fix in next(c for c in doctor["checks"] if c["name"] == "missed captures")["detail"]
    verify = speckit(hooked_policy, "verify")
    assert verify.returncode == 1 and fix in verify.stderr
    assert "verify --repair" not in verify.stdout  # it would not repair a missed capture
    assert "capture" in ok(hooked_policy, *fix.split()[2:])
    assert json.loads(ok(hooked_policy, "doctor", "--json"))["ok"] is True


def test_a_policy_that_cannot_be_compiled_is_not_a_capture_to_make_up(hooked_policy: Path) -> None:
    set_policy(hooked_policy, text=policy_text(6.0) + "\nbroken = [\n")
    stderr = sh_git(hooked_policy, "commit", "-q", "-am", "broken TOML", "--no-verify").stderr
    assert "cannot be compiled" in stderr and "--commit" not in stderr.split("cannot be compiled")[1]
    assert json.loads(ok(hooked_policy, "doctor", "--json"))["ok"] is True


def test_a_workspace_with_a_newline_is_refused_by_the_hooks_as_by_the_cli(hooked_policy: Path) -> None:
    git(hooked_policy, "config", "speckit.workspace", "team\nrefs")
    refused = speckit(hooked_policy, "list")
    assert refused.returncode == 2 and "workspace" in refused.stderr
    set_policy(hooked_policy, 6.0)
    stderr = sh_git(hooked_policy, "commit", "-q", "-am", "warn 6").stderr
    assert "workspace 'team\\nrefs' contains '\\n'" in stderr
    assert git(hooked_policy, "for-each-ref", "refs/speckit/team/", "refs/speckit/refs/") == ""


FRAMEWORK_HOOK = """#!/usr/bin/env bash
# File generated by pre-commit: https://pre-commit.com
# ID: 138fd403232d2ddd5efb44317e38bf03
HERE="$(cd "$(dirname "$0")" && pwd)"
if [ -x "$HERE/$(basename "$0").legacy" ]; then
    "$HERE/$(basename "$0").legacy" "$@" || exit $?
fi
exit 0
"""


def test_doctor_recognises_our_hook_chained_behind_the_pre_commit_framework(hooked_policy: Path) -> None:
    hooks = hooked_policy / ".git" / "hooks"
    for name in ("pre-commit", "post-commit"):  # what `pre-commit install -t ...` does
        (hooks / name).rename(hooks / f"{name}.legacy")
        (hooks / name).write_text(FRAMEWORK_HOOK)
        (hooks / name).chmod(0o755)
    doctor = json.loads(ok(hooked_policy, "doctor", "--json"))
    assert next(c for c in doctor["checks"] if c["name"] == "hooks")["ok"] is True
    policy_commit(hooked_policy, 6.0, "warn 6 through the framework")
    assert binding(hooked_policy, head(hooked_policy))
    ok(hooked_policy, "install")  # updates ours where the framework runs it, wraps nothing
    assert (hooks / "post-commit").read_text() == FRAMEWORK_HOOK
    assert not (hooks / "post-commit.speckit-legacy").exists()
    ok(hooked_policy, "uninstall")
    assert not (hooks / "post-commit.legacy").exists()
    assert (hooks / "post-commit").read_text() == FRAMEWORK_HOOK
