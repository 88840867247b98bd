"""gitio.run_git: git through posix_spawn and pipes, as subprocess.run would run it."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest
from conftest import git

from speckit_git_policy.errors import GitError
from speckit_git_policy.git.process import run_git


def test_large_input_and_output_do_not_deadlock(policy_repo: Path) -> None:
    # Far more than a pipe buffer each way: git writes while we still write its input.
    request = b"HEAD\n" * 50_000
    out = run_git(["cat-file", "--batch-check"], cwd=policy_repo, input_bytes=request)
    head = git(policy_repo, "rev-parse", "HEAD").strip()
    lines = out.decode().splitlines()
    assert len(lines) == 50_000 and set(lines) == {f"{head} commit {lines[0].split()[2]}"}
    expected = subprocess.run(["git", "cat-file", "--batch-check"], cwd=policy_repo, input=request,
                              capture_output=True, check=True).stdout
    assert out == expected


def test_runs_in_cwd_with_env_and_reports_gits_message(policy_repo: Path, tmp_path: Path) -> None:
    sub = policy_repo / "docs"
    assert run_git(["rev-parse", "--show-prefix"], cwd=sub) == b"docs/\n"
    assert run_git(["config", "--get", "speckit.probe"], cwd=policy_repo,
                   env={"GIT_CONFIG_PARAMETERS": "'speckit.probe=yes'"}) == b"yes\n"
    assert run_git(["rev-parse", "--verify", "--quiet", "nope"], cwd=policy_repo, check=False) == b""
    with pytest.raises(GitError, match=r"^git rev-parse: .*not a git repository"):
        run_git(["rev-parse", "HEAD"], cwd=tmp_path)


def test_empty_input_and_a_reader_that_stops_early(policy_repo: Path) -> None:
    assert run_git(["hash-object", "--stdin"], cwd=policy_repo, input_bytes=b"") == (
        b"e69de29bb2d1d6434b8b29ae775ad8c2e48c5391\n")
    # `git version` reads no input: a big input must not hang or fail.
    assert run_git(["version"], cwd=policy_repo, input_bytes=b"x" * 1_000_000).startswith(b"git version")


def test_git_missing_from_path_is_a_clear_error(policy_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(policy_repo / "no-such-bin"))
    with pytest.raises(GitError, match="git is not installed or not on PATH"):
        run_git(["version"], cwd=policy_repo)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc")
def test_git_gets_sigpipe_back_to_default(policy_repo: Path) -> None:
    # Python ignores SIGPIPE; an ignored disposition survives exec, and git writing
    # to a closed pipe must die of it as usual (subprocess restores it, so do we).
    out = run_git(["-c", "alias.ignored=!grep SigIgn /proc/self/status", "ignored"], cwd=policy_repo)
    ignored = int(out.split()[1], 16)
    assert not ignored & (1 << (signal.SIGPIPE - 1))
    assert not ignored & (1 << (signal.SIGXFSZ - 1))
