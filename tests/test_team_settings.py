"""Committed team settings: ``.speckitconfig`` (git-config syntax) under the clone's own git
config, read in one place, by the hooks too, checked as untrusted input (issue 12)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import git, write_policy_sources
from test_hooks_support import commit, head, install_hooks, policy_text

from speckit_git_policy.errors import BadInput
from speckit_git_policy.git.repo import GitRepo
from speckit_git_policy.policy.sources import source_paths
from speckit_git_policy.store import Stores


def team(root: Path, text: str, *, commit_it: bool = True) -> None:
    (root / ".speckitconfig").write_text(text)
    if commit_it:
        git(root, "add", ".speckitconfig")
        git(root, "-c", f"core.hooksPath={root / 'none'}", "commit", "-q", "-m", "team settings")


def cli(root: Path, *args: str, check: bool = True, git_options: tuple[str, ...] = ()
        ) -> subprocess.CompletedProcess[str]:
    """Through git itself, as a user types it (so ``git -c`` reaches the tool)."""
    env = dict(os.environ)
    scripts = str(Path(sys.executable).parent)
    env["PATH"] = f"{scripts}{os.pathsep}{env['PATH']}"
    result = subprocess.run(["git", *git_options, "speckit-policy", *args], cwd=root,
                            capture_output=True, text=True, env=env, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"{args} failed ({result.returncode}):\n{result.stderr}")
    return result


def test_the_committed_file_sets_and_git_config_overrides(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    team(repo, "[speckit]\n\tworkspace = team-a\n\tpolicyFile = policy/team.toml\n\tautoPush = false\n")
    settings = GitRepo.discover(repo)
    assert settings.config_get("speckit.workspace") == "team-a"
    assert settings.config_get("speckit.policyFile") == "policy/team.toml"
    assert settings.config_bool("speckit.autoPush", True) is False
    assert source_paths(settings).policy == "policy/team.toml"
    git(repo, "config", "speckit.workspace", "mine")
    assert GitRepo.discover(repo).config_get("speckit.workspace") == "mine"
    git(repo, "config", "--global", "speckit.autoPush", "true")
    assert GitRepo.discover(repo).config_bool("speckit.autoPush", False) is True
    monkeypatch.setenv("GIT_CONFIG_PARAMETERS", "'speckit.workspace'='from-c'")  # git -c
    assert GitRepo.discover(repo).config_get("speckit.workspace") == "from-c"


def test_the_capsule_uses_the_team_workspace(policy_repo: Path) -> None:
    team(policy_repo, "[speckit]\n\tworkspace = team-a\n")
    result = json.loads(cli(policy_repo, "capture", "--json").stdout)
    assert result["uri"].startswith("mv2://team-a/policy/")
    assert "refs/speckit/team-a/policy" in git(policy_repo, "for-each-ref", "refs/speckit")
    # A flag beats both: git -c.
    other = json.loads(cli(policy_repo, "list", "--json", git_options=("-c", "speckit.workspace=other")).stdout)
    listed = json.loads(cli(policy_repo, "list", "--json").stdout)
    assert [s["uri"] for s in listed] == [result["uri"]]
    assert all(s["uri"].startswith("mv2://other/") for s in other)


def test_only_known_keys_are_taken_and_each_is_checked(repo: Path) -> None:
    team(repo, "[speckit]\n\tworkspace = ok\n\tsomethingElse = x\n[core]\n\thooksPath = /tmp/evil\n"
               "[alias]\n\tst = !rm -rf /\n")
    settings = GitRepo.discover(repo)
    assert settings.speckit_config() == {"speckit.workspace": "ok"}
    assert settings.config_get("core.hooksPath") is None  # never taken from the file
    for text, fragment in (
        ("[speckit]\n\tworkspace = ../escape\n", "speckit.workspace"),
        ("[speckit]\n\tpolicyFile = ../../etc/passwd\n", "inside the repository"),
        ("[speckit]\n\tdocFile = /etc/passwd\n", "inside the repository"),
        ("[speckit]\n\tcapsule = perhaps\n", "not a boolean"),
        ('[speckit]\n\tworkspace = "a\\nb"\n', "control character"),
    ):
        team(repo, text, commit_it=False)
        with pytest.raises(BadInput) as raised:
            GitRepo.discover(repo).speckit_config()
        assert ".speckitconfig" in str(raised.value) and fragment in str(raised.value)


def test_a_broken_file_is_named_by_commands_and_doctor(policy_repo: Path) -> None:
    team(policy_repo, "[speckit\nworkspace\n", commit_it=False)
    result = cli(policy_repo, "list", check=False)
    assert result.returncode == 2 and ".speckitconfig" in result.stderr
    doctor = json.loads(cli(policy_repo, "doctor", "--json", check=False).stdout)
    settings = next(c for c in doctor["checks"] if c["name"] == "settings")
    assert settings["ok"] is False and ".speckitconfig" in settings["detail"]


def test_a_symlinked_file_is_not_read(repo: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.cfg"
    outside.write_text("[speckit]\n\tworkspace = outside\n")
    (repo / ".speckitconfig").symlink_to(outside)
    assert GitRepo.discover(repo).config_get("speckit.workspace") is None


def test_a_bare_repository_reads_heads_file(repo: Path, tmp_path: Path) -> None:
    team(repo, "[speckit]\n\tworkspace = team-a\n")
    bare = tmp_path / "bare.git"
    git(tmp_path, "clone", "-q", "--bare", str(repo), str(bare))
    assert GitRepo.discover(bare).config_get("speckit.workspace") == "team-a"


def test_a_sparse_checkout_reads_heads_file(repo: Path) -> None:
    (repo / "sub").mkdir()
    (repo / "sub" / "file").write_text("x\n")
    team(repo, "[speckit]\n\tworkspace = team-a\n")
    git(repo, "sparse-checkout", "set", "--no-cone", "sub/")
    assert not (repo / ".speckitconfig").exists()
    assert GitRepo.discover(repo).config_get("speckit.workspace") == "team-a"


def test_doctor_says_where_each_value_comes_from(repo: Path) -> None:
    team(repo, "[speckit]\n\tworkspace = team-a\n\tsign = true\n")
    git(repo, "config", "speckit.sign", "false")
    doctor = json.loads(cli(repo, "doctor", "--json", check=False,
                            git_options=("-c", "speckit.requireSigned=true")).stdout)
    origins = {s["key"]: (s["value"], s["origin"]) for s in doctor["settings"]}
    assert origins["speckit.workspace"] == ("team-a", ".speckitconfig")
    assert origins["speckit.sign"][0] == "false" and origins["speckit.sign"][1].startswith("local config")
    assert origins["speckit.requireSigned"] == ("true", "command line (git -c)")
    assert origins["speckit.capsule"] == ("true", "default")
    assert origins["speckit.policyFile"] == ("model_policy.toml", "default")
    text = cli(repo, "doctor", check=False).stdout
    assert "speckit.workspace" in text and ".speckitconfig" in text


# ---- the hooks read it too ---------------------------------------------------------------
def test_hooks_capture_the_policy_at_the_path_the_team_committed(repo: Path) -> None:
    install_hooks(repo)
    team(repo, "[speckit]\n\tpolicyFile = policy/team.toml\n\tworkspace = team-a\n")
    write_policy_sources(repo, toml_text=policy_text(5.0))
    (repo / "policy").mkdir()
    (repo / "model_policy.toml").rename(repo / "policy" / "team.toml")
    git(repo, "add", "-A")
    stderr = commit(repo, "team policy")
    assert "captured new policy snapshot" in stderr
    capsule = Stores(GitRepo.discover(repo)).capsule
    assert capsule is not None and capsule.workspace == "team-a"
    assert capsule.policies_for_commit(head(repo))
    (repo / "policy" / "team.toml").write_text(policy_text().replace('mode = "prompts_only"', 'mode = "x"'))
    assert "capture.mode" in commit(repo, "broken", "-a", check=False)  # pre-commit read it too


def test_the_local_config_overrides_the_file_in_the_hooks_too(repo: Path) -> None:
    install_hooks(repo)
    team(repo, "[speckit]\n\tworkspace = team-a\n")
    git(repo, "config", "speckit.workspace", "mine")
    write_policy_sources(repo, toml_text=policy_text(5.0))
    git(repo, "add", "-A")
    commit(repo, "policy")
    refs = git(repo, "for-each-ref", "--format=%(refname)", "refs/speckit")
    assert "refs/speckit/mine/policy" in refs and "team-a" not in refs


def test_a_non_policy_commit_still_starts_no_python(repo: Path, tmp_path: Path) -> None:
    log = tmp_path / "python-starts.log"
    wrapper = tmp_path / "logging-python"
    wrapper.write_text(f'#!/bin/sh\necho "$*" >> "{log}"\nexec "{sys.executable}" "$@"\n')
    wrapper.chmod(0o755)
    install_hooks(repo, python=str(wrapper))
    log.unlink(missing_ok=True)  # install itself starts it
    team(repo, "[speckit]\n\tworkspace = team-a\n")
    (repo / "notes.txt").write_text("hello\n")
    git(repo, "add", "notes.txt")
    commit(repo, "notes")
    assert not log.exists()


def test_a_file_that_names_no_source_path_still_reaches_python(repo: Path) -> None:
    """The sh hook reads such a file only when Python starts: the capture still goes to
    the team's workspace, and an amend (post-rewrite) still follows it there."""
    install_hooks(repo)
    team(repo, "[speckit]\n\tworkspace = team-a\n")
    write_policy_sources(repo, toml_text=policy_text(5.0))
    git(repo, "add", "-A")
    commit(repo, "policy")
    first = head(repo)
    capsule = Stores(GitRepo.discover(repo)).capsule
    assert capsule is not None and capsule.workspace == "team-a"
    assert capsule.policies_for_commit(first)
    commit(repo, "policy, reworded", "--amend")
    amended = head(repo)
    assert amended != first
    assert [b["commit"] for b in capsule.bindings(capsule.policies_for_commit(first)[0])] == [amended]
    assert "refs/speckit/default" not in git(repo, "for-each-ref", "refs/speckit")
