"""verify proves every snapshot against the commits it is bound to, as capture compiled it;
proven pairs are cached by the source blob ids, never for a changed blob."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import git
from test_trust_support import change_policy, forged

from speckit_git_policy.capture import capture
from speckit_git_policy.cli import cli
from speckit_git_policy.git.repo import GitRepo
from speckit_git_policy.queries import proof
from speckit_git_policy.queries.verify import verify
from speckit_git_policy.store import Stores


def problems(path: Path, kind: str = "proof") -> list[dict]:
    result = CliRunner().invoke(cli, ["-C", str(path), "verify", "--json"])
    return [p for p in json.loads(result.stdout)["problems"] if p["kind"] == kind]


def test_captured_snapshots_are_proven(policy_repo: Path) -> None:
    repo = GitRepo.discover(policy_repo)
    capture(repo, commit="HEAD")
    change_policy(policy_repo, "plan = 8000", "plan = 9000", "More planning")
    report = verify(repo)
    assert report.ok, report.as_json()
    assert not [p for p in report.problems if p.kind == "proof"]


def test_a_self_consistent_forgery_in_both_copies_is_reported(policy_repo: Path) -> None:
    repo = GitRepo.discover(policy_repo)
    result = capture(repo, commit="HEAD")
    stores = Stores(repo)
    honest = stores.fs.read(result.policy_id)
    assert honest is not None
    fake = forged(honest)
    document = json.loads(fake)
    stores.fs.write(result.policy_id, fake)
    assert stores.capsule is not None
    stores.capsule.put_snapshot(result.policy_id, document["hash"], document["created_at"], fake,
                                replace=True)
    [problem] = problems(policy_repo)
    assert problem["severity"] == "error" and "forged or corrupted snapshot" in problem["message"]
    assert problem["commit"] == git(policy_repo, "rev-parse", "HEAD").strip()
    assert problem["outcome"] == proof.MISMATCH
    assert not verify(repo, repair=True).ok  # nothing to repair from: both copies agree


def test_a_binding_to_a_commit_that_does_not_carry_the_content(policy_repo: Path) -> None:
    repo = GitRepo.discover(policy_repo)
    result = capture(repo, commit="HEAD")
    git(policy_repo, "rm", "-q", "model_policy.toml")
    git(policy_repo, "commit", "-q", "-m", "Drop the policy")
    Stores(repo).add_binding(result.policy_id, git(policy_repo, "rev-parse", "HEAD").strip())
    [problem] = problems(policy_repo)
    assert problem["outcome"] == proof.UNCOMPILABLE and problem["severity"] == "error"


def test_proofs_are_cached_by_source_blob_ids(policy_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = GitRepo.discover(policy_repo)
    first = capture(repo, commit="HEAD")
    calls: list[str] = []
    original = proof.compile_sources

    def counting(sources):  # type: ignore[no-untyped-def]
        calls.append(sources.origin)
        return original(sources)

    monkeypatch.setattr(proof, "compile_sources", counting)
    assert verify(repo).ok and len(calls) == 1
    assert verify(repo).ok and len(calls) == 1  # proven before: the cache answers
    # The same snapshot bound to a commit whose policy differs: other blob ids, compiled
    # again, and the mismatch found (the cache never vouches for other bytes).
    change_policy(policy_repo, "plan = 8000", "plan = 9100", "Another plan")
    head = git(policy_repo, "rev-parse", "HEAD").strip()
    Stores(repo).add_binding(first.policy_id, head)
    report = verify(repo)
    assert head in calls
    mismatched = [p for p in report.problems if p.kind == "proof"]
    assert [p.extra["commit"] for p in mismatched] == [head]


def test_a_symlinked_source_is_read_as_capture_reads_it(policy_repo: Path) -> None:
    (policy_repo / "policies").mkdir()
    git(policy_repo, "mv", "model_policy.toml", "policies/model_policy.toml")
    (policy_repo / "model_policy.toml").symlink_to("policies/model_policy.toml")
    git(policy_repo, "add", "model_policy.toml")
    git(policy_repo, "commit", "-q", "-m", "Policy behind a symlink")
    repo = GitRepo.discover(policy_repo)
    capture(repo, commit="HEAD")
    assert not [p for p in verify(repo).problems if p.kind == "proof"]


def test_proofs_computed_in_a_child_process_give_the_same_report(
    policy_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from speckit_git_policy.queries import verify as verify_module

    repo = GitRepo.discover(policy_repo)
    result = capture(repo, commit="HEAD")
    change_policy(policy_repo, "plan = 8000", "plan = 9000", "More planning")
    stores = Stores(repo)
    honest = stores.fs.read(result.policy_id)
    assert honest is not None
    fake = forged(honest)
    stores.fs.write(result.policy_id, fake)  # the filesystem copy forged, the capsule's not
    inline = verify(repo).as_json()
    monkeypatch.setattr(verify_module, "PROVE_APART", 0)
    children = []
    real_fork = verify_module.os.fork

    def counted() -> int:
        pid = real_fork()
        if pid:
            children.append(pid)
        return pid

    monkeypatch.setattr(verify_module.os, "fork", counted)
    (Path(repo.common_dir) / "speckit" / "proofs.json").unlink(missing_ok=True)
    apart = verify(repo).as_json()
    assert children and apart == inline
    assert any(p["kind"] == "proof" for p in apart["problems"])
