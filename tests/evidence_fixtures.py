"""Fixtures of the evidence tests, loaded as a plugin (``pytest_plugins``) so that the
session builds the audited repository once for every module that asks for it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import git
from evidence_helpers import audited_repo


# ---- one audited repository per session, copied into each test ----------------------------
@pytest.fixture(scope="session")
def audited_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``audited_repo`` built once (hooks, commits and a run cost seconds), in a git
    environment isolated as conftest's is; tests get a copy (``audited``)."""
    base = tmp_path_factory.mktemp("audited-template")
    home = base / "home"
    home.mkdir()
    (home / ".gitconfig").write_text(
        "[init]\n\tdefaultBranch = main\n[user]\n\tname = Ada Author\n\temail = ada@example.com\n"
        "[commit]\n\tgpgsign = false\n"
    )
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": str(home / ".gitconfig"),
            "GIT_AUTHOR_NAME": "Ada Author",
            "GIT_AUTHOR_EMAIL": "ada@example.com",
            "GIT_COMMITTER_NAME": "Cy Committer",
            "GIT_COMMITTER_EMAIL": "cy@example.com",
        }.items():
            patch.setenv(name, value)
        for name in ("GIT_DIR", "GIT_INDEX_FILE", "GIT_WORK_TREE", "GIT_COMMON_DIR", "GITHUB_ACTIONS"):
            patch.delenv(name, raising=False)
        root = base / "repo"
        root.mkdir()
        git(root, "init", "-q")
        audited_repo(root)
    return root


@pytest.fixture
def audited(audited_template: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "audited"
    shutil.copytree(audited_template, copy, symlinks=True)
    return copy
