"""What backfill writes with: the capsule's and the stores' bulk writes (one capsule commit,
one compare-and-swap, one pack for many snapshots or bindings), and the plumbing parsers
it reads git with (issue 12)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import git
from test_capsule_support import capsule_at, fsck_clean, snapshot

from speckit_git_policy.errors import BadInput, NotFound
from speckit_git_policy.git import plumbing
from speckit_git_policy.git.repo import GitRepo
from speckit_git_policy.store import Stores
from speckit_git_policy.store.capsule.capsule import Capsule

POLICY_REF = "refs/speckit/default/policy"


def commits(root: Path, count: int) -> list[str]:
    shas = []
    for n in range(count):
        git(root, "commit", "-q", "--allow-empty", "-m", f"c{n}")
        shas.append(git(root, "rev-parse", "HEAD").strip())
    return shas


def capsule_commits(root: Path) -> int:
    return int(git(root, "rev-list", "--count", "--first-parent", POLICY_REF).strip())


def loose_objects(root: Path) -> int:
    return int(git(root, "count-objects", "-v").splitlines()[0].split()[1])


def test_put_snapshots_is_one_commit_in_one_pack(repo: Path) -> None:
    capsule = capsule_at(repo)
    snapshots = [snapshot(f"s{n}") for n in range(40)]
    before = loose_objects(repo)
    assert capsule.put_snapshots(snapshots) == 40
    assert capsule_commits(repo) == 1
    assert loose_objects(repo) - before <= 1  # the shared empty blob, at most
    for policy_id, digest, _created_at, data in snapshots:
        assert capsule.get_snapshot(policy_id) == data
        assert capsule.ids_for_hash(digest) == [policy_id]
    assert capsule.put_snapshots(snapshots) == 0 and capsule_commits(repo) == 1  # idempotent
    fsck_clean(repo)


def test_put_snapshots_refuses_other_bytes_under_a_stored_id(repo: Path) -> None:
    capsule = capsule_at(repo)
    policy_id, digest, created_at, data = snapshot("a")
    capsule.put_snapshot(policy_id, digest, created_at, data)
    other = snapshot("b", policy_id=policy_id)
    with pytest.raises(BadInput, match="immutable"):
        capsule.put_snapshots([other])


def test_add_bindings_is_one_commit_and_reachable_through_the_tips(repo: Path) -> None:
    shas = commits(repo, 20)
    capsule = capsule_at(repo)
    snapshots = [snapshot(f"s{n}") for n in range(4)]
    capsule.put_snapshots(snapshots)
    pairs = [(snapshots[n % 4][0], sha) for n, sha in enumerate(shas)]
    added = capsule.add_bindings(pairs, "2026-01-01T00:00:00.000000Z", reachable=[shas[-1]])
    assert added == pairs and capsule_commits(repo) == 2
    parents = git(repo, "rev-list", "--parents", "-n1", POLICY_REF).split()[1:]
    assert parents[1:] == [shas[-1]]
    for n, sha in enumerate(shas):
        assert capsule.policies_for_commit(sha) == [snapshots[n % 4][0]]
    assert [b["commit"] for b in capsule.bindings(snapshots[0][0])] == shas[0::4]
    assert capsule.bound_commits() == set(shas)
    assert capsule.add_bindings(pairs) == [] and capsule_commits(repo) == 2  # idempotent
    fsck_clean(repo)


def test_add_bindings_makes_every_commit_a_parent_by_default(repo: Path) -> None:
    shas = commits(repo, 3)
    capsule = capsule_at(repo)
    policy_id, digest, created_at, data = snapshot("a")
    capsule.put_snapshot(policy_id, digest, created_at, data)
    capsule.add_bindings([(policy_id, sha) for sha in shas])
    assert set(git(repo, "rev-list", "--parents", "-n1", POLICY_REF).split()[2:]) == set(shas)


def test_add_bindings_refuses_what_the_capsule_cannot_hold(repo: Path) -> None:
    (sha,) = commits(repo, 1)
    capsule = capsule_at(repo)
    with pytest.raises(NotFound):
        capsule.add_bindings([(snapshot("a")[0], sha)])
    policy_id, digest, created_at, data = snapshot("a")
    capsule.put_snapshot(policy_id, digest, created_at, data)
    with pytest.raises(NotFound):
        capsule.add_bindings([(policy_id, "0" * 40)])
    with pytest.raises(BadInput):
        capsule.add_bindings([(policy_id, "HEAD")])
    assert capsule_commits(repo) == 1


def test_add_bindings_rebuilds_on_a_lost_race(repo: Path) -> None:
    shas = commits(repo, 2)
    capsule = capsule_at(repo)
    policy_id, digest, created_at, data = snapshot("a")
    capsule.put_snapshot(policy_id, digest, created_at, data)
    rival = Capsule(GitRepo.discover(repo))
    swap = capsule.refs._swap
    raced = []

    def lose_once(name: bytes, old: bytes | None, new: bytes) -> bool:
        if not raced:
            raced.append(True)
            rival.add_binding(policy_id, shas[0])  # another writer wins first
            return False
        return swap(name, old, new)

    capsule.refs._swap = lose_once  # type: ignore[method-assign]
    added = capsule.add_bindings([(policy_id, shas[0]), (policy_id, shas[1])])
    assert added == [(policy_id, shas[1])]
    assert [b["commit"] for b in capsule.bindings(policy_id)] == shas


def test_a_dropped_batch_writes_nothing(repo: Path) -> None:
    capsule = capsule_at(repo)
    io = capsule.io
    before = loose_objects(repo)
    io.start_batch()
    blob = io.write_blob(b"in memory only\n")
    assert io.blob_bytes(blob) == b"in memory only\n"
    io.drop_batch()
    assert loose_objects(repo) == before
    assert not (repo / ".git" / "objects" / "pack").exists() or not list(
        (repo / ".git" / "objects" / "pack").glob("*.pack"))


def test_stores_bind_many_in_both_copies(repo: Path) -> None:
    shas = commits(repo, 5)
    stores = Stores(GitRepo.discover(repo))
    policy_id, digest, created_at, data = snapshot("a")
    stores.store(policy_id, digest, created_at, data)
    stores.add_binding(policy_id, shas[0])
    fresh = stores.add_bindings([(policy_id, sha) for sha in shas], reachable=[shas[-1]])
    assert fresh == [(policy_id, sha) for sha in shas[1:]]
    assert [b["commit"] for b in stores.fs_bindings(policy_id)] == shas
    assert stores.capsule is not None
    assert [b["commit"] for b in stores.capsule.bindings(policy_id)] == shas
    # One bind time for the bulk: both copies agree on it.
    times = {b["bound_at"] for b in stores.bindings(policy_id)[1:]}
    assert len(times) == 1
    assert stores.bound_commits() == set(shas)


def test_stores_bind_many_without_the_capsule(repo: Path) -> None:
    git(repo, "config", "speckit.capsule", "false")
    shas = commits(repo, 3)
    stores = Stores(GitRepo.discover(repo))
    policy_id, digest, created_at, data = snapshot("a")
    stores.store(policy_id, digest, created_at, data)
    assert stores.add_bindings([(policy_id, sha) for sha in shas], durable=False) == [
        (policy_id, sha) for sha in shas]
    assert stores.bound_commits() == set(shas)
    assert stores.add_bindings([(policy_id, shas[0])]) == []


# ---- plumbing ------------------------------------------------------------------------------
def test_raw_diff_records_against_git(repo: Path) -> None:
    (repo / "a b").write_text("one\n")
    (repo / "link").symlink_to("a b")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "root")
    root = git(repo, "rev-parse", "HEAD").strip()
    (repo / "a b").write_text("two\n")
    (repo / "link").unlink()
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "second")
    second = git(repo, "rev-parse", "HEAD").strip()
    records = plumbing.first_parent_changes(GitRepo.discover(repo), [root, second], ["a b", "link"])
    by_path = {rec[5][0]: rec for rec in records[root]}
    assert by_path["a b"][:3] == ("A", "000000", "100644")
    assert by_path["link"][2] == "120000"
    assert by_path["a b"][4] == git(repo, "rev-parse", f"{root}:a b").strip()
    changed = {rec[5][0]: rec[0] for rec in records[second]}
    assert changed == {"a b": "M", "link": "D"}
    assert plumbing.parse_raw_diff(b"".join(
        [b"%s\0" % second.encode(), b":100644 100644 " + b"1" * 40 + b" " + b"2" * 40 + b" R100\0old\0new\0"]
    )) == {second: ["old", "new"]}


def test_rev_list_graph_against_git(repo: Path) -> None:
    shas = commits(repo, 3)
    graph = plumbing.commit_graph(GitRepo.discover(repo), "--topo-order", "HEAD")
    assert [sha for _time, sha, _parents in graph] == shas[::-1]
    assert [parents for _time, _sha, parents in graph] == [(shas[1],), (shas[0],), ()]
    assert all(isinstance(time, int) and time > 0 for time, _sha, _parents in graph)


def test_config_origins_against_git(repo: Path) -> None:
    git(repo, "config", "speckit.workspace", "local")
    git(repo, "config", "--global", "speckit.sign", "true")
    with open(repo / ".git" / "config", "a") as handle:
        handle.write("[speckit]\n\tcapsule\n")
    out = git(repo, "-c", "speckit.autoPush=false", "config", "-z", "--show-scope", "--show-origin",
              "--get-regexp", r"^speckit\.").encode()
    records = plumbing.parse_config_origins(out)
    found = {key: (scope, value) for scope, _origin, key, value in records}
    assert found["speckit.workspace"] == ("local", b"local")
    assert found["speckit.sign"] == ("global", b"true")
    assert found["speckit.capsule"] == ("local", None)
    assert found["speckit.autopush"] == ("command", b"false")
