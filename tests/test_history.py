"""``log``: one entry per binding, newest first, changed keys, cost by bindings (docs/DESIGN.md §9)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import EXAMPLE_DOC, EXAMPLE_POLICY, git

from speckit_git_policy.cli import cli
from speckit_git_policy.git import repo as gitio
from speckit_git_policy.git.repo import GitRepo
from speckit_git_policy.ids import new_policy_id
from speckit_git_policy.policy.sources import read_sources
from speckit_git_policy.queries.history import policy_log
from speckit_git_policy.snapshot import build_document, compile_sources, document_bytes
from speckit_git_policy.store import Stores

START = 1_700_000_000


def build_history(root: Path, commits: int, every: int) -> list[str]:
    """``commits`` commits made by ``git fast-import`` (one a second); every ``every``-th
    changes the policy. Returns the SHAs of the policy commits, oldest first."""
    policy = EXAMPLE_POLICY.read_text()
    doc = EXAMPLE_DOC.read_bytes()
    stream = []

    def blob(data: bytes) -> None:
        stream.append(b"data %d\n" % len(data) + data + b"\n")

    marks = []
    for n in range(commits):
        stream.append(b"commit refs/heads/main\nmark :%d\n" % (n + 1))
        stream.append(b"committer Ada Author <ada@example.com> %d +0000\n" % (START + n))
        blob(f"commit {n}".encode())
        if n % every == 0:
            text = re.sub(r"(?m)^warn_threshold = .*$", f"warn_threshold = {n / 10:.1f}", policy)
            stream.append(b"M 100644 inline model_policy.toml\n")
            blob(text.encode())
            if n == 0:
                stream.append(b"M 100644 inline docs/MODEL-POLICY.md\n")
                blob(doc)
            marks.append(n + 1)
        stream.append(b"M 100644 inline counter.txt\n")
        blob(str(n).encode())
    stream.append(b"checkpoint\n")
    subprocess.run(["git", "fast-import", "--quiet", "--export-marks=marks"], cwd=root,
                   input=b"".join(stream), check=True)
    mark_to_sha = dict(line.split() for line in (root / "marks").read_text().splitlines())
    (root / "marks").unlink()
    git(root, "reset", "-q", "--hard", "main")
    return [mark_to_sha[f":{m}"] for m in marks]


def bind_snapshots(root: Path, shas: list[str]) -> Stores:
    """One snapshot per policy commit, written straight to the stores (no hooks)."""
    repo = GitRepo.discover(root)
    stores = Stores(repo)
    stores.prepare()
    for n, sha in enumerate(shas):
        compiled = compile_sources(read_sources(repo, sha))
        policy_id = new_policy_id()
        created_at = f"2026-01-01T00:00:00.{n:06d}Z"
        data = document_bytes(build_document(compiled, policy_id, created_at=created_at,
                                             commit=sha, trigger="commit"))
        stores.store(policy_id, compiled.hash, created_at, data)
        stores.fs.claim_hash(compiled.hash, policy_id)
        stores.add_binding(policy_id, sha)
    return stores


@pytest.fixture
def fs_only(repo: Path) -> Path:
    git(repo, "config", "speckit.capsule", "false")
    return repo


def test_log_lists_bindings_newest_first_with_changed_keys(fs_only: Path) -> None:
    shas = build_history(fs_only, 30, 10)
    stores = bind_snapshots(fs_only, shas)
    entries = policy_log(GitRepo.discover(fs_only), stores)
    assert [e["commit"] for e in entries] == shas[::-1]
    assert entries[0]["changed"] == ["budgets.cost.warn_threshold", "source_digests.model_policy.toml"]
    assert "routing.cloud.architect" in entries[-1]["changed"]  # the first entry sets every key
    assert entries[0]["author"] == "Ada Author <ada@example.com>"
    assert entries[0]["subject"] == "commit 20"
    assert entries[0]["date"].startswith("2023-11-14T")
    assert set(entries[0]) == {"policy_id", "hash", "commit", "author", "date", "subject", "changed"}


def test_log_limit_keeps_changed_against_the_entry_before(fs_only: Path) -> None:
    shas = build_history(fs_only, 30, 10)
    stores = bind_snapshots(fs_only, shas)
    entries = policy_log(GitRepo.discover(fs_only), stores, limit=1)
    assert len(entries) == 1 and entries[0]["commit"] == shas[-1]
    assert entries[0]["changed"] == ["budgets.cost.warn_threshold", "source_digests.model_policy.toml"]


def counting_git_calls(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    calls: list[list[str]] = []
    real = gitio.run_git

    def counted(args: list[str], *rest: Any, **kwargs: Any) -> bytes:
        calls.append(args)
        return real(args, *rest, **kwargs)

    monkeypatch.setattr(gitio, "run_git", counted)
    return calls


def test_log_cost_does_not_grow_with_commits_or_bindings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    counts = []
    for commits, every in ((20, 10), (400, 10), (400, 100)):
        root = tmp_path / f"r{commits}-{every}"
        root.mkdir()
        git(root, "init", "-q")
        git(root, "config", "speckit.capsule", "false")
        stores = bind_snapshots(root, build_history(root, commits, every))
        calls = counting_git_calls(monkeypatch)
        entries = policy_log(GitRepo.discover(root), stores)
        monkeypatch.undo()
        assert len(entries) == commits // every
        assert not any(args[0] in ("show", "rev-list") for args in calls)  # no per-commit walk
        counts.append(len(calls))
    assert counts[0] == counts[1] == counts[2]


def test_commits_of_the_same_second_are_ordered_by_ancestry(policy_repo: Path) -> None:
    git(policy_repo, "config", "speckit.capsule", "false")
    repo = GitRepo.discover(policy_repo)
    from speckit_git_policy.capture import capture

    same = {"GIT_COMMITTER_DATE": "1700000000 +0000", "GIT_AUTHOR_DATE": "1700000000 +0000"}
    shas = []
    for warn in (6.0, 7.0, 8.0, 9.0):
        text = re.sub(r"(?m)^warn_threshold = .*$", f"warn_threshold = {warn}", EXAMPLE_POLICY.read_text())
        (policy_repo / "model_policy.toml").write_text(text)
        git(policy_repo, "commit", "-q", "-am", f"warn {warn}", env=same)
        shas.append(git(policy_repo, "rev-parse", "HEAD").strip())
    for sha in (shas[2], shas[0], shas[3], shas[1]):  # captured out of order
        capture(repo, commit=sha, trigger="manual")
    entries = policy_log(repo, Stores(repo))
    assert [e["commit"] for e in entries] == shas[::-1]


def test_same_content_again_changes_nothing(policy_repo: Path) -> None:
    git(policy_repo, "config", "speckit.capsule", "false")
    repo = GitRepo.discover(policy_repo)
    from speckit_git_policy.capture import capture

    first = capture(repo, commit="HEAD", trigger="manual")
    git(policy_repo, "commit", "-q", "--allow-empty", "-m", "again", env={"GIT_COMMITTER_DATE": "2100000000 +0000"})
    second = capture(repo, commit="HEAD", trigger="manual")
    assert first.policy_id == second.policy_id
    # "again" changed no source: HEAD's history lists the first commit only, --all both.
    assert [e["commit"] for e in policy_log(repo, Stores(repo))] == [first.commit]
    entries = policy_log(repo, Stores(repo), every_binding=True)
    assert [e["changed"] == [] for e in entries] == [True, False]


def test_binding_to_a_commit_missing_here_is_listed_last(fs_only: Path) -> None:
    shas = build_history(fs_only, 10, 5)
    stores = bind_snapshots(fs_only, shas)
    policy_id = next(iter(stores.all_bindings()))
    stores.add_binding(policy_id, "f" * 40)  # bound in another clone, never fetched
    assert [e["commit"] for e in policy_log(GitRepo.discover(fs_only), stores)] == shas[::-1]
    entries = policy_log(GitRepo.discover(fs_only), stores, every_binding=True)
    assert entries[-1]["commit"] == "f" * 40 and entries[-1]["author"] is None
    assert [e["commit"] for e in entries[:-1]] == shas[::-1]


def test_log_cli_json_and_text(fs_only: Path) -> None:
    shas = build_history(fs_only, 20, 10)
    bind_snapshots(fs_only, shas)
    result = CliRunner().invoke(cli, ["-C", str(fs_only), "log", "-n", "1", "--json"])
    assert result.exit_code == 0, result.output
    assert [e["commit"] for e in json.loads(result.output)] == [shas[-1]]
    text = CliRunner().invoke(cli, ["-C", str(fs_only), "log"])
    assert text.exit_code == 0 and shas[-1][:12] in text.output and "commit 10" in text.output


def test_log_of_a_repo_without_snapshots_is_empty(policy_repo: Path) -> None:
    result = CliRunner().invoke(cli, ["-C", str(policy_repo), "log", "--json"])
    assert result.exit_code == 0 and json.loads(result.output) == []


def test_changed_keys_agree_with_snapshot_diff_documents() -> None:
    from speckit_git_policy.queries.history import _keyed, changed_keys
    from speckit_git_policy.snapshot import diff_documents

    old = {"routing": {"cloud": {"judge": ["a"]}}, "weights": {"w": 1, "x": True, "y": 0.5, "z": [1, {"k": 2}]},
           "budgets": {"cost": {"hard_limit": 25.0}}, "source_digests": {"model_policy.toml": "aa"}}
    new = {"routing": {"cloud": {"judge": ["a", "b"]}}, "weights": {"w": 1.0, "x": 1, "y": 0.5, "z": [1, {"k": 3}]},
           "capture": {"mode": "none"}, "source_digests": {"model_policy.toml": "bb"}}
    expected = [change["key"] for change in diff_documents(old, new)]
    assert changed_keys(_keyed(old), _keyed(new)) == expected
    assert "weights.w" not in expected and "weights.x" in expected  # 1 == 1.0 as JSON, True != 1
