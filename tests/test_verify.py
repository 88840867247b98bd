"""verify: both copies of every snapshot, repair from the copy that verifies, event
lint, missed captures, unvalidated snapshots; and its CLI (--json, --format github)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from click.testing import CliRunner
from conftest import git

from speckit_git_policy.capture import capture
from speckit_git_policy.cli import cli
from speckit_git_policy.git.repo import GitRepo
from speckit_git_policy.queries.verify import verify
from speckit_git_policy.store import Stores


def _verify_cli(repo: Path, *args: str) -> tuple[int, dict]:
    result = CliRunner().invoke(cli, ["-C", str(repo), "verify", "--json", *args])
    return result.exit_code, json.loads(result.stdout)


def _captured(policy_repo: Path) -> tuple[GitRepo, Stores, str]:
    repo = GitRepo.discover(policy_repo)
    result = capture(repo, commit="HEAD", trigger="manual")
    return repo, Stores(repo), result.policy_id


def test_clean_repository_verifies(policy_repo: Path) -> None:
    _captured(policy_repo)
    code, report = _verify_cli(policy_repo)
    assert code == 0
    assert report == {"ok": True, "checked": 1, "problems": []}


def test_missing_filesystem_copy_is_reported_then_restored(policy_repo: Path) -> None:
    repo, stores, policy_id = _captured(policy_repo)
    original = stores.fs.read(policy_id)
    stores.fs.path_for(policy_id).unlink()
    code, report = _verify_cli(policy_repo)
    assert code == 1
    assert [p["kind"] for p in report["problems"]] == ["parity"]
    assert report["problems"][0]["uri"] == stores.uri(policy_id)
    assert report["problems"][0]["path"] == stores.fs.relative_path(policy_id)
    code, report = _verify_cli(policy_repo, "--repair")
    assert code == 0 and report["problems"][0]["repaired"] is True
    assert stores.fs.read(policy_id) == original
    assert _verify_cli(policy_repo) == (0, {"ok": True, "checked": 1, "problems": []})


def test_corrupted_filesystem_copy_is_restored_from_the_capsule(policy_repo: Path) -> None:
    repo, stores, policy_id = _captured(policy_repo)
    original = stores.fs.read(policy_id)
    assert original is not None
    stores.fs.path_for(policy_id).write_bytes(original.replace(b'"judge"', b'"jury"'))
    report = verify(repo)
    assert not report.ok
    assert report.problems[0].kind == "corrupt" and "hash mismatch" in report.problems[0].message
    assert verify(repo, repair=True).ok
    assert stores.fs.read(policy_id) == original


def test_corrupted_capsule_copy_is_restored_from_the_filesystem(policy_repo: Path) -> None:
    repo, stores, policy_id = _captured(policy_repo)
    capsule = stores.capsule
    assert capsule is not None
    good = stores.fs.read(policy_id)
    assert good is not None
    bad = good.replace(b'"judge"', b'"jury"')
    document = json.loads(good)
    capsule.put_snapshot(policy_id, document["hash"], document["created_at"], bad, replace=True)
    assert capsule.get_snapshot(policy_id) == bad
    report = verify(repo, repair=True)
    assert report.ok and report.problems[0].repaired
    assert capsule.get_snapshot(policy_id) == good
    fsck = subprocess.run(["git", "fsck", "--strict"], cwd=policy_repo, capture_output=True, text=True)
    assert fsck.returncode == 0, fsck.stderr


def test_no_copy_verifies_is_not_repairable(policy_repo: Path) -> None:
    repo, stores, policy_id = _captured(policy_repo)
    git(policy_repo, "config", "speckit.capsule", "false")
    stores = Stores(repo)
    stores.fs.path_for(policy_id).write_bytes(b"{}")
    report = verify(repo, repair=True)
    assert not report.ok
    assert report.problems[0].kind == "corrupt" and not report.problems[0].repaired


def test_fresh_clone_gets_its_filesystem_copies_back(policy_repo: Path, bare_remote: Path, tmp_path: Path) -> None:
    _, stores, policy_id = _captured(policy_repo)
    git(policy_repo, "remote", "add", "origin", str(bare_remote))
    git(policy_repo, "push", "-q", "origin", "HEAD:main")
    runner = CliRunner()
    assert runner.invoke(cli, ["-C", str(policy_repo), "push"]).exit_code == 0
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(bare_remote), str(clone))
    assert runner.invoke(cli, ["-C", str(clone), "pull"]).exit_code == 0
    assert not (clone / ".speckit" / "policies").exists()
    code, report = _verify_cli(clone, "--repair")
    assert code == 0 and report["checked"] == 1
    restored = clone / ".speckit" / "policies" / f"snapshot-{policy_id}.json"
    assert restored.read_bytes() == stores.fs.read(policy_id)
    assert git(clone, "status", "--porcelain") == ""


def test_unvalidated_snapshot_is_a_warning_not_a_failure(policy_repo: Path) -> None:
    _captured(policy_repo)
    policy = policy_repo / "model_policy.toml"
    policy.write_text(policy.read_text().replace("hard_limit = 25.0", "hard_limit = 1.0"))
    git(policy_repo, "commit", "-qam", "Invalid on purpose")
    repo = GitRepo.discover(policy_repo)
    result = capture(repo, commit="HEAD", trigger="commit")
    assert result.validated is False
    code, report = _verify_cli(policy_repo)
    assert code == 0
    warnings = [p for p in report["problems"] if p["kind"] == "unvalidated"]
    assert len(warnings) == 1 and warnings[0]["severity"] == "warning"


def test_missed_capture_is_reported_and_made_up(policy_repo: Path) -> None:
    policy = policy_repo / "model_policy.toml"
    policy.write_text(policy.read_text().replace("plan = 8000", "plan = 9000"))
    git(policy_repo, "commit", "-qam", "Change without hooks")
    head = git(policy_repo, "rev-parse", "HEAD").strip()
    code, report = _verify_cli(policy_repo)
    assert code == 1
    missed = [p for p in report["problems"] if p["kind"] == "missed_capture"]
    assert head in {p["commit"] for p in missed}
    assert "capture --commit" in missed[0]["message"]
    runner = CliRunner()
    for problem in missed:
        assert runner.invoke(cli, ["-C", str(policy_repo), "capture", "--commit", problem["commit"]]).exit_code == 0
    assert _verify_cli(policy_repo)[0] == 0


def test_event_pointing_at_a_missing_snapshot_is_reported(policy_repo: Path) -> None:
    from speckit_git_policy.runs.run import start_run

    repo, stores, _ = _captured(policy_repo)
    run = start_run(repo, "audit-1")
    capsule = stores.capsule
    assert capsule is not None
    from speckit_git_policy.canonical import canonical_bytes

    def dangling(seq: int) -> bytes:
        event = {"event_id": "e-dangling", "run_id": "audit-1", "seq": seq, "type": "Checkpoint",
                 "timestamp": "2099-01-01T00:00:00.000000Z", "label": None,
                 "policy_id": "00000000-0000-4000-8000-000000000000",
                 "policy_uri": "mv2://default/policy/00000000-0000-4000-8000-000000000000",
                 "policy_hash": "0" * 64, "commit": None}
        return canonical_bytes(event)

    capsule.append_event(run.run_id, dangling)
    code, report = _verify_cli(policy_repo)
    assert code == 1
    events = [p for p in report["problems"] if p["kind"] == "event"]
    assert events and events[0]["run_id"] == "audit-1" and events[0]["seq"] == 1


def test_github_annotations(policy_repo: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    _, stores, policy_id = _captured(policy_repo)
    stores.fs.path_for(policy_id).unlink()
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    result = CliRunner().invoke(cli, ["-C", str(policy_repo), "verify"])
    assert result.exit_code == 1
    assert result.stdout.startswith(f"::error file=.speckit/policies/snapshot-{policy_id}.json,title=mv2%3A//")
    plain = CliRunner().invoke(cli, ["-C", str(policy_repo), "verify", "--format", "plain"])
    assert "filesystem copy is missing" in plain.output and "::error" not in plain.output


def test_bindings_made_with_the_capsule_off_are_carried_into_it(policy_repo: Path) -> None:
    git(policy_repo, "config", "speckit.capsule", "false")
    repo = GitRepo.discover(policy_repo)
    result = capture(repo, commit="HEAD", trigger="commit")
    git(policy_repo, "config", "speckit.capsule", "true")
    stores = Stores(repo)
    assert stores.capsule is not None
    head = git(policy_repo, "rev-parse", "HEAD").strip()
    report = verify(repo, repair=True)  # the capsule copy is missing: restored first
    assert report.ok
    assert stores.capsule.policy_for_commit(head) == result.policy_id
    assert any(p.kind == "binding" and p.repaired for p in report.problems)
    assert verify(repo).problems == []
