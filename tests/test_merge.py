"""store/capsule/merge.py through push and pull of two clones: the rules for paths both
sides wrote differently (bindings, a run's log, anything else) executed and checked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import git
from test_capsule_support import capsule_at, event, fsck_clean, refs_under, snapshot, timestamp

from speckit_git_policy.canonical import canonical_bytes
from speckit_git_policy.git.repo import GitRepo
from speckit_git_policy.store.bindings import known_commits
from speckit_git_policy.store.capsule import layout, sync
from speckit_git_policy.store.capsule.merge import union_trees
from speckit_git_policy.store.capsule.objects import BLOB_MODE, TREE_MODE, ObjectIO, capsule_repo


@pytest.fixture
def clones(tmp_path: Path, bare_remote: Path) -> tuple[Path, Path]:
    """Two clones of one remote that share a first commit."""
    a = tmp_path / "a"
    git(tmp_path, "init", "-q", str(a))
    git(a, "commit", "-q", "--allow-empty", "-m", "first")
    git(a, "remote", "add", "origin", str(bare_remote))
    git(a, "push", "-q", "-u", "origin", "main")
    git(tmp_path, "clone", "-q", str(bare_remote), str(tmp_path / "b"))
    return a, tmp_path / "b"


def head(path: Path) -> str:
    return git(path, "rev-parse", "HEAD").strip()


def sync_both(a: Path, b: Path) -> None:
    """a pushes, b pushes (merging a's work first), both pull: both hold the same capsule."""
    sync.push(GitRepo.discover(a))
    sync.push(GitRepo.discover(b))
    sync.pull(GitRepo.discover(a))
    sync.pull(GitRepo.discover(b))
    assert refs_under(a) == refs_under(b)


def bindings_of(path: Path, policy_id: str) -> dict[str, set[str]]:
    return {x["commit"]: set(x["rewritten_from"]) for x in capsule_at(path).bindings(policy_id)}


# ---- a snapshot both sides hold differently: the copy that verifies -----------------------
def test_a_snapshot_repaired_on_one_side_settles_on_the_copy_that_verifies(clones: tuple[Path, Path]) -> None:
    a, b = clones
    policy_id, digest, created_at, good = snapshot("repaired")
    bad = good.replace(b"model-repaired", b"model-tampered")  # same id and hash field: fails its hash
    capsule_at(a).put_snapshot(policy_id, digest, created_at, bad)
    sync.push(GitRepo.discover(a))
    sync.pull(GitRepo.discover(b))
    # b repairs its copy (what `verify --repair` does from a verified FS copy); a does not,
    # and stores another snapshot: the two histories diverge, so the sync merges them.
    capsule_at(b).put_snapshot(policy_id, digest, created_at, good)
    other = snapshot("other")
    capsule_at(a).put_snapshot(*other)
    assert capsule_at(b).get_snapshot(policy_id) == good
    assert capsule_at(a).get_snapshot(policy_id) == bad

    sync.push(GitRepo.discover(a))
    pulled = sync.pull(GitRepo.discover(b))
    assert pulled["refs"] == {layout.policy_ref("default"): "merged"}
    sync_both(a, b)
    blobs = {capsule_at(path).resolve(capsule_at(path).policy_uri(policy_id))["object"] for path in (a, b)}
    assert len(blobs) == 1  # both clones hold the same blob
    [chosen] = blobs
    io = ObjectIO(capsule_repo(GitRepo.discover(a)))
    assert chosen == io.write_blob(good).decode()  # a copy that fails its hash never wins
    for path in (a, b):
        assert capsule_at(path).get_snapshot(other[0]) == other[3]  # the rest is united
    for path in (a, b):
        fsck_clean(path)


def test_union_of_trees_takes_the_smaller_blob_for_any_other_path(repo: Path) -> None:
    io = ObjectIO(capsule_repo(GitRepo.discover(repo)))
    one, two = io.write_blob(b"one"), io.write_blob(b"two")
    shared = io.write_blob(b"shared")

    def tree(blob: bytes) -> bytes:
        inner = io.write_tree({"x.json": (BLOB_MODE, blob), "same": (BLOB_MODE, shared)})
        return io.write_tree({"dir": (TREE_MODE, inner)})

    def no_rule(path: tuple[str, ...], ours: object, theirs: object) -> None:
        return None

    for ours, theirs in ((one, two), (two, one)):
        merged = union_trees(io, tree(ours), tree(theirs), (), no_rule)
        assert io.lookup(merged, ["dir", "x.json"]) == (BLOB_MODE, min(one, two))
        assert io.lookup(merged, ["dir", "same"]) == (BLOB_MODE, shared)


# ---- bindings: rewritten_from united across clones -------------------------------------------
def test_each_clone_amending_keeps_every_old_sha(clones: tuple[Path, Path]) -> None:
    a, b = clones
    first = head(a)
    policy_id, *rest = snapshot("amends")
    capsule_at(a).put_snapshot(policy_id, *rest)
    capsule_at(a).add_binding(policy_id, first)
    git(a, "commit", "-q", "--allow-empty", "-m", "second")
    second = head(a)
    capsule_at(a).add_binding(policy_id, second)
    sync.push(GitRepo.discover(a))
    sync.pull(GitRepo.discover(b))
    git(b, "fetch", "-q", "origin")
    git(b, "reset", "-q", "--hard", second)

    # a amends the second commit; b amends the first one (a different binding) and then
    # also the second one, into a commit of its own.
    git(a, "commit", "-q", "--amend", "--allow-empty", "-m", "second, by a")
    by_a = head(a)
    capsule_at(a).rewrite({second: by_a})
    git(b, "checkout", "-q", "-b", "other", first)
    git(b, "commit", "-q", "--amend", "--allow-empty", "-m", "first, by b")
    first_by_b = head(b)
    git(b, "checkout", "-q", "main")
    git(b, "commit", "-q", "--amend", "--allow-empty", "-m", "second, by b")
    by_b = head(b)
    capsule_at(b).rewrite({first: first_by_b, second: by_b})

    sync_both(a, b)
    expected = {by_a: {second}, first_by_b: {first}, by_b: {second}}
    for path in (a, b):
        assert bindings_of(path, policy_id) == expected
        assert known_commits(capsule_at(path).bindings(policy_id)) == {first, second, by_a, first_by_b, by_b}
        for old in (first, second):
            assert capsule_at(path).policy_for_commit(old) == policy_id
        fsck_clean(path)


def test_two_clones_rewriting_into_the_same_commit_unite_rewritten_from(clones: tuple[Path, Path]) -> None:
    a, b = clones
    first = head(a)
    policy_id, *rest = snapshot("squash")
    capsule_at(a).put_snapshot(policy_id, *rest)
    sync.push(GitRepo.discover(a))
    sync.pull(GitRepo.discover(b))
    git(a, "commit", "-q", "--allow-empty", "-m", "a's work")
    on_a = head(a)
    capsule_at(a).add_binding(policy_id, on_a)
    git(b, "commit", "-q", "--allow-empty", "-m", "b's work")
    on_b = head(b)
    capsule_at(b).add_binding(policy_id, on_b)
    # One commit both sides end on (e.g. the squash of both pieces of work, fetched by b).
    git(a, "reset", "-q", "--hard", first)
    git(a, "commit", "-q", "--allow-empty", "-m", "squashed")
    squashed = head(a)
    git(a, "push", "-q", "origin", f"{squashed}:refs/heads/squashed")
    git(b, "fetch", "-q", "origin", "squashed")
    capsule_at(a).rewrite({on_a: squashed})
    capsule_at(b).rewrite({on_b: squashed})

    sync_both(a, b)
    for path in (a, b):
        [only] = capsule_at(path).bindings(policy_id)
        assert only["commit"] == squashed
        assert sorted(only["rewritten_from"]) == sorted([on_a, on_b])
        assert capsule_at(path).policy_for_commit(on_b) == policy_id
        fsck_clean(path)
    assert capsule_at(a).bindings(policy_id) == capsule_at(b).bindings(policy_id)


# ---- a run appended on both sides: timestamp ties ---------------------------------------------
def test_events_with_the_same_timestamp_are_ordered_by_event_id(clones: tuple[Path, Path]) -> None:
    a, b = clones
    capsule_at(a).append_event("tied", event("tied", "m-start", timestamp(0)))
    sync.push(GitRepo.discover(a))
    sync.pull(GitRepo.discover(b))
    # Two ties, each side winning one by event_id, whichever side the merge calls ours.
    capsule_at(a).append_event("tied", event("tied", "a5", timestamp(5)))
    capsule_at(b).append_event("tied", event("tied", "z5", timestamp(5)))
    capsule_at(a).append_event("tied", event("tied", "z6", timestamp(6)))
    capsule_at(b).append_event("tied", event("tied", "a6", timestamp(6)))

    sync_both(a, b)
    for path in (a, b):
        raw = capsule_at(path).run_events("tied")
        events = [json.loads(data) for data in raw]
        assert [(e["event_id"], e["seq"]) for e in events] == [
            ("m-start", 0), ("a5", 1), ("z5", 2), ("a6", 3), ("z6", 4)]
        assert all(data == canonical_bytes(json.loads(data)) for data in raw)
        fsck_clean(path)
    assert capsule_at(b).append_event("tied", event("tied", "next", timestamp(7)))[0] == 5

