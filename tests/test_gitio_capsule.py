"""GitRepo.dulwich(): the capsule's objects, refs and identity without a dulwich Repo."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import pytest
from conftest import git
from dulwich.objects import Blob, Commit, ObjectID
from dulwich.repo import Repo

from speckit_git_policy.git.repo import GitRepo
from speckit_git_policy.ids import is_policy_id, new_policy_id
from speckit_git_policy.store.capsule.objects import ObjectIO, capsule_repo, commit_identity


def test_objects_read_alike_loose_and_packed_as_a_dulwich_repo_reads_them(policy_repo: Path) -> None:
    repo = GitRepo.discover(policy_repo)
    io = ObjectIO(capsule_repo(repo))
    blob_id = io.write_blob(b"a capsule blob\n")
    loose = io.blob_bytes(blob_id)
    assert not io.store.contains_packed(blob_id)
    git(policy_repo, "update-ref", "refs/speckit/test", git(policy_repo, "rev-parse", "HEAD").strip())
    git(policy_repo, "tag", "keep", blob_id.decode())
    git(policy_repo, "gc", "-q", "--prune=now")
    assert not (policy_repo / ".git" / "objects" / blob_id[:2].decode() / blob_id[2:].decode()).exists()
    fresh = ObjectIO(capsule_repo(GitRepo.discover(policy_repo)))
    assert fresh.store.contains_packed(blob_id)
    assert fresh.blob_bytes(blob_id) == loose == b"a capsule blob\n"
    reference = Repo(str(policy_repo / ".git")).object_store[ObjectID(blob_id)]
    assert isinstance(reference, Blob) and reference.as_raw_string() == loose
    head = git(policy_repo, "rev-parse", "HEAD").strip().encode()
    reference_commit = Repo(str(policy_repo / ".git")).object_store[ObjectID(head)]
    assert isinstance(reference_commit, Commit) and fresh.commit(head).tree == reference_commit.tree


def test_identity_is_gits_user_config(policy_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    git(policy_repo, "config", "user.name", "Ada <Lovelace>")
    git(policy_repo, "config", "user.email", "ada@example.org")
    monkeypatch.delenv("GIT_COMMITTER_NAME", raising=False)
    monkeypatch.delenv("GIT_COMMITTER_EMAIL", raising=False)
    repo = GitRepo.discover(policy_repo)
    assert commit_identity(capsule_repo(repo)) == b"Ada Lovelace <ada@example.org>"
    assert commit_identity(capsule_repo(repo)) == commit_identity(Repo(str(policy_repo / ".git")))  # type: ignore[arg-type]


def test_the_hook_path_imports_no_dulwich_repo(policy_repo: Path) -> None:
    import subprocess

    code = (
        "import sys\n"
        "from speckit_git_policy.git.repo import GitRepo\n"
        "from speckit_git_policy.store.capsule.objects import ObjectIO, RefUpdater, capsule_repo, commit_identity\n"
        f"repo = capsule_repo(GitRepo.discover({str(policy_repo)!r}))\n"
        "io = ObjectIO(repo); b = io.write_blob(b'x'); io.blob_bytes(b)\n"
        "RefUpdater(repo).update(b'refs/speckit/probe', lambda old: io.write_commit(io.write_tree({}), [], 'm', commit_identity(repo)))\n"
        "print(sorted(m for m in sys.modules if m in ('dulwich.repo', 'dulwich.object_store', 'dulwich.config')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    assert git(policy_repo, "cat-file", "-t", "refs/speckit/probe").strip() == "commit"


def test_new_policy_ids_are_version_4_uuids() -> None:
    ids = {new_policy_id() for _ in range(500)}
    assert len(ids) == 500
    for value in ids:
        parsed = uuid.UUID(value)
        assert is_policy_id(value) and str(parsed) == value
        assert (parsed.version, parsed.variant) == (4, uuid.RFC_4122)
