"""The sh hook keeps git's answer about its settings (.git/speckit/hook-settings) and
uses it only while the environment and the config files' lines are what they were:
a change is seen at the next commit, however it was made (docs/DESIGN.md §10)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from conftest import git
from test_hooks_support import INVALID_POLICY, commit, install_hooks, policy_text

CACHE = Path(".git") / "speckit" / "hook-settings"
NAME = "O'Brien \"Ob\" $HOME `x` \\"


def traced_commit(root: Path, message: str, tmp_path: Path, *options: str) -> tuple[int, str, list[str]]:
    """`git [options] commit`: its exit status, stderr, and the git commands the hooks ran."""
    return traced_git(root, tmp_path, message, *options, "commit", "-q", "-m", message)


def traced_git(root: Path, tmp_path: Path, name: str, *args: str) -> tuple[int, str, list[str]]:
    """`git args`: its exit status, stderr, and the git commands it and its hooks ran."""
    trace = tmp_path / f"trace-{name.replace(' ', '-')}"
    result = subprocess.run(
        ["git", *args], cwd=root, capture_output=True,
        text=True, env={**os.environ, "GIT_TRACE": str(trace)}, check=False,
    )
    return result.returncode, result.stderr, trace_calls(trace)


def trace_calls(trace: Path) -> list[str]:
    """The git commands a GIT_TRACE file records, as git names them."""
    return [line.split("trace: built-in: ", 1)[1] for line in trace.read_text().splitlines()
            if "trace: built-in: " in line]


def settings_calls(calls: list[str]) -> list[str]:
    return [call for call in calls if call.startswith("git config --get-regexp")]


def policy_at(root: Path, path: str, text: str) -> None:
    (root / path).parent.mkdir(parents=True, exist_ok=True)
    (root / path).write_text(text)
    git(root, "add", path)


def note(root: Path, text: str) -> None:
    (root / "notes.txt").write_text(text)
    git(root, "add", "notes.txt")


def warm(root: Path, policy_file: str = "model_policy.toml", *, kept: bool = True) -> None:
    """Hooks installed, the policy committed at ``policy_file``, the settings kept (or not)."""
    install_hooks(root)
    (root / "docs").mkdir(exist_ok=True)
    (root / "docs" / "MODEL-POLICY.md").write_text("# Why\n")
    git(root, "add", "docs")
    policy_at(root, policy_file, policy_text())
    commit(root, "policy")
    assert (root / CACHE).is_file() is kept


def test_a_commit_after_the_first_asks_git_for_no_settings(repo: Path, tmp_path: Path) -> None:
    warm(repo)
    note(repo, "one\n")
    status, _, calls = traced_commit(repo, "notes", tmp_path)
    assert status == 0
    assert calls and not settings_calls(calls)  # the hooks ran git (the diffs), not git config


def test_a_setting_changed_by_git_config_is_seen_at_the_next_commit(repo: Path, tmp_path: Path) -> None:
    warm(repo)
    git(repo, "config", "speckit.policyFile", "policy/other.toml")
    policy_at(repo, "policy/other.toml", INVALID_POLICY)
    status, stderr, calls = traced_commit(repo, "broken", tmp_path)
    assert status != 0 and "capture.mode" in stderr
    assert settings_calls(calls)


def test_an_edit_that_keeps_the_size_and_the_timestamps_is_seen(repo: Path, tmp_path: Path) -> None:
    git(repo, "config", "speckit.policyFile", "aaaa.toml")
    warm(repo, "aaaa.toml")
    config = repo / ".git" / "config"
    before = config.stat()
    config.write_text(config.read_text().replace("aaaa.toml", "bbbb.toml"))
    os.utime(config, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert config.stat().st_size == before.st_size and config.stat().st_mtime_ns == before.st_mtime_ns
    policy_at(repo, "bbbb.toml", INVALID_POLICY)
    status, stderr, _ = traced_commit(repo, "broken", tmp_path)
    assert status != 0 and "capture.mode" in stderr


def test_a_global_setting_is_seen(repo: Path, tmp_path: Path) -> None:
    warm(repo)
    global_config = Path(os.environ["GIT_CONFIG_GLOBAL"])
    global_config.write_text(global_config.read_text() + "[speckit]\n\tpolicyFile = global.toml\n")
    policy_at(repo, "global.toml", INVALID_POLICY)
    status, stderr, _ = traced_commit(repo, "broken", tmp_path)
    assert status != 0 and "capture.mode" in stderr


def test_git_dash_c_is_seen_and_then_forgotten(repo: Path, tmp_path: Path) -> None:
    warm(repo)
    policy_at(repo, "dash-c.toml", INVALID_POLICY)
    status, stderr, _ = traced_commit(repo, "broken", tmp_path, "-c", "speckit.policyFile=dash-c.toml")
    assert status != 0 and "capture.mode" in stderr
    status, _, _ = traced_commit(repo, "not a policy commit without -c", tmp_path)
    assert status == 0


def test_settings_from_an_included_file_are_never_kept(repo: Path, tmp_path: Path) -> None:
    extra = tmp_path / "extra.gitconfig"
    extra.write_text("[speckit]\n\tpolicyFile = one.toml\n")
    git(repo, "config", "include.path", str(extra))
    warm(repo, "one.toml", kept=False)
    before = extra.stat()
    extra.write_text("[speckit]\n\tpolicyFile = two.toml\n")
    os.utime(extra, ns=(before.st_atime_ns, before.st_mtime_ns))
    policy_at(repo, "two.toml", INVALID_POLICY)
    status, stderr, calls = traced_commit(repo, "broken", tmp_path)
    assert status != 0 and "capture.mode" in stderr
    assert settings_calls(calls)


def test_a_broken_file_or_a_stray_is_harmless_and_cleared(repo: Path, tmp_path: Path) -> None:
    warm(repo)
    cache = repo / CACHE
    cache.write_text("speckit_cached_format='1\n")  # an unterminated quote
    stray = cache.with_name("hook-settings.4242")
    stray.write_text("half a cache from a killed hook")
    note(repo, "two\n")
    status, stderr, calls = traced_commit(repo, "notes", tmp_path)
    assert status == 0 and stderr == ""
    assert settings_calls(calls)
    assert cache.read_text().startswith("speckit_cached_format=1\n")
    assert not stray.exists()
    note(repo, "three\n")
    assert not settings_calls(traced_commit(repo, "notes again", tmp_path)[2])


def test_values_with_quotes_come_back_as_git_gave_them(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kept answer holds the name as git printed it, quotes and all: the capsule
    commit written from it carries that name."""
    for variable in ("GIT_AUTHOR_NAME", "GIT_COMMITTER_NAME"):
        monkeypatch.delenv(variable)
    git(repo, "config", "user.name", NAME)
    warm(repo)
    policy_at(repo, "model_policy.toml", policy_text(6.0))
    status, _, calls = traced_commit(repo, "policy again", tmp_path)
    assert status == 0 and not settings_calls(calls)
    assert git(repo, "log", "-1", "--format=%an", "refs/speckit/default/policy").strip() == NAME


def test_an_include_given_with_dash_c_is_never_kept(repo: Path, tmp_path: Path) -> None:
    extra = tmp_path / "by-dash-c.gitconfig"
    extra.write_text("[speckit]\n\tpolicyFile = one.toml\n")
    warm(repo)
    policy_at(repo, "one.toml", INVALID_POLICY)
    status, stderr, _ = traced_commit(repo, "broken", tmp_path, "-c", f"include.path={extra}")
    assert status != 0 and "capture.mode" in stderr
    git(repo, "reset", "-q")
    extra.write_text("[speckit]\n\tpolicyFile = two.toml\n")
    policy_at(repo, "two.toml", INVALID_POLICY)
    status, stderr, calls = traced_commit(repo, "broken again", tmp_path, "-c", f"include.path={extra}")
    assert status != 0 and "capture.mode" in stderr
    assert settings_calls(calls)


def test_without_home_git_is_asked(repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    warm(repo)
    monkeypatch.setenv("HOME", "")
    note(repo, "no home\n")
    status, _, calls = traced_commit(repo, "notes", tmp_path)
    assert status == 0 and settings_calls(calls)
    note(repo, "still no home\n")
    assert settings_calls(traced_commit(repo, "notes again", tmp_path)[2])


def test_a_repointed_system_link_is_followed(repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second, link = tmp_path / "system-a", tmp_path / "system-b", tmp_path / "system"
    first.write_text("[speckit]\n\tpolicyFile = a.toml\n")
    second.write_text("[speckit]\n\tpolicyFile = b.toml\n")
    link.symlink_to(first)
    monkeypatch.setenv("GIT_CONFIG_SYSTEM", str(link))
    monkeypatch.delenv("GIT_CONFIG_NOSYSTEM")
    warm(repo, "a.toml", kept=False)
    link.unlink()
    link.symlink_to(second)
    policy_at(repo, "b.toml", INVALID_POLICY)
    status, stderr, _ = traced_commit(repo, "broken", tmp_path)
    assert status != 0 and "capture.mode" in stderr
