"""Builders shared by the capsule and sync tests (no tests here).

Worker processes import this module too, so it stays light: no pytest imports.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path

from speckit_git_policy.canonical import canonical_bytes
from speckit_git_policy.git.repo import GitRepo
from speckit_git_policy.snapshot import content_hash
from speckit_git_policy.store.capsule.capsule import Capsule


def snapshot(seed: str, created_at: str = "2026-01-12T10:30:00.123456Z",
             policy_id: str | None = None) -> tuple[str, str, str, bytes]:
    """(policy_id, hash, created_at, canonical bytes) of a snapshot whose hash verifies."""
    content = {
        "schema_version": "1.0",
        "routing": {"cloud": {"architect": [f"model-{seed}"]}},
        "capture": {"mode": "none"},
        "budgets": {}, "gates": {}, "model_config": {}, "weights": {}, "prompts": {},
        "source_files": ["docs/MODEL-POLICY.md", "model_policy.toml"],
        "source_digests": {"docs/MODEL-POLICY.md": "0" * 64, "model_policy.toml": "1" * 64},
    }
    digest = content_hash(content)
    policy_id = policy_id or str(uuid.uuid4())
    document = {**content, "policy_id": policy_id, "hash": digest, "created_at": created_at,
                "provenance": {"commit": None, "dirty": True, "trigger": "manual",
                               "validated": True, "tool_version": "test"}}
    return policy_id, digest, created_at, canonical_bytes(document)


def event(run_id: str, event_id: str, timestamp: str, **extra: object) -> Callable[[int], bytes]:
    def build(seq: int) -> bytes:
        return canonical_bytes({"event_id": event_id, "run_id": run_id, "seq": seq,
                                "timestamp": timestamp, "type": "Checkpoint", **extra})
    return build


def timestamp(n: int) -> str:
    return f"2026-01-12T10:{n // 60 % 60:02d}:{n % 60:02d}.{n:06d}Z"


def capsule_at(path: Path, workspace: str = "default") -> Capsule:
    return Capsule(GitRepo.discover(path), workspace)


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)


def fsck_clean(cwd: Path) -> None:
    result = run(cwd, "fsck", "--strict", "--no-progress")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "error" not in result.stderr.lower() and "missing" not in result.stdout, result.stderr


def cat_file(cwd: Path, obj: str) -> bytes:
    return subprocess.run(["git", "cat-file", "-p", obj], cwd=cwd, capture_output=True,
                          check=True).stdout


def refs_under(cwd: Path, prefix: str = "refs/speckit/") -> dict[str, str]:
    out = run(cwd, "for-each-ref", "--format=%(refname) %(objectname)", prefix).stdout
    return dict(line.split(" ") for line in out.splitlines())
