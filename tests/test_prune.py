"""prune: removes filesystem copies by count or age, never one a run refers to, never
the only copy, never anything in the capsule; verify does not resurrect them."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

from click.testing import CliRunner
from conftest import git

from speckit_git_policy.capture import capture
from speckit_git_policy.cli import cli
from speckit_git_policy.git.repo import GitRepo
from speckit_git_policy.queries.prune import prune
from speckit_git_policy.queries.verify import verify
from speckit_git_policy.store import Stores


def _three_snapshots(policy_repo: Path) -> tuple[GitRepo, Stores, list[str]]:
    repo = GitRepo.discover(policy_repo)
    ids = [capture(repo, commit="HEAD").policy_id]
    for plan in (9000, 10000):
        policy = policy_repo / "model_policy.toml"
        text = policy.read_text()
        policy.write_text(text.replace(text.split("plan = ")[1].split("\n")[0], str(plan), 1))
        git(policy_repo, "commit", "-qam", f"plan {plan}")
        ids.append(capture(repo, commit="HEAD").policy_id)
    return repo, Stores(repo), ids  # oldest first


def test_keep_removes_older_filesystem_copies_only(policy_repo: Path) -> None:
    repo, stores, ids = _three_snapshots(policy_repo)
    result = prune(stores, keep=1, older_than_days=None, dry_run=False)
    assert sorted(result.removed) == sorted(ids[:2])
    assert stores.fs.ids() == [ids[2]]
    assert stores.capsule is not None
    assert all(stores.capsule.get_snapshot(policy_id) is not None for policy_id in ids)
    assert verify(repo).ok  # pruned on purpose: not a parity problem
    assert sorted(stores.ids()) == sorted(ids)  # still listed and shown from the capsule
    assert stores.load(ids[0])["policy_id"] == ids[0]


def test_dry_run_changes_nothing(policy_repo: Path) -> None:
    _, stores, ids = _three_snapshots(policy_repo)
    result = CliRunner().invoke(cli, ["-C", str(policy_repo), "prune", "--keep", "0", "--dry-run", "--json"])
    assert result.exit_code == 0
    assert sorted(json.loads(result.stdout)["removed"]) == sorted(ids)
    assert sorted(stores.fs.ids()) == sorted(ids)


def test_snapshot_a_run_refers_to_is_kept(policy_repo: Path) -> None:
    from speckit_git_policy.runs.run import start_run

    repo, stores, ids = _three_snapshots(policy_repo)
    run = start_run(repo, "keeps-latest")
    assert run.policy_id == ids[2]
    result = prune(stores, keep=0, older_than_days=None, dry_run=False)
    assert ids[2] in result.kept_for_runs and ids[2] not in result.removed
    assert stores.fs.ids() == [ids[2]]


def test_only_copy_is_never_removed(policy_repo: Path) -> None:
    git(policy_repo, "config", "speckit.capsule", "false")
    _, stores, ids = _three_snapshots(policy_repo)
    result = prune(stores, keep=0, older_than_days=None, dry_run=False)
    assert result.removed == [] and sorted(result.kept_without_capsule_copy) == sorted(ids)
    assert sorted(stores.fs.ids()) == sorted(ids)


def test_older_than(policy_repo: Path) -> None:
    _, stores, ids = _three_snapshots(policy_repo)
    now = datetime.datetime.now(datetime.timezone.utc)
    assert prune(stores, keep=None, older_than_days=1, dry_run=True, now=now).removed == []
    later = now + datetime.timedelta(days=2)
    assert sorted(prune(stores, keep=None, older_than_days=1, dry_run=True, now=later).removed) == sorted(ids)


def test_prune_needs_a_criterion(policy_repo: Path) -> None:
    result = CliRunner().invoke(cli, ["-C", str(policy_repo), "prune"])
    assert result.exit_code == 2
    assert "--keep" in result.output
