"""End to end with the real pre-commit framework: a repository that already uses it
adds this tool through .pre-commit-config.yaml pointing at this checkout."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import REPO_ROOT, git, write_policy_sources

pytestmark = pytest.mark.skipif(
    shutil.which("pre-commit") is None or not (REPO_ROOT / ".git").exists(),
    reason="needs the pre-commit package and this project as a git checkout",
)


def _speckit(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "speckit-policy", "-C", str(repo), *args],
                          capture_output=True, text=True)


def test_framework_blocks_an_invalid_policy_and_captures_a_valid_change(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rev = git(REPO_ROOT, "rev-parse", "HEAD").strip()
    (repo / ".pre-commit-config.yaml").write_text(
        "repos:\n"
        f"  - repo: {REPO_ROOT}\n"
        f"    rev: {rev}\n"
        "    hooks:\n"
        "      - id: speckit-policy-validate\n"
        "      - id: speckit-policy-capture\n"
    )
    monkeypatch.setenv("PRE_COMMIT_HOME", str(tmp_path / "pre-commit-home"))
    subprocess.run(["pre-commit", "install", "-t", "pre-commit", "-t", "post-commit",
                    "-t", "post-merge", "-t", "post-rewrite"], cwd=repo, check=True, capture_output=True)
    write_policy_sources(repo)
    git(repo, "add", "-A")
    first = subprocess.run(["git", "commit", "-m", "Adopt policy"], cwd=repo, capture_output=True, text=True)
    assert first.returncode == 0, first.stdout + first.stderr
    head = git(repo, "rev-parse", "HEAD").strip()
    snapshots = json.loads(_speckit(repo, "list", "--json").stdout)
    assert [s["commit"] for s in snapshots] == [head]

    policy = repo / "model_policy.toml"
    policy.write_text(policy.read_text().replace('mode = "prompts_only"', 'mode = "everything"'))
    git(repo, "add", "model_policy.toml")
    blocked = subprocess.run(["git", "commit", "-m", "Bad mode"], cwd=repo, capture_output=True, text=True)
    assert blocked.returncode != 0
    assert "model_policy.toml:" in blocked.stdout + blocked.stderr
    assert "capture.mode" in blocked.stdout + blocked.stderr
    assert git(repo, "rev-parse", "HEAD").strip() == head

    policy.write_text(policy.read_text().replace('mode = "everything"', 'mode = "full_io"'))
    git(repo, "add", "model_policy.toml")
    second = subprocess.run(["git", "commit", "-m", "Capture outputs"], cwd=repo, capture_output=True, text=True)
    assert second.returncode == 0, second.stdout + second.stderr
    new_head = git(repo, "rev-parse", "HEAD").strip()
    snapshots = json.loads(_speckit(repo, "list", "--json").stdout)
    assert [s["commit"] for s in snapshots] == [new_head, head]
    shown = json.loads(_speckit(repo, "show", snapshots[0]["policy_id"], "--json").stdout)
    assert shown["capture"]["mode"] == "full_io"

    # An amend that keeps the policy: the binding follows the new SHA.
    (repo / "README").write_text("hello\n")
    git(repo, "add", "README")
    amend = subprocess.run(["git", "commit", "--amend", "-m", "Capture outputs (amended)"],
                           cwd=repo, capture_output=True, text=True)
    assert amend.returncode == 0, amend.stdout + amend.stderr
    amended = git(repo, "rev-parse", "HEAD").strip()
    snapshots = json.loads(_speckit(repo, "list", "--json").stdout)
    assert snapshots[0]["commit"] == amended
