"""Helpers shared by the hook tests: install into a repo, edit the policy, read bindings."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

from conftest import EXAMPLE_POLICY, git, write_policy_sources

from speckit_git_policy.git.repo import GitRepo
from speckit_git_policy.hooks.install import install
from speckit_git_policy.store import Stores


def install_hooks(root: Path, python: str | None = None) -> None:
    install(GitRepo.discover(root), python or sys.executable)


def policy_text(warn: float = 5.0) -> str:
    text = EXAMPLE_POLICY.read_text()
    return re.sub(r"(?m)^warn_threshold = .*$", f"warn_threshold = {warn}", text)


INVALID_POLICY = policy_text().replace('mode = "prompts_only"', 'mode = "everything"')


def set_policy(root: Path, warn: float = 5.0, text: str | None = None) -> None:
    write_policy_sources(root, toml_text=text if text is not None else policy_text(warn))


def stores(root: Path) -> Stores:
    return Stores(GitRepo.discover(root))


def bound(root: Path) -> dict[str, str]:
    """commit → policy id of every binding."""
    return {b["commit"]: policy_id for policy_id, bindings in stores(root).all_bindings().items()
            for b in bindings}


def binding_of(root: Path, commit: str) -> dict[str, Any]:
    for policy_id, bindings in stores(root).all_bindings().items():
        for binding in bindings:
            if binding["commit"] == commit:
                return {"policy_id": policy_id, **binding}
    raise AssertionError(f"commit {commit} is not bound")


def snapshot_of(root: Path, commit: str) -> dict[str, Any]:
    return stores(root).load(binding_of(root, commit)["policy_id"])


def head(root: Path) -> str:
    return git(root, "rev-parse", "HEAD").strip()


def commit(root: Path, message: str, *args: str, check: bool = True) -> str:
    """Commit with hooks; returns git's stderr (where the hooks speak)."""
    import os
    import subprocess

    result = subprocess.run(["git", "commit", "-q", "-m", message, *args], cwd=root,
                            capture_output=True, text=True, env=dict(os.environ), check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"git commit failed ({result.returncode}):\n{result.stderr}")
    return result.stderr
