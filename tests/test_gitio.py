"""gitio: speckit.* settings read as git reads them, in one call or from the sh hook."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from speckit_git_policy.git.repo import GitRepo

CONFIG = "[speckit]\n\tcapsule\n\tworkspace = \n\tpolicyFile = policy/main.toml\n[speckit \"x\"]\n\ty = 1\n"


@pytest.mark.parametrize("from_sh", [False, True])
def test_settings_as_git_reads_them(repo: Path, from_sh: bool) -> None:
    with open(repo / ".git" / "config", "a") as handle:
        handle.write(CONFIG)
    git_repo = GitRepo.discover(repo)
    if from_sh:
        listed = subprocess.run(["git", "config", "--get-regexp", r"^speckit\."], cwd=repo,
                                capture_output=True, text=True).stdout
        git_repo.keep_speckit_config(listed)
    for key, expected in (("speckit.capsule", True), ("speckit.workspace", False)):
        truth = subprocess.run(["git", "config", "--type=bool", "--get", key], cwd=repo,
                               capture_output=True, text=True).stdout.strip()
        assert truth == ("true" if expected else "false")
        assert git_repo.config_bool(key, default=not expected) is expected
    assert git_repo.config_bool("speckit.absent", default=True) is True
    assert git_repo.config_get("speckit.policyFile") == "policy/main.toml"
    assert git_repo.config_get("speckit.workspace") is None
    assert git_repo.config_get("speckit.capsule") is None
