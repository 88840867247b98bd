"""Capsule store, checked with the real git binary as an independent reader."""

from __future__ import annotations

import os
import re
import threading
import time
from pathlib import Path

import pytest
from conftest import git
from test_capsule_support import (
    capsule_at,
    cat_file,
    event,
    fsck_clean,
    refs_under,
    run,
    snapshot,
    timestamp,
)

from speckit_git_policy.errors import BadInput, NotFound, StaleLock
from speckit_git_policy.git.repo import GitRepo
from speckit_git_policy.store.capsule import layout
from speckit_git_policy.store.capsule import objects as capsule_git
from speckit_git_policy.store.capsule.capsule import Capsule
from speckit_git_policy.store.capsule.layout import run_ref


@pytest.fixture(params=["sha1", "sha256"])
def repo(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """An empty repository of each object format: the capsule writes objects in the
    repository's own format (docs/DESIGN.md §4), so every test runs on both."""
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", f"--object-format={request.param}")
    return root


@pytest.fixture
def committed(repo: Path) -> Path:
    git(repo, "commit", "-q", "--allow-empty", "-m", "first")
    return repo


def head(path: Path) -> str:
    return git(path, "rev-parse", "HEAD").strip()


def gc_now(path: Path) -> None:
    git(path, "reflog", "expire", "--expire=now", "--all")
    git(path, "gc", "-q", "--prune=now")


# ---- snapshots ---------------------------------------------------------------------------
def test_put_get_byte_identical_and_readable_by_git(repo: Path) -> None:
    capsule = capsule_at(repo)
    policy_id, digest, created_at, data = snapshot("a")
    blob = capsule.put_snapshot(policy_id, digest, created_at, data)

    assert capsule.get_snapshot(policy_id) == data
    assert cat_file(repo, blob) == data
    resolved = capsule.resolve(capsule.policy_uri(policy_id))
    assert resolved["object"] == blob
    assert resolved["ref"] in refs_under(repo)
    assert cat_file(repo, f"{resolved['ref']}:{resolved['path']}") == data
    fsck_clean(repo)


def test_put_is_idempotent(repo: Path) -> None:
    capsule = capsule_at(repo)
    policy_id, digest, created_at, data = snapshot("a")
    first = capsule.put_snapshot(policy_id, digest, created_at, data)
    tip = refs_under(repo)["refs/speckit/default/policy"]
    assert capsule.put_snapshot(policy_id, digest, created_at, data) == first
    assert refs_under(repo)["refs/speckit/default/policy"] == tip


def test_hash_index_oldest_first_and_prefixes(repo: Path) -> None:
    capsule = capsule_at(repo)
    newer = snapshot("same", "2026-01-12T10:30:00.000002Z")
    older = snapshot("same", "2026-01-12T10:30:00.000001Z")
    other = snapshot("other")
    for snap in (newer, older, other):
        capsule.put_snapshot(*snap)

    assert newer[1] == older[1]
    assert capsule.ids_for_hash(newer[1]) == [older[0], newer[0]]
    assert capsule.ids_for_hash("f" * 64) == []
    assert capsule.snapshot_ids() == sorted([newer[0], older[0], other[0]])
    assert capsule.ids_with_prefix(other[0][:5]) == [other[0]]
    assert capsule.ids_with_prefix(other[0][:1]) == sorted(
        i for i in capsule.snapshot_ids() if i.startswith(other[0][:1]))
    assert {(i, b) for i, _, b in capsule.iter_snapshot_blobs()} == {
        (s[0], s[3]) for s in (newer, older, other)}


def test_put_refuses_mismatched_or_changed_snapshots(repo: Path) -> None:
    capsule = capsule_at(repo)
    policy_id, digest, created_at, data = snapshot("a")
    with pytest.raises(BadInput, match="hash"):
        capsule.put_snapshot(policy_id, "0" * 64, created_at, data)
    with pytest.raises(BadInput, match="not a policy id"):
        capsule.put_snapshot("not-a-uuid", digest, created_at, data)
    capsule.put_snapshot(policy_id, digest, created_at, data)
    _, other_hash, _, other = snapshot("b", policy_id=policy_id)
    with pytest.raises(BadInput, match="immutable"):
        capsule.put_snapshot(policy_id, other_hash, created_at, other)
    assert capsule.get_snapshot(policy_id) == data


def test_corrupted_copy_is_replaced_and_reindexed(repo: Path) -> None:
    capsule = capsule_at(repo)
    policy_id, digest, created_at, good = snapshot("a")
    wrong_hash = "e" * 64
    corrupt = good.replace(digest.encode(), wrong_hash.encode())
    capsule.put_snapshot(policy_id, wrong_hash, created_at, corrupt)

    capsule.put_snapshot(policy_id, digest, created_at, good)  # what verify --repair does
    assert capsule.get_snapshot(policy_id) == good
    assert capsule.ids_for_hash(digest) == [policy_id]
    assert capsule.ids_for_hash(wrong_hash) == []
    fsck_clean(repo)


# ---- bindings ------------------------------------------------------------------------------
def test_bindings_and_commit_index(committed: Path) -> None:
    capsule = capsule_at(committed)
    policy_id, *rest = snapshot("a")
    capsule.put_snapshot(policy_id, *rest)
    first = head(committed)
    git(committed, "commit", "-q", "--allow-empty", "-m", "second")
    second = head(committed)

    assert capsule.add_binding(policy_id, first) is True
    assert capsule.add_binding(policy_id, first) is False
    assert capsule.add_binding(policy_id, second) is True
    assert [b["commit"] for b in capsule.bindings(policy_id)] == [first, second]
    assert all(b["rewritten_from"] == [] and b["bound_at"].endswith("Z")
               for b in capsule.bindings(policy_id))
    assert capsule.policy_for_commit(second) == policy_id
    assert capsule.policy_for_commit("a" * 40) is None
    assert capsule.all_bindings() == {policy_id: capsule.bindings(policy_id)}

    with pytest.raises(NotFound, match="no such commit"):
        capsule.add_binding(policy_id, "b" * 40)  # no such commit
    with pytest.raises(NotFound, match="not in the capsule"):
        capsule.add_binding(snapshot("x")[0], first)  # no such snapshot
    with pytest.raises(BadInput, match="not a full commit SHA"):
        capsule.add_binding(policy_id, "HEAD")
    fsck_clean(committed)


def crafted_id(prefix: str, n: int) -> str:
    """A valid uuid4 that starts with ``prefix`` (hex digits, at most 8)."""
    return f"{prefix}{'0' * (8 - len(prefix))}-0000-4000-8000-{n:012x}"


def test_policy_tree_fans_out_by_hex_digits(committed: Path) -> None:
    capsule = capsule_at(committed)
    prefixes = ["a", "a1", "ab", "abc", "abc", "abcd", "abd", "b", "f0f"]
    ids = [crafted_id(p, n) for n, p in enumerate(prefixes)]
    for n, policy_id in enumerate(ids):
        capsule.put_snapshot(*snapshot(f"s{n}", policy_id=policy_id))
    commit = head(committed)
    capsule.add_binding(ids[3], commit)

    # Read back by git: every name sits under one directory per fan-out digit.
    ref = capsule.policy_ref
    levels = layout.POLICY_FANOUT_LEVELS
    names = git(committed, "ls-tree", "-r", "--name-only", ref).split()
    for name in names:
        top, *path = name.split("/")
        assert top in {"snapshots", "by-hash", "bindings", "by-commit"}
        # by-hash/<digits>/<hash>/<policy_id>, by-commit likewise; the others end at the key.
        assert len(path) == levels + (2 if top.startswith("by-") else 1), name
        digits, key = path[:levels], path[levels]
        assert "".join(digits) == key[:levels], name
    for policy_id in ids:
        assert f"snapshots/{'/'.join(policy_id[:levels])}/{policy_id}.json" in names
        resolved = capsule.resolve(capsule.policy_uri(policy_id))
        assert cat_file(committed, f"{ref}:{resolved['path']}") == capsule.get_snapshot(policy_id)
    assert f"by-commit/{'/'.join(commit[:levels])}/{commit}/{ids[3]}" in names
    assert f"bindings/{'/'.join(ids[3][:levels])}/{ids[3]}.json" in names

    # Prefix lookup, shorter than, as long as and longer than the fan-out.
    for prefix in ["a", "ab", "abc", "abcd", "abc0", "b", "f", "f0f0", "c", "-", ids[4]]:
        assert capsule.ids_with_prefix(prefix) == sorted(i for i in ids if i.startswith(prefix)), prefix
    assert capsule.snapshot_ids() == sorted(ids)
    assert capsule.policy_for_commit(commit) == ids[3]
    assert list(capsule.all_bindings()) == [ids[3]]
    fsck_clean(committed)


def test_rewrite_keeps_old_commit_reachable_through_gc(committed: Path) -> None:
    capsule = capsule_at(committed)
    policy_id, *rest = snapshot("a")
    capsule.put_snapshot(policy_id, *rest)
    git(committed, "commit", "-q", "--allow-empty", "-m", "to amend")
    old = head(committed)
    capsule.add_binding(policy_id, old)
    git(committed, "commit", "-q", "--amend", "--allow-empty", "-m", "amended")
    new = head(committed)

    assert capsule.rewrite({old: new, "c" * 40: "d" * 40}) == [policy_id]
    assert capsule.bindings(policy_id) == [
        {"commit": new, "rewritten_from": [old], "bound_at": capsule.bindings(policy_id)[0]["bound_at"]}
    ]
    assert capsule.policy_for_commit(new) == policy_id
    assert capsule.policy_for_commit(old) == policy_id
    assert capsule.rewrite({old: new}) == []

    gc_now(committed)
    assert run(committed, "cat-file", "-e", f"{old}^{{commit}}").returncode == 0
    fresh = capsule_at(committed)
    assert fresh.get_snapshot(policy_id) == rest[2]
    fsck_clean(committed)


def test_rewrite_folds_into_a_binding_the_rebase_already_made(committed: Path) -> None:
    capsule = capsule_at(committed)
    policy_id, *rest = snapshot("a")
    capsule.put_snapshot(policy_id, *rest)
    git(committed, "commit", "-q", "--allow-empty", "-m", "picked")
    old = head(committed)
    git(committed, "commit", "-q", "--amend", "--allow-empty", "-m", "re-picked")
    new = head(committed)
    capsule.add_binding(policy_id, old)
    capsule.add_binding(policy_id, new)  # post-commit during the rebase

    capsule.rewrite({old: new})
    assert [(b["commit"], b["rewritten_from"]) for b in capsule.bindings(policy_id)] == [(new, [old])]
    assert capsule.add_binding(policy_id, old) is False


# ---- runs -----------------------------------------------------------------------------------
def test_append_and_read_run_events(repo: Path) -> None:
    capsule = capsule_at(repo)
    stored = [capsule.append_event("run-1", event("run-1", f"e{i}", timestamp(i))) for i in range(5)]
    capsule.append_event("run-2", event("run-2", "x", timestamp(0)))

    assert [seq for seq, _ in stored] == list(range(5))
    assert capsule.run_events("run-1") == [data for _, data in stored]
    assert capsule.has_run("run-1") and not capsule.has_run("run-3")
    assert capsule.run_ids() == ["run-1", "run-2"]
    with pytest.raises(NotFound, match="not in the capsule"):
        capsule.run_events("run-3")

    resolved = capsule.resolve(capsule.run_uri("run-1"))
    assert resolved["ref"] == run_ref("default", "run-1") and resolved["ref"] in refs_under(repo)
    assert resolved["path"] == layout.run_path("run-1")
    listing = cat_file(repo, resolved["object"]).decode().splitlines()
    assert [line.split()[-1] for line in listing] == ["0000000000"]  # one chunk so far
    chunk = cat_file(repo, f"{resolved['object']}:0000000000").decode().splitlines()
    assert [line.split()[-1] for line in chunk] == [f"{i:010d}.json" for i in range(5)]
    assert cat_file(repo, chunk[2].split()[2]) == stored[2][1]
    fsck_clean(repo)


def test_run_events_are_chunked_by_seq(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(layout, "EVENTS_PER_CHUNK", 4)
    capsule = capsule_at(repo)
    stored = [capsule.append_event("r", event("r", f"e{i}", timestamp(i))) for i in range(10)]

    assert [seq for seq, _ in stored] == list(range(10))
    assert capsule.run_events("r") == [data for _, data in stored]
    assert capsule.run_length("r") == 10
    assert list(capsule.run_events_backward("r")) == [data for _, data in reversed(stored)]
    ref_path = f"{layout.run_ref('default', 'r')}:{layout.run_path('r')}"
    chunks = cat_file(repo, ref_path).decode().splitlines()
    assert [line.split()[-1] for line in chunks] == ["0000000000", "0000000004", "0000000008"]
    middle = cat_file(repo, f"{ref_path}/0000000004").decode().splitlines()
    assert [line.split()[-1] for line in middle] == [f"{i:010d}.json" for i in range(4, 8)]
    assert cat_file(repo, f"{ref_path}/0000000008/0000000009.json") == stored[9][1]
    fsck_clean(repo)


def test_run_summaries_read_only_the_ends(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(layout, "EVENTS_PER_CHUNK", 4)
    capsule = capsule_at(repo)
    logs = {f"run-{n}": [capsule.append_event(f"run-{n}", event(f"run-{n}", f"e{i}", timestamp(i)))[1]
                         for i in range(n)] for n in (1, 4, 5, 9)}
    read: list[bytes] = []
    original = capsule.io.read_blobs

    def counting(blob_ids: list[bytes], limit: int) -> dict[bytes, bytes | str]:
        read.extend(blob_ids)
        return original(blob_ids, limit)

    monkeypatch.setattr(capsule.io, "read_blobs", counting)
    summaries = capsule.run_summaries()
    assert summaries == [{"run_id": run_id, "events": len(log), "first": log[0], "last": log[-1]}
                         for run_id, log in sorted(logs.items())]
    assert len(read) == 2 * len(logs)


def _write_flat_run(repo: Path, run_id: str, count: int) -> list[bytes]:
    """A run as the earlier layout stored it: every event blob directly in the run's
    tree, the run's tree at its shard's root."""
    capsule = capsule_at(repo)
    io = capsule.io
    datas = [event(run_id, f"old{i}", timestamp(i))(i) for i in range(count)]
    flat = io.write_tree({layout.event_name(i): (capsule_git.BLOB_MODE, io.write_blob(d))
                          for i, d in enumerate(datas)})
    root = io.write_tree({run_id: (capsule_git.TREE_MODE, flat)})
    commit = io.write_commit(root, [], "earlier layout", capsule.identity)
    git(repo, "update-ref", layout.run_ref("default", run_id), commit.decode())
    return datas


def test_run_in_the_earlier_flat_layout_is_read_then_rewritten_on_append(repo: Path) -> None:
    datas = _write_flat_run(repo, "old-run", 3)
    capsule = capsule_at(repo)
    assert capsule.has_run("old-run") and capsule.run_ids() == ["old-run"]
    assert capsule.run_events("old-run") == datas
    assert capsule.run_length("old-run") == 3
    assert capsule.resolve(capsule.run_uri("old-run"))["path"] == "old-run"
    assert capsule.run_summaries() == [
        {"run_id": "old-run", "events": 3, "first": datas[0], "last": datas[2]}]

    seq, data = capsule.append_event("old-run", event("old-run", "new", timestamp(9)))
    assert seq == 3
    assert capsule.run_events("old-run") == [*datas, data]
    assert capsule.resolve(capsule.run_uri("old-run"))["path"] == layout.run_path("old-run")
    assert capsule.run_ids() == ["old-run"]  # moved, not copied
    fsck_clean(repo)


def test_append_refuses_bad_events_and_run_ids(repo: Path) -> None:
    capsule = capsule_at(repo)
    with pytest.raises(BadInput, match="seq"):
        capsule.append_event("r", lambda seq: event("r", "e", timestamp(0))(seq + 1))
    with pytest.raises(BadInput, match="canonical"):
        capsule.append_event("r", lambda seq: b'{"seq": 0}')
    with pytest.raises(BadInput, match="event_id"):
        capsule.append_event("r", lambda seq: b'{"seq":0,"timestamp":"t"}')
    with pytest.raises(BadInput, match="does not match"):
        capsule.append_event("r", event("other", "e", timestamp(0)))
    for bad in ("../x", "refs/heads/main", ".hidden", "a..b", "x.lock", "", "a" * 129):
        with pytest.raises(BadInput, match="run id"):
            capsule.append_event(bad, event(bad, "e", timestamp(0)))
    assert refs_under(repo) == {}


def test_gc_keeps_snapshots_events_and_bound_commits(committed: Path) -> None:
    capsule = capsule_at(committed)
    snaps = [snapshot(str(i)) for i in range(5)]
    for snap in snaps:
        capsule.put_snapshot(*snap)
    capsule.add_binding(snaps[0][0], head(committed))
    for i in range(30):
        capsule.append_event(f"run-{i % 7}", event(f"run-{i % 7}", f"e{i}", timestamp(i)))
    before = {r: capsule.run_events(r) for r in capsule.run_ids()}

    gc_now(committed)
    assert not list((committed / ".git" / "refs" / "speckit").rglob("policy"))  # packed now
    fresh = capsule_at(committed)
    assert [fresh.get_snapshot(s[0]) for s in snaps] == [s[3] for s in snaps]
    assert {r: fresh.run_events(r) for r in fresh.run_ids()} == before
    fresh.append_event("run-0", event("run-0", "after-gc", timestamp(99)))  # packed ref → CAS
    assert len(fresh.run_events("run-0")) == len(before["run-0"]) + 1
    fsck_clean(committed)


def test_ref_count_does_not_grow_with_runs(repo: Path) -> None:
    capsule = capsule_at(repo)
    for i in range(300):
        capsule.append_event(f"r{i}", event(f"r{i}", "e", timestamp(0)))
    assert len(refs_under(repo)) <= 256
    assert len(capsule.run_ids()) == 300


# ---- addressing and configuration ----------------------------------------------------------
@pytest.mark.parametrize(("uri", "cause"), [
    ("mv2://default/policy/../../x", "expected mv2://"),
    ("mv2://default/policy/not-a-uuid", "not a policy id"),
    ("mv2://other/policy/0b7c5bd5-4a43-4f3c-9a4f-8e2b1f0a1c2d", "names workspace 'other'"),
    ("mv2://default/runs/..", "must not start with '.'"),
    ("mv2://default/runs/a/b", "expected mv2://"),
    ("mv2://default/runs/%2e%2e", "contains '%'"),
    ("mv2://default/branches/x", "unknown kind"),
    ("mv2://../policy/0b7c5bd5-4a43-4f3c-9a4f-8e2b1f0a1c2d", "workspace '..' must not start"),
    ("mv2://default/policy/0B7C5BD5-4A43-4F3C-9A4F-8E2B1F0A1C2D", "not a policy id"),
    ("http://default/policy/0b7c5bd5-4a43-4f3c-9a4f-8e2b1f0a1c2d", "not an mv2:// URI"),
    ("mv2://default/runs/" + "a" * 600, "at most 512 characters"),
])
def test_bad_uris_are_refused(repo: Path, uri: str, cause: str) -> None:
    with pytest.raises(BadInput, match=re.escape(cause)):
        capsule_at(repo).resolve(uri)


def test_unknown_uris_are_not_found(repo: Path) -> None:
    capsule = capsule_at(repo)
    with pytest.raises(NotFound, match="not in the capsule"):
        capsule.resolve("mv2://default/policy/0b7c5bd5-4a43-4f3c-9a4f-8e2b1f0a1c2d")
    with pytest.raises(NotFound, match="not in the capsule"):
        capsule.resolve("mv2://default/runs/nope")


def test_for_repo_reads_workspace_and_rollback_switch(repo: Path) -> None:
    git_repo = GitRepo.discover(repo)
    capsule = Capsule.for_repo(git_repo)
    assert capsule is not None and capsule.workspace == "default"
    git(repo, "config", "speckit.workspace", "team-a")
    capsule = Capsule.for_repo(git_repo)
    assert capsule is not None and capsule.workspace == "team-a"
    capsule.append_event("r", event("r", "e", timestamp(0)))
    assert all(r.startswith("refs/speckit/team-a/runs/") for r in refs_under(repo))
    assert capsule.run_uri("r") == "mv2://team-a/runs/r"
    git(repo, "config", "speckit.workspace", "../evil")
    with pytest.raises(BadInput, match="workspace"):
        Capsule.for_repo(git_repo)
    git(repo, "config", "speckit.capsule", "false")
    assert Capsule.for_repo(git_repo) is None


# ---- locks ----------------------------------------------------------------------------------
def test_stale_lock_is_reported_with_its_path(repo: Path) -> None:
    capsule = capsule_at(repo)
    capsule.append_event("r", event("r", "e0", timestamp(0)))
    lock = Path(repo / ".git" / run_ref("default", "r")).with_suffix(".lock")
    lock.write_text("")
    old = time.time() - 60
    os.utime(lock, (old, old))
    with pytest.raises(StaleLock, match="stale") as info:
        capsule.append_event("r", event("r", "e1", timestamp(1)))
    assert str(lock) in str(info.value)
    lock.unlink()
    assert capsule.append_event("r", event("r", "e1", timestamp(1)))[0] == 1


def test_live_lock_is_waited_for(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    capsule = capsule_at(repo)
    capsule.append_event("r", event("r", "e0", timestamp(0)))
    lock = Path(repo / ".git" / run_ref("default", "r")).with_suffix(".lock")
    lock.write_text("")
    threading.Timer(0.3, lock.unlink).start()
    assert capsule.append_event("r", event("r", "e1", timestamp(1)))[0] == 1

    monkeypatch.setattr(capsule_git, "LOCK_WAIT_SECONDS", 0.2)
    lock.write_text("")  # fresh, but never released: bounded wait, then an error
    with pytest.raises(StaleLock, match="locked"):  # returning at all is the bound
        capsule.append_event("r", event("r", "e2", timestamp(2)))
    lock.unlink()
