"""push/pull of the capsule through bare remotes on disk, merging independent work."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import git
from test_capsule_support import capsule_at, event, fsck_clean, refs_under, snapshot, timestamp

from speckit_git_policy.errors import NotFound
from speckit_git_policy.git.repo import GitRepo
from speckit_git_policy.store.capsule import layout, sync
from speckit_git_policy.store.capsule.layout import REFSPEC
from speckit_git_policy.store.capsule.merge import merge_bindings


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


def events_of(path: Path, run_id: str) -> list[dict[str, object]]:
    return [json.loads(d) for d in capsule_at(path).run_events(run_id)]


def head(path: Path) -> str:
    return git(path, "rev-parse", "HEAD").strip()


def test_independent_work_merges_and_pushes_fast_forward(
    clones: tuple[Path, Path], bare_remote: Path
) -> None:
    a, b = clones
    ca, cb = capsule_at(a), capsule_at(b)
    snap_a, snap_b = snapshot("a"), snapshot("b")
    ca.put_snapshot(*snap_a)
    cb.put_snapshot(*snap_b)
    ca.add_binding(snap_a[0], head(a))
    for i in (0, 2, 4):  # the same run, appended on both sides, interleaved in time
        ca.append_event("shared", event("shared", f"a{i}", timestamp(i)))
    for i in (1, 3):
        cb.append_event("shared", event("shared", f"b{i}", timestamp(i)))
    ca.append_event("only-a", event("only-a", "x", timestamp(0)))
    cb.append_event("only-b", event("only-b", "y", timestamp(0)))

    sync.push(GitRepo.discover(a))
    pulled = sync.pull(GitRepo.discover(b))
    assert "merged" in pulled["refs"].values()  # type: ignore[union-attr]
    before_push = refs_under(b)
    pushed = sync.push(GitRepo.discover(b))
    assert refs_under(b) == before_push  # no further merge was needed: a fast-forward
    assert refs_under(bare_remote) == refs_under(b)
    assert all(status != "forced update" for status in pushed["refs"].values())  # type: ignore[union-attr]
    sync.pull(GitRepo.discover(a))
    assert refs_under(a) == refs_under(b)

    for path in (a, b):
        capsule = capsule_at(path)
        assert sorted(capsule.snapshot_ids()) == sorted([snap_a[0], snap_b[0]])
        assert capsule.get_snapshot(snap_b[0]) == snap_b[3]
        assert capsule.ids_for_hash(snap_a[1]) == [snap_a[0]]
        assert capsule.run_ids() == ["only-a", "only-b", "shared"]
        shared = events_of(path, "shared")
        assert [e["event_id"] for e in shared] == ["a0", "b1", "a2", "b3", "a4"]
        assert [e["seq"] for e in shared] == [0, 1, 2, 3, 4]
        assert capsule.policy_for_commit(head(a)) == snap_a[0]
        fsck_clean(path)
    fsck_clean(bare_remote)


def test_same_run_keeps_merging_after_renumbering(clones: tuple[Path, Path]) -> None:
    a, b = clones
    ca, cb = capsule_at(a), capsule_at(b)
    ca.append_event("run", event("run", "a0", timestamp(0)))
    sync.push(GitRepo.discover(a))
    sync.pull(GitRepo.discover(b))
    cb.append_event("run", event("run", "b2", timestamp(2)))
    ca.append_event("run", event("run", "a1", timestamp(1)))
    sync.push(GitRepo.discover(a))
    sync.push(GitRepo.discover(b))  # rejected first, so it pulls (merges) and retries
    sync.pull(GitRepo.discover(a))
    for path in (a, b):
        assert [(e["event_id"], e["seq"]) for e in events_of(path, "run")] == [
            ("a0", 0), ("a1", 1), ("b2", 2)]
    cb.append_event("run", event("run", "b3", timestamp(3)))  # seq continues after merge
    assert [e["seq"] for e in events_of(b, "run")] == [0, 1, 2, 3]


def test_same_run_merge_across_chunks(clones: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(layout, "EVENTS_PER_CHUNK", 3)
    a, b = clones
    ca, cb = capsule_at(a), capsule_at(b)
    for i in range(0, 10, 2):  # five events each side, interleaved in time
        ca.append_event("run", event("run", f"a{i}", timestamp(i)))
        cb.append_event("run", event("run", f"b{i + 1}", timestamp(i + 1)))
    sync.push(GitRepo.discover(a))
    sync.push(GitRepo.discover(b))  # merges a's log into b's, then pushes
    sync.pull(GitRepo.discover(a))
    expected = [f"{'a' if i % 2 == 0 else 'b'}{i}" for i in range(10)]
    for path in (a, b):
        merged = events_of(path, "run")
        assert [(e["event_id"], e["seq"]) for e in merged] == list(zip(expected, range(10)))
        assert capsule_at(path).run_length("run") == 10
        fsck_clean(path)
    assert cb.append_event("run", event("run", "b10", timestamp(10)))[0] == 10


def test_bindings_merge_by_union_and_follow_rewrites(clones: tuple[Path, Path]) -> None:
    a, b = clones
    first = head(a)
    snap = snapshot("shared")
    capsule_at(a).put_snapshot(*snap)
    capsule_at(a).add_binding(snap[0], first)
    sync.push(GitRepo.discover(a))
    sync.pull(GitRepo.discover(b))
    # a amends nothing but binds a new commit; b rewrites the first commit.
    git(a, "commit", "-q", "--allow-empty", "-m", "second")
    capsule_at(a).add_binding(snap[0], head(a))
    git(b, "commit", "-q", "--amend", "--allow-empty", "-m", "first, reworded")
    capsule_at(b).rewrite({first: head(b)})
    sync.push(GitRepo.discover(a))
    sync.push(GitRepo.discover(b))
    sync.pull(GitRepo.discover(a))
    expected = [(head(b), [first]), (head(a), [])]
    for path in (a, b):
        bindings = capsule_at(path).bindings(snap[0])
        assert [(x["commit"], x["rewritten_from"]) for x in bindings] == expected
        fsck_clean(path)


def test_merge_bindings_rule() -> None:
    ours = [{"commit": "c1", "rewritten_from": [], "bound_at": "1"},
            {"commit": "c2", "rewritten_from": [], "bound_at": "2"}]
    theirs = [{"commit": "n1", "rewritten_from": ["c1"], "bound_at": "1"},
              {"commit": "c3", "rewritten_from": [], "bound_at": "3"}]
    merged = merge_bindings(ours, theirs)
    assert [(m["commit"], m["rewritten_from"]) for m in merged] == [
        ("n1", ["c1"]), ("c2", []), ("c3", [])]
    assert merge_bindings(merged, ours) == merged


def test_remote_without_capsule_is_not_an_error(clones: tuple[Path, Path]) -> None:
    a, _ = clones
    assert sync.pull(GitRepo.discover(a)) == {"remote": "origin", "refs": {}}
    assert sync.push(GitRepo.discover(a)) == {"remote": "origin", "refs": {}}  # nothing to push
    assert not refs_under(a, "refs/speckit-pull/")


def test_plain_git_refspec_carries_the_capsule(clones: tuple[Path, Path], tmp_path: Path) -> None:
    a, _ = clones
    snap = snapshot("plain")
    capsule_at(a).put_snapshot(*snap)
    capsule_at(a).append_event("r", event("r", "e", timestamp(0)))
    git(a, "push", "-q", "origin", REFSPEC)
    fresh = tmp_path / "fresh"
    git(tmp_path, "clone", "-q", str(a / ".." / "remote.git"), str(fresh))
    git(fresh, "fetch", "-q", "origin", REFSPEC)
    assert capsule_at(fresh).get_snapshot(snap[0]) == snap[3]
    assert len(capsule_at(fresh).run_events("r")) == 1
    fsck_clean(fresh)


def test_remote_choice(clones: tuple[Path, Path], bare_remote: Path) -> None:
    a, _ = clones
    repo = GitRepo.discover(a)
    assert sync.resolve_remote(repo) == "origin"  # the branch's upstream
    assert sync.resolve_remote(repo, str(bare_remote)) == str(bare_remote)
    with pytest.raises(NotFound, match="remote"):
        sync.pull(repo, "nowhere")
    with pytest.raises(NotFound, match="remote"):
        sync.push(repo, "nowhere")
    git(a, "remote", "rename", "origin", "upstream")
    assert sync.resolve_remote(repo) == "upstream"
