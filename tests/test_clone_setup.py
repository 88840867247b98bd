"""One command after clone, and plain git carrying the capsule: ``install`` in a fresh clone
makes ``verify`` green; then two clones append to the same run and capture different
policies, in crossed order, with plain ``git pull`` and ``git push`` only (the pre-push hook
pushes the capsule, the next command merges what ``git fetch`` brought), over a real git
daemon and over a file remote: every event and snapshot on both, nothing rejected."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from conftest import git, write_policy_sources
from test_trust_support import event_ids, git_daemon

from speckit_git_policy.cli import cli
from speckit_git_policy.git.repo import GitRepo
from speckit_git_policy.runs import run as runs
from speckit_git_policy.store import Stores


def invoke(path: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["-C", str(path), *args])


def install(path: Path) -> None:
    result = invoke(path, "install")
    assert result.exit_code == 0, result.output


def green(path: Path) -> dict:
    result = invoke(path, "verify", "--json")
    report = json.loads(result.stdout)
    assert result.exit_code == 0 and report["ok"], report
    return report


@contextlib.contextmanager
def served(kind: str, tmp_path: Path) -> Iterator[str]:
    """A bare remote reached over a git daemon or as a file path: its URL."""
    base = tmp_path / "served"
    base.mkdir()
    git(base, "init", "-q", "--bare", "team.git")
    if kind == "file":
        yield str(base / "team.git")
    else:
        with git_daemon(base) as url:
            yield f"{url}/team.git"


def edit_policy(path: Path, old: str, new: str) -> None:
    policy = path / "model_policy.toml"
    policy.write_text(policy.read_text().replace(old, new, 1))


def snapshot_ids(path: Path) -> set[str]:
    return set(Stores(GitRepo.discover(path)).ids())


@pytest.mark.parametrize("kind", ["file", "daemon"])
def test_two_clones_in_crossed_order_with_plain_git(kind: str, tmp_path: Path) -> None:
    assert sys.executable
    with served(kind, tmp_path) as url:
        a = tmp_path / "a"
        git(tmp_path, "init", "-q", str(a))
        git(a, "remote", "add", "origin", url)
        install(a)  # hooks first: the first commit is captured by post-commit
        write_policy_sources(a)
        git(a, "add", "-A")
        git(a, "commit", "-q", "-m", "Add model policy")
        runs.start_run(GitRepo.discover(a), "shared")
        git(a, "push", "-q", "-u", "origin", "main")  # pre-push carries the capsule

        b = tmp_path / "b"
        git(tmp_path, "clone", "-q", url, str(b))
        install(b)  # the one command after clone
        assert snapshot_ids(b) == snapshot_ids(a)
        assert (b / ".speckit" / "policies").is_dir()
        green(b)

        # Crossed order: both append to the run and change the policy (different lines).
        runs.checkpoint(GitRepo.discover(b), "shared", "b-1")
        runs.checkpoint(GitRepo.discover(a), "shared", "a-1")
        edit_policy(a, "plan = 8000", "plan = 8100")
        git(a, "commit", "-q", "-am", "More planning")
        edit_policy(b, "stability_days = 30", "stability_days = 45")
        git(b, "commit", "-q", "-am", "Longer stability")
        runs.checkpoint(GitRepo.discover(a), "shared", "a-2")
        runs.checkpoint(GitRepo.discover(b), "shared", "b-2")
        git(a, "push", "-q")
        pulled = git(b, "pull", "-q", "--no-rebase", "--no-edit")  # plain git pull: never fails
        assert "rejected" not in pulled
        git(b, "push", "-q")  # the capsule push merges a's first (a pushed in between)
        git(a, "pull", "-q", "--no-rebase", "--no-edit")

        # The next command merges what plain git fetched.
        for clone in (a, b):
            invoke(clone, "run", "show", "shared")
        assert sorted(event_ids(a, "shared")) == sorted(event_ids(b, "shared"))
        assert len(event_ids(a, "shared")) == 5
        assert snapshot_ids(a) == snapshot_ids(b) and len(snapshot_ids(a)) >= 3
        assert [e["seq"] for e in runs.run_events(GitRepo.discover(a), "shared")] == list(range(5))
        for clone in (a, b):
            report = invoke(clone, "doctor", "--json")
            checks = {c["name"]: c for c in json.loads(report.stdout)["checks"]}
            assert checks["capsule refspecs"]["ok"], checks["capsule refspecs"]
            invoke(clone, "verify", "--repair")
            green(clone)
        fetch = git(a, "config", "--get-all", "remote.origin.fetch").split()
        assert "+refs/speckit/*:refs/speckit-remotes/origin/*" in fetch


def test_install_migrates_the_refspec_recommended_earlier(tmp_path: Path, bare_remote: Path) -> None:
    a = tmp_path / "a"
    git(tmp_path, "init", "-q", str(a))
    git(a, "remote", "add", "origin", str(bare_remote))
    git(a, "config", "--add", "remote.origin.fetch", "refs/speckit/*:refs/speckit/*")
    install(a)
    fetch = git(a, "config", "--get-all", "remote.origin.fetch").split()
    assert fetch == ["+refs/heads/*:refs/remotes/origin/*", "+refs/speckit/*:refs/speckit-remotes/origin/*"]


def test_install_with_an_unreachable_remote_still_installs(tmp_path: Path) -> None:
    a = tmp_path / "a"
    git(tmp_path, "init", "-q", str(a))
    git(a, "remote", "add", "origin", str(tmp_path / "gone.git"))
    result = invoke(a, "install")
    assert result.exit_code == 0, result.output
    assert "not fetched now" in result.output
    assert (a / ".git" / "hooks" / "pre-push").exists()


def test_a_failed_capsule_push_never_blocks_the_branch_push(tmp_path: Path, bare_remote: Path) -> None:
    a = tmp_path / "a"
    git(tmp_path, "init", "-q", str(a))
    git(a, "remote", "add", "origin", str(bare_remote))
    install(a)
    write_policy_sources(a)
    git(a, "add", "-A")
    git(a, "commit", "-q", "-m", "Add model policy")
    # The remote refuses every capsule ref (a server-side hook), not the branch.
    hook = bare_remote / "hooks" / "update"
    hook.write_text('#!/bin/sh\ncase $1 in refs/speckit/*) echo "no capsule here" >&2; exit 1 ;; esac\n')
    hook.chmod(0o755)
    result = __import__("subprocess").run(["git", "push", "-u", "origin", "main"], cwd=a,
                                          capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "the capsule was not pushed" in result.stderr
    assert git(bare_remote, "rev-parse", "main").strip() == git(a, "rev-parse", "HEAD").strip()
    git(a, "config", "speckit.autoPush", "false")
    git(a, "commit", "-q", "--allow-empty", "-m", "next")
    quiet = __import__("subprocess").run(["git", "push"], cwd=a, capture_output=True, text=True)
    assert quiet.returncode == 0 and "pre-push" not in quiet.stderr
