"""queries/list_cache.py: ``list`` uses a kept row only where reading again gives the same
row; every change of an input (either copy, either binding store) is seen."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import git

from speckit_git_policy.capture import capture
from speckit_git_policy.cli import cli
from speckit_git_policy.git.repo import GitRepo
from speckit_git_policy.queries import list_cache
from speckit_git_policy.queries.snapshots import list_snapshots
from speckit_git_policy.store import Stores


@pytest.fixture
def settled(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every file counts as settled (changed long enough ago to be kept): the tests
    change files within a second of listing them."""
    monkeypatch.setattr(list_cache, "SETTLE_NS", -(10**18))


def _stores(root: Path) -> Stores:
    return Stores(GitRepo.discover(root))


def _listed(root: Path) -> list[dict[str, object]]:
    return list_snapshots(_stores(root))


def _uncached(root: Path) -> list[dict[str, object]]:
    """The listing as read from both copies, the cache left as it was."""
    path = Path(list_cache.cache_path(GitRepo.discover(root)))
    kept = path.read_bytes() if path.exists() else None
    path.unlink(missing_ok=True)
    try:
        return _listed(root)
    finally:
        if kept is not None:
            path.write_bytes(kept)
        else:
            path.unlink(missing_ok=True)


def _edit_policy(root: Path, n: int) -> None:
    path = root / "model_policy.toml"
    path.write_text(path.read_text().replace("warn_threshold = ", f"warn_threshold = {n}", 1))
    git(root, "commit", "-qam", f"edit {n}")


def _captured(root: Path, count: int) -> list[str]:
    ids = []
    for n in range(count):
        if n:
            _edit_policy(root, n)
        ids.append(capture(GitRepo.discover(root)).policy_id)
    return ids


def _reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The snapshot files the next listings read."""
    from speckit_git_policy.store.fs import FilesystemStore

    read: list[str] = []
    original = FilesystemStore.read

    def counted(self: FilesystemStore, policy_id: str) -> bytes | None:
        read.append(policy_id)
        return original(self, policy_id)

    monkeypatch.setattr(FilesystemStore, "read", counted)
    return read


def test_kept_rows_are_used_and_equal_a_fresh_read(
    policy_repo: Path, settled: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    _captured(policy_repo, 3)
    first = _listed(policy_repo)
    assert len(first) == 3 and Path(list_cache.cache_path(GitRepo.discover(policy_repo))).exists()
    read = _reads(monkeypatch)
    assert _listed(policy_repo) == first
    assert read == []  # every row kept
    assert _uncached(policy_repo) == first


def test_fresh_files_are_not_kept(policy_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (policy_id,) = _captured(policy_repo, 1)
    first = _listed(policy_repo)
    read = _reads(monkeypatch)
    assert _listed(policy_repo) == first
    assert read == [policy_id]  # changed a moment ago: read again, its row not kept


def test_a_capture_reads_only_the_new_snapshot(
    policy_repo: Path, settled: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    _captured(policy_repo, 2)
    _listed(policy_repo)
    _edit_policy(policy_repo, 7)
    new = capture(GitRepo.discover(policy_repo)).policy_id
    read = _reads(monkeypatch)
    listed = _listed(policy_repo)
    assert read == [new]
    assert [row["policy_id"] for row in listed][0] == new and len(listed) == 3
    assert listed == _uncached(policy_repo)


def test_every_changed_input_is_read_again(policy_repo: Path, settled: None) -> None:
    ids = _captured(policy_repo, 3)
    stores = _stores(policy_repo)
    _listed(policy_repo)

    # A binding in the filesystem log alone (made while the capsule was off), bound
    # before the one there: the row's commit changes.
    other = git(policy_repo, "rev-parse", "HEAD~1").strip()
    stores.fs.append_binding_op(
        ids[0], {"op": "bind", "commit": other, "bound_at": "2000-01-01T00:00:00.000000Z"}
    )
    listed = _listed(policy_repo)
    assert next(r for r in listed if r["policy_id"] == ids[0])["commit"] == other
    assert listed == _uncached(policy_repo)

    # A binding in the capsule alone: the policy ref moves.
    capsule = stores.capsule
    assert capsule is not None
    capsule.add_binding(ids[1], other, "1999-01-01T00:00:00.000000Z")
    listed = _listed(policy_repo)
    assert next(r for r in listed if r["policy_id"] == ids[1])["commit"] == other
    assert listed == _uncached(policy_repo)

    # The filesystem copy rewritten in place, same size: read again (then it does not parse).
    path = stores.fs.path_for(ids[2])
    data = path.read_bytes()
    with open(path, "r+b") as handle:
        handle.write(b"#" + data[1:])
    listed = _listed(policy_repo)
    assert ids[2] not in [r["policy_id"] for r in listed]
    assert listed == _uncached(policy_repo)

    # The filesystem copy removed: the capsule's copy is listed.
    path.unlink()
    listed = _listed(policy_repo)
    assert ids[2] in [r["policy_id"] for r in listed]
    assert listed == _uncached(policy_repo)

    # Every binding log gone: the capsule's bindings alone.
    for log in Path(stores.fs.binding_logs).iterdir():  # the store holds str paths
        log.unlink()
    listed = _listed(policy_repo)
    assert listed == _uncached(policy_repo)


def test_capsule_off_and_on(policy_repo: Path, settled: None) -> None:
    _captured(policy_repo, 2)
    on = _listed(policy_repo)
    git(policy_repo, "config", "speckit.capsule", "false")
    assert _listed(policy_repo) == on == _uncached(policy_repo)  # the copies agree
    (policy_repo / ".speckit" / "policies").rename(policy_repo / "moved")
    assert _listed(policy_repo) == []
    git(policy_repo, "config", "speckit.capsule", "true")
    assert _listed(policy_repo) == on


def test_notes_are_said_again_from_kept_rows(policy_repo: Path, settled: None) -> None:
    """A bindings blob that does not parse is skipped with a warning, every time."""
    from speckit_git_policy.store.capsule.layout import binding_path

    (policy_id,) = _captured(policy_repo, 1)
    ref = "refs/speckit/default/policy"
    garbage = _write_blob(policy_repo, b"not json")
    index = policy_repo / ".git" / "speckit-test-index"
    env = {**os.environ, "GIT_INDEX_FILE": str(index)}
    git(policy_repo, "read-tree", ref, env=env)
    git(
        policy_repo,
        "update-index",
        "--cacheinfo",
        f"100644,{garbage},{binding_path(policy_id)}",
        env=env,
    )
    tree = git(policy_repo, "write-tree", env=env).strip()
    commit = git(policy_repo, "commit-tree", tree, "-p", ref, "-m", "garbage bindings").strip()
    git(policy_repo, "update-ref", ref, commit)
    for _ in range(2):
        result = CliRunner().invoke(cli, ["-C", str(policy_repo), "list", "--json"])
        assert result.exit_code == 0
        assert "bindings skipped: bindings are not valid JSON" in result.stderr
        assert [row["policy_id"] for row in json.loads(result.stdout)] == [policy_id]


def _write_blob(root: Path, data: bytes) -> str:
    import subprocess

    return (
        subprocess.run(
            ["git", "hash-object", "-w", "--stdin"],
            cwd=root,
            input=data,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .strip()
    )


@pytest.mark.parametrize(
    "kept",
    [
        b"",
        b"not json",
        b"[]",
        b'{"format": 1}',
        b'{"format": 1, "entries": {"x": 5}}',
    ],
)
def test_a_cache_that_does_not_read_back_is_rebuilt(
    policy_repo: Path, settled: None, kept: bytes
) -> None:
    _captured(policy_repo, 2)
    expected = _listed(policy_repo)
    path = Path(list_cache.cache_path(GitRepo.discover(policy_repo)))
    path.write_bytes(kept)
    assert _listed(policy_repo) == expected
    assert json.loads(path.read_bytes())["entries"]


def test_entries_of_other_code_are_not_used(
    policy_repo: Path, settled: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    _captured(policy_repo, 1)
    _listed(policy_repo)
    monkeypatch.setattr(list_cache, "_code", lambda: ["another version"])
    read = _reads(monkeypatch)
    _listed(policy_repo)
    assert len(read) == 1


def test_a_repository_that_refuses_the_write_lists_without_it(
    policy_repo: Path, settled: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    import speckit_git_policy.fileio as fileio

    _captured(policy_repo, 2)
    expected = _uncached(policy_repo)

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(fileio, "atomic_write", refuse)
    assert _listed(policy_repo) == expected
    assert not Path(list_cache.cache_path(GitRepo.discover(policy_repo))).exists()


def test_linked_worktrees_keep_their_own(policy_repo: Path, settled: None, tmp_path: Path) -> None:
    _captured(policy_repo, 1)
    other = tmp_path / "other"
    git(policy_repo, "worktree", "add", "-q", str(other))
    assert _listed(policy_repo)
    assert _listed(other) == _uncached(other)  # no filesystem copies there: the capsule's
    assert list_cache.cache_path(GitRepo.discover(other)) != list_cache.cache_path(
        GitRepo.discover(policy_repo)
    )


# ---- run list ----------------------------------------------------------------------------
def _run_rows_from_logs(root: Path) -> list[dict[str, object]]:
    from speckit_git_policy.runs.listing import _row_of_log

    capsule = _stores(root).capsule
    assert capsule is not None
    rows = [dict(_row_of_log(capsule, summary)) for summary in capsule.run_summaries()]  # type: ignore[arg-type]
    rows.sort(key=lambda row: (row["started_at"], row["run_id"]), reverse=True)  # type: ignore[arg-type]
    return rows


def _objects_read(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names the next listings ask cat-file for."""
    from speckit_git_policy.git.batch import ObjectReader

    asked: list[str] = []
    original = ObjectReader.read

    def read(self: ObjectReader, names: object, max_size: int | None = None) -> object:
        wanted = list(names)  # type: ignore[call-overload]
        asked.extend(wanted)
        return original(self, wanted, max_size)

    monkeypatch.setattr(ObjectReader, "read", read)
    return asked


def test_run_list_reads_only_directories_whose_tree_changed(
    policy_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from speckit_git_policy.runs.listing import list_runs
    from speckit_git_policy.runs.run import open_run, start_run

    repo = GitRepo.discover(policy_repo)
    ids = [f"run-kept-{n}" for n in range(6)]
    for run_id in ids:
        start_run(repo, run_id).stage("plan")
    first = [dict(row) for row in list_runs(repo)]
    assert first == _run_rows_from_logs(policy_repo)
    kept = Path(repo.common_dir) / "speckit" / "run-list" / "default"
    assert sorted(path.name for path in kept.iterdir())

    asked = _objects_read(monkeypatch)
    assert [dict(row) for row in list_runs(repo)] == first
    assert all(name.endswith("^{tree}") for name in asked)  # the shard roots alone

    open_run(repo, ids[0]).checkpoint("again")
    asked.clear()
    rows = [dict(row) for row in list_runs(repo)]
    assert rows == _run_rows_from_logs(policy_repo) and rows != first
    read = [name for name in asked if not name.endswith("^{tree}")]
    assert len(read) == 2  # its directory's tree, then its summary


@pytest.mark.parametrize("kept", [b"", b"{", b'{"format": 1, "directories": {"x": [[1], []]}}'])
def test_a_run_list_cache_that_does_not_read_back_is_ignored(
    policy_repo: Path, kept: bytes
) -> None:
    from speckit_git_policy.runs.listing import list_runs
    from speckit_git_policy.runs.run import start_run

    repo = GitRepo.discover(policy_repo)
    for n in range(3):
        start_run(repo, f"run-torn-{n}")
    expected = [dict(row) for row in list_runs(repo)]
    directory = Path(repo.common_dir) / "speckit" / "run-list" / "default"
    for path in directory.iterdir():
        path.write_bytes(kept)
    assert [dict(row) for row in list_runs(repo)] == expected == _run_rows_from_logs(policy_repo)


def test_run_list_entries_of_a_wrong_shape_are_not_used(policy_repo: Path) -> None:
    from speckit_git_policy.runs.listing import list_runs
    from speckit_git_policy.runs.run import start_run

    repo = GitRepo.discover(policy_repo)
    start_run(repo, "run-shape-0")
    expected = [dict(row) for row in list_runs(repo)]
    directory = Path(repo.common_dir) / "speckit" / "run-list" / "default"
    (path,) = directory.iterdir()
    kept = json.loads(path.read_bytes())
    for key in kept["directories"]:
        kept["directories"][key] = [[5, 1, 2], []]  # not whole records, not a run id
    path.write_text(json.dumps(kept))
    assert [dict(row) for row in list_runs(repo)] == expected
