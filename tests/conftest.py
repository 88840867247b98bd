"""Shared fixtures: every test runs with an isolated HOME, git config and identity,
and builds real git repositories in tmp_path."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_POLICY = REPO_ROOT / "model_policy.toml"
EXAMPLE_DOC = REPO_ROOT / "docs" / "MODEL-POLICY.md"


def isolate_git_env(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """HOME, git config and identity of their own, nothing inherited from the machine."""
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    for var in ("GIT_DIR", "GIT_INDEX_FILE", "GIT_WORK_TREE", "GIT_COMMON_DIR", "NO_COLOR", "GITHUB_ACTIONS"):
        monkeypatch.delenv(var, raising=False)
    identity = {
        "GIT_AUTHOR_NAME": "Ada Author",
        "GIT_AUTHOR_EMAIL": "ada@example.com",
        "GIT_COMMITTER_NAME": "Cy Committer",
        "GIT_COMMITTER_EMAIL": "cy@example.com",
    }
    for key, value in identity.items():
        monkeypatch.setenv(key, value)
    (home / ".gitconfig").write_text(
        "[init]\n\tdefaultBranch = main\n[user]\n\tname = Ada Author\n\temail = ada@example.com\n"
        "[commit]\n\tgpgsign = false\n[advice]\n\tdetachedHead = false\n"
    )


@pytest.fixture(autouse=True)
def isolated_git_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate_git_env(tmp_path_factory.mktemp("home"), monkeypatch)


def git(cwd: Path, *args: str, check: bool = True, env: dict[str, str] | None = None) -> str:
    """Run the real git binary and return its stdout."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    result = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, env=full_env
    )
    if check and result.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
    return result.stdout


def write_policy_sources(root: Path, toml_text: str | None = None, doc_text: str | None = None) -> None:
    (root / "docs").mkdir(exist_ok=True)
    (root / "model_policy.toml").write_text(
        toml_text if toml_text is not None else EXAMPLE_POLICY.read_text()
    )
    (root / "docs" / "MODEL-POLICY.md").write_text(
        doc_text if doc_text is not None else EXAMPLE_DOC.read_text()
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """An empty git repository with a work tree."""
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q")
    return root


@pytest.fixture
def policy_repo(repo: Path) -> Path:
    """A repository whose first commit holds the example policy sources."""
    write_policy_sources(repo)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "Add model policy")
    return repo


@pytest.fixture
def bare_remote(tmp_path: Path) -> Path:
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    return remote


def copy_example_sources(dest: Path) -> None:
    shutil.copy(EXAMPLE_POLICY, dest / "model_policy.toml")
    (dest / "docs").mkdir(exist_ok=True)
    shutil.copy(EXAMPLE_DOC, dest / "docs" / "MODEL-POLICY.md")
