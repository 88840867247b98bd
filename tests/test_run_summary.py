"""Run summaries (store/capsule/runsummary.py): `run list` from them gives what the
logs give, and a summary that no longer covers its directory is never trusted."""

from __future__ import annotations

from pathlib import Path

import pytest

from speckit_git_policy.git.repo import GitRepo
from speckit_git_policy.runs.listing import _row_of_log, list_runs
from speckit_git_policy.runs.run import open_run, start_run
from speckit_git_policy.store import Stores
from speckit_git_policy.store.capsule import layout, runsummary
from speckit_git_policy.store.capsule.bulk import RECORD, run_listing
from speckit_git_policy.store.capsule.capsule import Capsule


def run_digests(repo: GitRepo, workspace: str) -> tuple[list[str], list[str]]:
    """(the runs a summary digests, the runs to read from their logs), as run_listing gives them."""
    listing = run_listing(repo, workspace)
    flats = [listing.digests, *(digests for digests, _slow in listing.directories.values())]
    return [flat[i] for flat in flats for i in range(0, len(flat), RECORD)], listing.all_slow()


def rows_from_logs(root: Path) -> list[dict[str, object]]:
    """`run list` as the code before summaries computed it: every run from its log."""
    capsule = Stores(GitRepo.discover(root)).capsule
    assert capsule is not None
    rows = [dict(_row_of_log(capsule, summary)) for summary in capsule.run_summaries()]
    rows.sort(key=lambda row: (row["started_at"], row["run_id"]), reverse=True)  # type: ignore[arg-type]
    return rows


def same_directory_ids(count: int) -> list[str]:
    """Run ids whose runs share one `<h2>` directory of one shard."""
    wanted, found, n = None, [], 0
    while len(found) < count:
        run_id = f"run-summary-{n}"
        key = layout.run_ref("default", run_id), layout.run_path(run_id)[0]
        wanted = wanted or key
        if key == wanted:
            found.append(run_id)
        n += 1
    return found


def test_appends_keep_the_summary_fresh(policy_repo: Path) -> None:
    repo = GitRepo.discover(policy_repo)
    ids = same_directory_ids(3)
    for n, run_id in enumerate(ids):
        run = start_run(repo, run_id)
        if n:
            run.stage("plan")
        if n == 2:
            run.checkpoint("half")
            run.stage("implement")
            run.checkpoint("done")
    digests, slow = run_digests(repo, "default")
    assert slow == [] and sorted(digests) == sorted(ids)
    assert [dict(r) for r in list_runs(repo)] == rows_from_logs(policy_repo)
    stages = {row["run_id"]: row["stage"] for row in list_runs(repo)}
    assert stages == {ids[0]: None, ids[1]: "plan", ids[2]: "implement"}


def test_a_summary_left_stale_is_not_trusted_and_the_next_append_repairs_it(
    policy_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = GitRepo.discover(policy_repo)
    first, second, third = same_directory_ids(3)
    start_run(repo, first)
    start_run(repo, second)
    # A version that does not write summaries appends: the summary no longer covers.
    with monkeypatch.context() as patch:
        patch.setattr(Capsule, "_summarized", lambda self, old, new, *rest: new)
        open_run(repo, first).stage("plan")
        start_run(repo, third)
    digests, slow = run_digests(repo, "default")
    assert sorted(slow) == sorted([first, third])  # second's entry still matches its tree
    assert digests == [second]
    assert [dict(r) for r in list_runs(repo)] == rows_from_logs(policy_repo)
    # The next append in that directory writes a summary covering every run again.
    open_run(repo, second).checkpoint("again")
    digests, slow = run_digests(repo, "default")
    assert slow == [] and len(digests) == 3
    assert [dict(r) for r in list_runs(repo)] == rows_from_logs(policy_repo)


def test_a_summary_that_lies_under_other_trees_is_ignored(policy_repo: Path) -> None:
    repo = GitRepo.discover(policy_repo)
    run_id = same_directory_ids(1)[0]
    start_run(repo, run_id).stage("plan")
    capsule = Stores(repo).capsule
    assert capsule is not None
    top = layout.run_path(run_id).split("/")[0]
    ref = layout.run_ref("default", run_id)
    from speckit_git_policy.store.capsule.objects import BLOB_MODE, TreeEdit, ref_bytes

    def compute(old: bytes | None) -> bytes:
        root = capsule._tree_of(old)
        bogus = {
            "covers": {"0": "0" * 40},
            "runs": {
                run_id: {
                    "tree": "0" * 40,
                    "digest": {
                        "events": 99,
                        "first_timestamp": "x",
                        "first_policy_id": None,
                        "last_timestamp": "y",
                        "last_policy_id": None,
                        "stage": "bogus",
                    },
                }
            },
        }
        edit = TreeEdit()
        edit.put(
            f"{top}/{runsummary.SUMMARY_NAME}",
            (BLOB_MODE, capsule.io.write_blob(runsummary.encode(bogus))),
        )
        return capsule._commit(edit.apply(capsule.io, root), [old], "bogus summary")

    capsule.refs.update(ref_bytes(ref), compute)
    rows = list_runs(repo)
    assert rows[0]["events"] == 2 and rows[0]["stage"] == "plan"
    assert [dict(r) for r in rows] == rows_from_logs(policy_repo)


def test_pull_merges_leave_run_list_exact(
    tmp_path: Path, policy_repo: Path, bare_remote: Path
) -> None:
    """Two clones append to runs of one directory and pull: the merged summary (either
    side's blob) is stale, and run list still agrees with the logs."""
    from conftest import git

    from speckit_git_policy.store.capsule.sync import pull, push

    repo = GitRepo.discover(policy_repo)
    a, b = same_directory_ids(2)
    start_run(repo, a)
    git(policy_repo, "remote", "add", "origin", str(bare_remote))
    git(policy_repo, "push", "-q", "origin", "HEAD:main")
    push(repo, "origin")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(bare_remote), str(clone))
    other = GitRepo.discover(clone)
    pull(other, "origin")
    open_run(other, a).stage("plan")
    start_run(other, b)
    push(other, "origin")
    open_run(repo, a).checkpoint("mine")
    pull(repo, "origin")
    assert [dict(r) for r in list_runs(repo)] == rows_from_logs(policy_repo)
    assert {r["run_id"]: r["events"] for r in list_runs(repo)} == {a: 3, b: 1}


def test_summaries_in_a_sha256_repository(tmp_path: Path) -> None:
    from conftest import git, write_policy_sources

    root = tmp_path / "sha256"
    git(tmp_path, "init", "-q", "--object-format=sha256", str(root))
    write_policy_sources(root)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "policy")
    repo = GitRepo.discover(root)
    for run_id in same_directory_ids(2):
        start_run(repo, run_id).stage("plan")
    digests, slow = run_digests(repo, "default")
    assert slow == [] and len(digests) == 2
    assert [dict(r) for r in list_runs(repo)] == rows_from_logs(root)


def test_a_remote_summary_that_lies_under_matching_trees_is_never_taken(
    tmp_path: Path, policy_repo: Path, bare_remote: Path
) -> None:
    """A remote writes a summary whose tree ids match its runs but whose digests lie
    (99 events, a made-up stage): a pull keeps it out, and run list still says what the
    logs say."""
    from conftest import git

    from speckit_git_policy.store.capsule.objects import BLOB_MODE, TreeEdit, ref_bytes
    from speckit_git_policy.store.capsule.sync import pull, push

    repo = GitRepo.discover(policy_repo)
    a, b = same_directory_ids(2)
    start_run(repo, a)
    git(policy_repo, "remote", "add", "origin", str(bare_remote))
    git(policy_repo, "push", "-q", "origin", "HEAD:main")
    push(repo, "origin")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(bare_remote), str(clone))
    other = GitRepo.discover(clone)
    pull(other, "origin")
    open_run(other, a).stage("plan")
    start_run(other, b)
    capsule = Stores(other).capsule
    assert capsule is not None
    top = layout.run_path(a).split("/")[0]
    ref = layout.run_ref("default", a)

    def compute(old: bytes | None) -> bytes:
        root = capsule._tree_of(old)
        entry = capsule.io.lookup(root, [top, runsummary.SUMMARY_NAME])
        assert entry is not None
        summary = runsummary.parse(capsule.io.blob_bytes(entry[1]))
        assert summary is not None
        for item in summary["runs"].values():
            item["digest"]["events"] = 99
            item["digest"]["stage"] = "forged"
        edit = TreeEdit()
        edit.put(
            f"{top}/{runsummary.SUMMARY_NAME}",
            (BLOB_MODE, capsule.io.write_blob(runsummary.encode(summary))),
        )
        return capsule._commit(edit.apply(capsule.io, root), [old], "lying summary")

    capsule.refs.update(ref_bytes(ref), compute)
    assert {r["run_id"]: r["events"] for r in list_runs(other)} == {a: 99, b: 99}  # it does lie
    push(other, "origin")
    pull(repo, "origin")
    assert {r["run_id"]: (r["events"], r["stage"]) for r in list_runs(repo)} == {
        a: (2, "plan"),
        b: (1, None),
    }
    assert [dict(r) for r in list_runs(repo)] == rows_from_logs(policy_repo)
