"""trace and blame: from a run to the snapshots, commits, authors and lines (docs/DESIGN.md §9)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from conftest import git, write_policy_sources

from speckit_git_policy import runs
from speckit_git_policy.capture import capture
from speckit_git_policy.errors import BadInput, NotFound
from speckit_git_policy.git.repo import GitRepo
from speckit_git_policy.hooks.install import install
from speckit_git_policy.policy.tomlpos import KeyLines
from speckit_git_policy.queries.trace import _span, blame, trace
from speckit_git_policy.snapshot import policy_keys
from speckit_git_policy.store.capsule import sync

BOB = {"GIT_AUTHOR_NAME": "Bob Builder", "GIT_AUTHOR_EMAIL": "bob@example.com",
       "GIT_AUTHOR_DATE": "2030-01-02T03:04:05+00:00"}


def commit(root: Path, message: str, env: dict[str, str] | None = None) -> str:
    git(root, "commit", "-q", "-am", message, env=env)
    return git(root, "rev-parse", "HEAD").strip()


def edit_policy(root: Path, old: str, new: str) -> None:
    path = root / "model_policy.toml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def rows_by_key(root: Path, run_id: str, key: str | None = None) -> dict[str, dict[str, object]]:
    return {row["key"]: row for row in blame(root, run_id, key)}


# ---- trace ---------------------------------------------------------------------------
def test_trace_names_each_governing_snapshot_with_commit_author_and_subject(policy_repo: Path) -> None:
    first = git(policy_repo, "rev-parse", "HEAD").strip()
    run = runs.start_run(policy_repo, "traced")
    run.stage("plan")
    edit_policy(policy_repo, "tasks = 4000", "tasks = 5000")
    second = commit(policy_repo, "Give tasks more tokens", env=BOB)
    run.stage("tasks")
    run.checkpoint("done")
    result = trace(policy_repo, "traced")
    assert result["run_id"] == "traced"
    assert [e["seq"] for e in result["events"]] == [0, 1, 2, 3]
    snapshots = result["snapshots"]
    assert [s["commit"] for s in snapshots] == [first, second]
    assert snapshots[0]["author"] == "Ada Author <ada@example.com>"
    assert snapshots[0]["subject"] == "Add model policy"
    assert snapshots[1]["author"] == "Bob Builder <bob@example.com>"
    assert snapshots[1]["date"] == "2030-01-02T03:04:05+00:00"
    assert snapshots[1]["subject"] == "Give tasks more tokens"
    for snapshot, event in zip(snapshots, (result["events"][0], result["events"][2])):
        assert snapshot["policy_id"] == event["policy_id"]
        assert snapshot["hash"] == event["policy_hash"] and snapshot["uri"] == event["policy_uri"]
        assert snapshot["verified"] is True


def test_trace_of_a_dirty_snapshot_has_no_commit(policy_repo: Path) -> None:
    edit_policy(policy_repo, "plan = 8000", "plan = 8100")
    runs.start_run(policy_repo, "dirty")
    [snapshot] = trace(policy_repo, "dirty")["snapshots"]
    assert snapshot["commit"] is None and snapshot["author"] is None


def test_trace_unknown_run(policy_repo: Path) -> None:
    with pytest.raises(NotFound, match="not in the capsule"):
        trace(policy_repo, "never-started")


def test_trace_follows_an_amend_and_survives_gc(policy_repo: Path) -> None:
    install(GitRepo.discover(policy_repo), sys.executable)
    edit_policy(policy_repo, "judge_agreement = 0.6", "judge_agreement = 0.7")
    original = commit(policy_repo, "Weigh the judge more")
    runs.start_run(policy_repo, "amended").stage("plan")
    git(policy_repo, "commit", "-q", "--amend", "-m", "Weigh the judge more (amended)")
    amended = git(policy_repo, "rev-parse", "HEAD").strip()
    git(policy_repo, "reflog", "expire", "--expire=now", "--all")
    git(policy_repo, "gc", "-q", "--prune=now")
    [snapshot] = trace(policy_repo, "amended")["snapshots"]
    assert snapshot["commit"] == amended
    assert original in snapshot["rewritten_from"]
    assert snapshot["subject"] == "Weigh the judge more (amended)"
    # The capsule keeps the original reachable: gc did not drop it.
    git(policy_repo, "cat-file", "-e", f"{original}^{{commit}}")


def test_trace_after_a_rebase(policy_repo: Path) -> None:
    install(GitRepo.discover(policy_repo), sys.executable)
    git(policy_repo, "checkout", "-q", "-b", "feature")
    edit_policy(policy_repo, "stability_days = 30", "stability_days = 45")
    before = commit(policy_repo, "Longer stability window")
    runs.start_run(policy_repo, "rebased")
    git(policy_repo, "checkout", "-q", "main")
    (policy_repo / "README").write_text("unrelated\n")
    git(policy_repo, "add", "README")
    git(policy_repo, "commit", "-q", "-m", "Unrelated change on main")
    git(policy_repo, "checkout", "-q", "feature")
    git(policy_repo, "rebase", "-q", "main")
    after = git(policy_repo, "rev-parse", "HEAD").strip()
    assert after != before
    [snapshot] = trace(policy_repo, "rebased")["snapshots"]
    assert snapshot["commit"] == after and snapshot["subject"] == "Longer stability window"
    assert rows_by_key(policy_repo, "rebased")["gates.local_memory_sunset.stability_days"]["commit"] == after


def test_trace_without_the_rewrite_hook_uses_the_kept_original_after_gc(policy_repo: Path) -> None:
    edit_policy(policy_repo, "judge_agreement = 0.6", "judge_agreement = 0.8")
    original = commit(policy_repo, "Judge weight")
    runs.start_run(policy_repo, "no-hook")
    git(policy_repo, "commit", "-q", "--amend", "-m", "Judge weight, reworded")
    git(policy_repo, "reflog", "expire", "--expire=now", "--all")
    git(policy_repo, "gc", "-q", "--prune=now")
    [snapshot] = trace(policy_repo, "no-hook")["snapshots"]
    assert snapshot["commit"] == original and snapshot["subject"] == "Judge weight"
    assert rows_by_key(policy_repo, "no-hook")["weights.judge_agreement"]["commit"] == original


@pytest.fixture
def clones(tmp_path: Path, bare_remote: Path) -> tuple[Path, Path]:
    """Clone a: the policy committed and pushed; clone b: a fresh clone of it."""
    a = tmp_path / "a"
    git(tmp_path, "init", "-q", str(a))
    write_policy_sources(a)
    git(a, "add", "-A")
    git(a, "commit", "-q", "-m", "Add model policy")
    git(a, "remote", "add", "origin", str(bare_remote))
    git(a, "push", "-q", "-u", "origin", "main")
    b = tmp_path / "b"
    git(tmp_path, "clone", "-q", str(bare_remote), str(b))
    return a, b


def test_trace_and_blame_in_a_fresh_clone_after_pull(clones: tuple[Path, Path], tmp_path: Path,
                                                     bare_remote: Path) -> None:
    a, _ = clones
    runs.start_run(a, "shared").stage("plan")
    sync.push(GitRepo.discover(a))
    fresh = tmp_path / "fresh"
    git(tmp_path, "clone", "-q", str(bare_remote), str(fresh))
    sync.pull(GitRepo.discover(fresh))
    assert not (fresh / ".speckit").exists()  # only the capsule came over
    local = trace(a, "shared")
    remote = trace(fresh, "shared")
    assert remote == local
    assert remote["snapshots"][0]["author"] == "Ada Author <ada@example.com>"
    assert blame(fresh, "shared") == blame(a, "shared")


def test_two_clones_appending_to_one_run_merge_on_pull(clones: tuple[Path, Path]) -> None:
    a, b = clones
    run_a = runs.start_run(a, "both")
    sync.push(GitRepo.discover(a))
    sync.pull(GitRepo.discover(b))
    run_b = runs.open_run(b, "both")
    run_a.stage("plan")
    run_b.checkpoint("from b")
    run_a.checkpoint("from a")
    sync.push(GitRepo.discover(a))
    sync.pull(GitRepo.discover(b))
    merged = runs.run_events(b, "both")
    assert [e["seq"] for e in merged] == list(range(4))
    ids_a = {e["event_id"] for e in runs.run_events(a, "both")}
    ids_b_before = {e["event_id"] for e in merged}
    assert ids_a <= ids_b_before
    assert [e["timestamp"] for e in merged] == sorted(e["timestamp"] for e in merged)
    # The held run in b continues on the merged log without a gap.
    assert run_b.stage("tasks")["seq"] == 4
    assert runs.lint_events(b) == []


# ---- blame ---------------------------------------------------------------------------------
def test_blame_every_key_with_the_commit_that_last_set_it(policy_repo: Path) -> None:
    first = git(policy_repo, "rev-parse", "HEAD").strip()
    edit_policy(policy_repo, "hard_limit = 25.0", "hard_limit = 40.0")
    second = commit(policy_repo, "Raise the hard limit", env=BOB)
    run = runs.start_run(policy_repo, "blamed")
    rows = rows_by_key(policy_repo, "blamed")
    assert set(rows) == set(policy_keys(run.policy()))
    limit = rows["budgets.cost.hard_limit"]
    assert limit["value"] == 40.0 and limit["commit"] == second
    assert limit["author"] == "Bob Builder <bob@example.com>"
    assert limit["date"] == "2030-01-02T03:04:05+00:00"
    lines = (policy_repo / "model_policy.toml").read_text().splitlines()
    assert lines[int(limit["line"]) - 1].startswith("hard_limit = 40.0")  # type: ignore[call-overload]
    warn = rows["budgets.cost.warn_threshold"]
    assert warn["commit"] == first and warn["author"] == "Ada Author <ada@example.com>"
    assert rows["capture.mode"]["value"] == "prompts_only"
    assert all(set(row) >= {"key", "value", "commit", "author", "date", "line"} for row in rows.values())


def test_blame_multi_line_value_reports_its_newest_line(policy_repo: Path) -> None:
    edit_policy(policy_repo, 'architect = ["claude-sonnet-4-20250514", "gpt-4o"]',
                'architect = [\n  "claude-sonnet-4-20250514",  # "]" in a comment\n  "gpt-4o",\n]')
    first = commit(policy_repo, "Architect candidates, one per line")
    edit_policy(policy_repo, '  "gpt-4o",\n]', '  "gpt-4.1",\n]')
    second = commit(policy_repo, "Newer fallback model", env=BOB)
    edit_policy(policy_repo, "judge_agreement = 0.6", "judge_agreement = 0.65")
    commit(policy_repo, "Unrelated later change", env={**BOB, "GIT_AUTHOR_DATE": "2031-01-01T00:00:00+00:00"})
    runs.start_run(policy_repo, "multi")
    row = rows_by_key(policy_repo, "multi", "routing.cloud.architect")["routing.cloud.architect"]
    assert row["value"] == ["claude-sonnet-4-20250514", "gpt-4.1"]
    assert row["commit"] == second != first
    assert row["end_line"] == int(row["line"]) + 3  # type: ignore[call-overload]


def test_blame_one_key_a_table_and_an_unknown_key(policy_repo: Path) -> None:
    runs.start_run(policy_repo, "keys")
    [row] = blame(policy_repo, "keys", "budgets.tokens.plan")
    assert row["key"] == "budgets.tokens.plan" and row["value"] == 8000
    table = rows_by_key(policy_repo, "keys", "budgets.tokens")
    assert set(table) == {"budgets.tokens.specify", "budgets.tokens.plan", "budgets.tokens.tasks",
                          "budgets.tokens.implement"}
    with pytest.raises(BadInput, match="did you mean 'budgets.tokens.plan'"):
        blame(policy_repo, "keys", "budgets.tokens.pln")


def test_blame_uses_the_runs_latest_snapshot(policy_repo: Path) -> None:
    run = runs.start_run(policy_repo, "latest")
    edit_policy(policy_repo, "plan = 8000", "plan = 7000")
    changed = commit(policy_repo, "Less planning", env=BOB)
    run.stage("plan")
    [row] = blame(policy_repo, "latest", "budgets.tokens.plan")
    assert row["value"] == 7000 and row["commit"] == changed


def test_blame_of_a_dirty_snapshot_says_so(policy_repo: Path) -> None:
    edit_policy(policy_repo, "plan = 8000", "plan = 8200")
    runs.start_run(policy_repo, "dirty")
    with pytest.raises(NotFound, match="uncommitted edits"):
        blame(policy_repo, "dirty")


def test_value_spans() -> None:
    text = ('[a]\nx = 1\ny = [\n  "]",  # ] here\n  2,\n]\nz = """\nline ] two\n"""\n'
            "[empty]\n[b]\nw = { p = 1, q = [1,\n 2] }\n")
    lines = text.splitlines()
    key_lines = KeyLines(text)
    assert _span(key_lines, lines, "a.x") == (2, 2)
    assert _span(key_lines, lines, "a.y") == (3, 6)
    assert _span(key_lines, lines, "a.z") == (7, 9)
    assert _span(key_lines, lines, "empty") == (10, 10)
    assert _span(key_lines, lines, "b.w.q") == (12, 13)
    assert _span(key_lines, lines, "nope") is None


def test_trace_of_reverted_content_names_the_commit_the_run_read(policy_repo: Path) -> None:
    first = git(policy_repo, "rev-parse", "HEAD").strip()
    original = capture(GitRepo.discover(policy_repo), trigger="manual")  # bound to the first commit
    edit_policy(policy_repo, "plan = 8000", "plan = 9000")
    commit(policy_repo, "More planning")
    git(policy_repo, "revert", "--no-edit", "HEAD")
    reverted = git(policy_repo, "rev-parse", "HEAD").strip()
    runs.start_run(policy_repo, "early-content")
    [snapshot] = trace(policy_repo, "early-content")["snapshots"]
    assert snapshot["policy_id"] == original.policy_id and original.commit == first
    assert snapshot["commit"] == reverted != first
    assert snapshot["subject"].startswith("Revert")
    [row] = blame(policy_repo, "early-content", "budgets.tokens.plan")
    assert row["commit"] == reverted
