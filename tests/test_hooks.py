"""install / uninstall / init / doctor as a library and through the CLI (docs/DESIGN.md §9)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import git

from speckit_git_policy.cli import cli
from speckit_git_policy.errors import BadInput
from speckit_git_policy.git.repo import GitRepo
from speckit_git_policy.hooks.doctor import doctor
from speckit_git_policy.hooks.install import (
    HOOK_NAMES,
    MARKER,
    hooks_dir,
    install,
    recorded_python,
    render_hook,
    template_text,
    uninstall,
)

REPO_ROOT = Path(__file__).resolve().parent.parent


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def test_template_ships_in_the_package_and_in_hooks_dir() -> None:
    assert (REPO_ROOT / "hooks" / "hook.sh").read_text() == template_text()
    assert MARKER in template_text()


def test_example_sources_ship_in_the_package() -> None:
    templates = REPO_ROOT / "speckit_git_policy" / "templates"
    assert (templates / "model_policy.toml").read_bytes() == (REPO_ROOT / "model_policy.toml").read_bytes()
    assert (templates / "MODEL-POLICY.md").read_bytes() == (REPO_ROOT / "docs" / "MODEL-POLICY.md").read_bytes()


def test_install_writes_every_hook_executable_with_marker_and_interpreter(repo: Path) -> None:
    changes = install(GitRepo.discover(repo), sys.executable)
    assert [c.hook for c in changes] == list(HOOK_NAMES)
    assert {c.action for c in changes} == {"installed"}
    for hook in HOOK_NAMES:
        path = repo / ".git" / "hooks" / hook
        assert os.access(path, os.X_OK)
        assert MARKER in path.read_text()
        assert recorded_python(path) == sys.executable


def test_install_is_idempotent(repo: Path) -> None:
    install(GitRepo.discover(repo), sys.executable)
    before = {h: (repo / ".git" / "hooks" / h).read_bytes() for h in HOOK_NAMES}
    changes = install(GitRepo.discover(repo), sys.executable)
    assert {c.action for c in changes} == {"unchanged"}
    assert before == {h: (repo / ".git" / "hooks" / h).read_bytes() for h in HOOK_NAMES}
    assert not list((repo / ".git" / "hooks").glob("*.speckit-legacy"))


def test_reinstall_with_another_interpreter_updates(repo: Path, tmp_path: Path) -> None:
    install(GitRepo.discover(repo), sys.executable)
    other = str(tmp_path / "it's python")  # a quote must survive sh quoting
    changes = install(GitRepo.discover(repo), other)
    assert {c.action for c in changes} == {"updated"}
    assert recorded_python(repo / ".git" / "hooks" / "post-commit") == other


def test_quoted_interpreter_is_what_sh_sees(tmp_path: Path) -> None:
    import subprocess

    python = "/opt/it's $HOME `x`/python"
    script = tmp_path / "h.sh"
    text = render_hook("post-commit", python)
    script.write_text(text.split("speckit_warn()")[0] + 'printf %s "$SPECKIT_PYTHON"\n')
    assert subprocess.run(["sh", str(script)], capture_output=True, text=True, check=False).stdout == python


def test_install_refuses_when_a_foreign_hook_and_a_kept_one_both_exist(repo: Path) -> None:
    hooks = repo / ".git" / "hooks"
    (hooks / "post-merge").write_text("#!/bin/sh\necho mine\n")
    (hooks / "post-merge.speckit-legacy").write_text("#!/bin/sh\necho older\n")
    with pytest.raises(BadInput, match="post-merge"):
        install(GitRepo.discover(repo), sys.executable)
    assert not (hooks / "pre-commit").exists()  # nothing half-installed


def test_uninstall_leaves_foreign_hooks_and_is_idempotent(repo: Path) -> None:
    hooks = repo / ".git" / "hooks"
    install(GitRepo.discover(repo), sys.executable)
    (hooks / "post-commit").write_text("#!/bin/sh\necho someone else\n")  # replaced by another tool
    changes = {c.hook: c.action for c in uninstall(GitRepo.discover(repo))}
    assert changes["post-commit"] == "foreign" and changes["pre-commit"] == "removed"
    assert (hooks / "post-commit").read_text() == "#!/bin/sh\necho someone else\n"
    assert {c.action for c in uninstall(GitRepo.discover(repo))} <= {"absent", "foreign"}


def test_symlinked_foreign_hook_is_restored_as_a_symlink(repo: Path, tmp_path: Path) -> None:
    target = tmp_path / "shared-hook"
    target.write_text("#!/bin/sh\nexit 0\n")
    target.chmod(0o755)
    link = repo / ".git" / "hooks" / "pre-commit"
    link.symlink_to(target)
    install(GitRepo.discover(repo), sys.executable)
    assert not link.is_symlink() and MARKER in link.read_text()
    uninstall(GitRepo.discover(repo))
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_text() == "#!/bin/sh\nexit 0\n"


def test_hooks_dir_follows_core_hooks_path(repo: Path, tmp_path: Path) -> None:
    assert hooks_dir(GitRepo.discover(repo)) == repo / ".git" / "hooks"
    git(repo, "config", "core.hooksPath", ".githooks")
    (repo / "deep").mkdir()
    assert hooks_dir(GitRepo.discover(repo / "deep")) == repo / ".githooks"
    git(repo, "config", "core.hooksPath", str(tmp_path / "abs hooks"))
    assert hooks_dir(GitRepo.discover(repo)) == tmp_path / "abs hooks"


def test_linked_worktree_installs_into_the_common_dir(policy_repo: Path, tmp_path: Path) -> None:
    worktree = tmp_path / "wt"
    git(policy_repo, "worktree", "add", "-q", "-b", "side", str(worktree))
    code, output = run("-C", str(worktree), "install")
    assert code == 0, output
    assert (policy_repo / ".git" / "hooks" / "post-commit").is_file()


def test_init_writes_missing_sources_only(repo: Path) -> None:
    (repo / "model_policy.toml").write_text("# mine\n")
    code, output = run("-C", str(repo), "init", "--json")
    assert code == 0, output
    report = json.loads(output)
    assert report["written"] == ["docs/MODEL-POLICY.md"]
    assert (repo / "model_policy.toml").read_text() == "# mine\n"
    assert (repo / "docs" / "MODEL-POLICY.md").read_bytes() == (REPO_ROOT / "docs" / "MODEL-POLICY.md").read_bytes()
    assert {h["hook"] for h in report["hooks"]} == set(HOOK_NAMES)


def test_doctor_without_hooks_fails_with_the_fix(policy_repo: Path) -> None:
    code, output = run("-C", str(policy_repo), "doctor")
    assert code == 1
    assert "FAIL  hooks" in output and "git speckit-policy install" in output


def test_doctor_checks_capsule_fetch_refspecs_of_every_remote(policy_repo: Path, bare_remote: Path) -> None:
    repo = GitRepo.discover(policy_repo)
    install(repo, sys.executable)
    git(policy_repo, "remote", "add", "origin", str(bare_remote))
    refspecs = next(c for c in doctor(repo) if c.name == "capsule refspecs")
    tracking = "+refs/speckit/*:refs/speckit-remotes/origin/*"
    assert not refspecs.ok and f"git config --add remote.origin.fetch '{tracking}'" in refspecs.detail
    # The refspec recommended earlier writes straight into the local capsule: flagged.
    git(policy_repo, "config", "--add", "remote.origin.fetch", "refs/speckit/*:refs/speckit/*")
    refspecs = next(c for c in doctor(repo) if c.name == "capsule refspecs")
    assert not refspecs.ok and "fetch straight into refs/speckit/" in refspecs.detail
    git(policy_repo, "config", "--unset", "remote.origin.fetch", r"^refs/speckit")
    git(policy_repo, "config", "--add", "remote.origin.fetch", tracking)
    assert next(c for c in doctor(repo) if c.name == "capsule refspecs").ok
    assert git(policy_repo, "config", "--get-all", "remote.origin.push", check=False) == ""


def test_doctor_reports_hooks_installed_where_git_does_not_look(policy_repo: Path) -> None:
    repo = GitRepo.discover(policy_repo)
    install(repo, sys.executable)
    git(policy_repo, "config", "core.hooksPath", ".githooks")
    hooks = next(c for c in doctor(repo) if c.name == "hooks")
    assert not hooks.ok and ".githooks" in hooks.detail


def test_doctor_reports_a_non_executable_hook(policy_repo: Path) -> None:
    repo = GitRepo.discover(policy_repo)
    install(repo, sys.executable)
    (policy_repo / ".git" / "hooks" / "post-merge").chmod(0o644)
    hooks = next(c for c in doctor(repo) if c.name == "hooks")
    assert not hooks.ok and "not executable: post-merge" in hooks.detail


def test_this_repos_own_pre_commit_hook_validates() -> None:
    hook = REPO_ROOT / ".githooks" / "pre-commit"
    assert os.access(hook, os.X_OK)
    assert "speckit-policy validate" in hook.read_text()


def test_hooks_dir_holds_the_template_byte_for_byte() -> None:
    """hooks/hook.sh is for readers of the repository; the package's template is the
    source. A link to it (as committed) or a copy must hold the same bytes: a checkout
    without symlinks, or a copy left behind after the template changed, fails here."""
    shipped = REPO_ROOT / "hooks" / "hook.sh"
    template = REPO_ROOT / "speckit_git_policy" / "templates" / "hook.sh"
    assert shipped.read_bytes() == template.read_bytes()
    if shipped.is_symlink():
        assert shipped.resolve() == template.resolve()
