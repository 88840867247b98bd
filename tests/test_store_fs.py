"""The filesystem store: paths, canonical bytes, atomic writes, the exclude file,
the hash index and ordering."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import rfc8785
from conftest import git

from speckit_git_policy.capture import capture
from speckit_git_policy.errors import BadInput
from speckit_git_policy.git.repo import GitRepo
from speckit_git_policy.queries.snapshots import list_snapshots
from speckit_git_policy.snapshot import load_document
from speckit_git_policy.store import Stores
from speckit_git_policy.store.fs import FilesystemStore, atomic_write, ensure_excluded


@pytest.fixture
def fs_repo(policy_repo: Path) -> Path:
    git(policy_repo, "config", "speckit.capsule", "false")
    return policy_repo


def speckit_files(root: Path) -> list[str]:
    base = root / ".speckit"
    return sorted(str(p.relative_to(root)) for p in base.rglob("*") if p.is_file()) if base.exists() else []


def test_path_and_canonical_bytes(fs_repo: Path) -> None:
    result = capture(GitRepo.discover(fs_repo))
    path = fs_repo / ".speckit" / "policies" / f"snapshot-{result.policy_id}.json"
    assert result.path == f".speckit/policies/snapshot-{result.policy_id}.json"
    data = path.read_bytes()
    document = load_document(data, result.path)
    assert rfc8785.dumps(document) == data
    assert document["hash"] == result.hash
    created_at = document["created_at"]
    assert len(created_at) == len("2026-01-12T10:30:00.123456Z") and created_at[19] == "."
    assert created_at.endswith("Z") and created_at[20:26].isdigit()


def test_speckit_is_excluded_and_status_stays_clean(fs_repo: Path) -> None:
    capture(GitRepo.discover(fs_repo))
    assert "/.speckit/" in (fs_repo / ".git" / "info" / "exclude").read_text().splitlines()
    assert git(fs_repo, "status", "--porcelain", "--untracked-files=all") == ""
    exclude = fs_repo / ".git" / "info" / "exclude"
    before = exclude.read_bytes()
    ensure_excluded(fs_repo / ".git")
    assert exclude.read_bytes() == before  # idempotent


def test_exclude_file_without_trailing_newline(repo: Path) -> None:
    exclude = repo / ".git" / "info" / "exclude"
    exclude.write_text("*.log")
    ensure_excluded(repo / ".git")
    assert exclude.read_text() == "*.log\n/.speckit/\n"


def test_atomic_write_leaves_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "d" / "f.json"
    atomic_write(target, b"one")
    atomic_write(target, b"two")
    assert target.read_bytes() == b"two"
    assert os.listdir(target.parent) == ["f.json"]


def test_atomic_write_failure_cleans_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "f.json"
    target.write_bytes(b"old")

    def boom(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        atomic_write(target, b"new")
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["f.json"]


def test_reader_never_sees_a_partial_file(tmp_path: Path) -> None:
    target = tmp_path / "f.json"
    payloads = [bytes([65 + i]) * 200_000 for i in range(4)]
    atomic_write(target, payloads[0])
    stop = threading.Event()
    seen: set[bytes] = set()

    def reader() -> None:
        while not stop.is_set():
            seen.add(target.read_bytes())

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for i in range(40):
            atomic_write(target, payloads[i % 4])
    finally:
        stop.set()
        thread.join()
    assert seen <= set(payloads)


def test_path_for_refuses_non_ids(tmp_path: Path) -> None:
    store = FilesystemStore(tmp_path)
    for bad in ["../../etc/passwd", "", "x", "0B8F6D52-3F5E-4C8E-9D57-1A2B3C4D5E6F"]:
        with pytest.raises(BadInput, match="not a policy id"):
            store.path_for(bad)
    with pytest.raises(BadInput, match="not a sha256"):
        store.id_for_hash("../" + "a" * 61)


def test_lookup_by_hash_reads_one_snapshot(fs_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = GitRepo.discover(fs_repo)
    first = capture(repo)
    store = FilesystemStore(fs_repo)
    data = store.read(first.policy_id)
    assert data is not None
    # 200 other snapshots beside it; a lookup must not read them.
    for i in range(200):
        store.write(f"00000000-0000-4000-8000-{i:012d}", b"{}")
    reads: list[str] = []
    original = FilesystemStore.read

    def spy(self: FilesystemStore, policy_id: str) -> bytes | None:
        reads.append(policy_id)
        return original(self, policy_id)

    monkeypatch.setattr(FilesystemStore, "read", spy)
    again = capture(repo)
    assert (again.policy_id, again.created) == (first.policy_id, False)
    assert set(reads) == {first.policy_id}
    assert len(reads) <= 3


def test_list_is_newest_first_by_created_at_then_policy_id(fs_repo: Path) -> None:
    stores = Stores(GitRepo.discover(fs_repo))
    repo = GitRepo.discover(fs_repo)
    ids = []
    for i in range(3):
        (fs_repo / "model_policy.toml").write_text(
            (fs_repo / "model_policy.toml").read_text().replace(f"plan = {8000 + i}", f"plan = {8001 + i}")
        )
        ids.append(capture(repo).policy_id)
    rows = list_snapshots(stores)
    assert [r["policy_id"] for r in rows] == list(reversed(ids))
    stamps = [r["created_at"] for r in rows]
    assert stamps == sorted(stamps, reverse=True)
    # Equal created_at: policy_id decides, descending.
    for row in rows:
        path = fs_repo / ".speckit" / "policies" / f"snapshot-{row['policy_id']}.json"
        data = path.read_bytes().replace(row["created_at"].encode(), b"2026-01-01T00:00:00.000000Z")
        path.write_bytes(data)  # created_at is outside the hash
    rows = list_snapshots(stores)
    assert [r["policy_id"] for r in rows] == sorted(ids, reverse=True)


CONCURRENT = """
import sys
from speckit_git_policy.capture import capture
from speckit_git_policy.git.repo import GitRepo
result = capture(GitRepo.discover(sys.argv[1]))
print(result.policy_id, result.created)
"""


def test_concurrent_capture_of_the_same_content_yields_one_snapshot(fs_repo: Path) -> None:
    processes = [
        subprocess.Popen([sys.executable, "-c", CONCURRENT, str(fs_repo)], stdout=subprocess.PIPE, text=True)
        for _ in range(6)
    ]
    outputs = [p.communicate(timeout=60)[0].split() for p in processes]
    assert all(p.returncode == 0 for p in processes)
    ids = {out[0] for out in outputs}
    assert len(ids) == 1
    assert [out[1] for out in outputs].count("True") == 1
    (policy_id,) = ids
    assert os.listdir(fs_repo / ".speckit" / "policies") == [f"snapshot-{policy_id}.json"]
    assert not [n for n in os.listdir(fs_repo / ".speckit" / "index" / "by-hash") if n.startswith(".")]


@pytest.mark.parametrize("link", [".speckit", ".speckit/policies"])
def test_a_symlink_out_of_speckit_is_refused_and_nothing_is_written_there(
        fs_repo: Path, tmp_path: Path, link: str) -> None:
    # A cloned repository may carry a committed `.speckit` symlink: docs/DESIGN.md §10.
    outside = tmp_path / "outside"
    outside.mkdir()
    (fs_repo / link).parent.mkdir(parents=True, exist_ok=True)
    (fs_repo / link).symlink_to(outside)
    with pytest.raises(BadInput, match="symlink"):
        capture(GitRepo.discover(fs_repo))
    assert list(outside.rglob("*")) == []


def test_new_temp_file_is_private_new_and_unique(tmp_path: Path) -> None:
    from speckit_git_policy.fileio import new_temp_file

    made = [new_temp_file(tmp_path, ".x.", ".tmp") for _ in range(50)]
    for fd, path in made:
        os.close(fd)
        assert os.path.basename(path).startswith(".x.") and path.endswith(".tmp")
        assert os.stat(path).st_mode & 0o777 == 0o600
    assert len({path for _fd, path in made}) == 50
    atomic_write(tmp_path / "a" / "file", b"data")
    assert (tmp_path / "a" / "file").read_bytes() == b"data"
    assert os.listdir(tmp_path / "a") == ["file"]


def test_files_get_the_usual_mode_under_the_umask(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import os
    import stat

    from speckit_git_policy.store.fs import atomic_write

    old = os.umask(0o022)
    try:
        target = tmp_path / "exclude"
        atomic_write(target, b"/.speckit/\n")
        assert stat.S_IMODE(target.stat().st_mode) == 0o644
    finally:
        os.umask(old)
