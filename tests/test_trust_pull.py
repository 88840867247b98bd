"""What a hostile remote can send, crafted by git plumbing in the bare remote, and what
``pull`` makes of it: a union where local entries win, refusals at the door, reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from conftest import git
from test_capsule_support import fsck_clean
from test_trust_support import (
    BLOB,
    TREE,
    blob,
    change_policy,
    entry_at,
    event_ids,
    forged,
    hostile,
    plumb,
    policy_clone,
    policy_ref,
    run_ref,
    run_with_events,
    tip,
    tree_of,
)

from speckit_git_policy.cli import cli
from speckit_git_policy.git.repo import GitRepo
from speckit_git_policy.runs import run as runs
from speckit_git_policy.store import Stores
from speckit_git_policy.store.capsule import layout, sync


def invoke(path: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["-C", str(path), *args])


def pull_json(path: Path) -> dict:
    result = invoke(path, "pull", "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture
def pair(tmp_path: Path, bare_remote: Path) -> tuple[Path, Path]:
    """Clone a holds a policy and an 11-event run, pushed; b is a clone that pulled it."""
    a = policy_clone(tmp_path, bare_remote)
    run_with_events(a, "shared", 11)
    sync.push(GitRepo.discover(a))
    b = tmp_path / "b"
    git(tmp_path, "clone", "-q", str(bare_remote), str(b))
    assert invoke(b, "install").exit_code == 0  # fetches, merges and restores the capsule
    assert len(event_ids(b, "shared")) == 11
    return a, b


def snapshot_path(clone: Path) -> tuple[str, str]:
    [policy_id] = Stores(GitRepo.discover(clone)).ids()
    return policy_id, layout.snapshot_path(policy_id)


# ---- union, never replacement -----------------------------------------------------------
def test_a_descendant_that_drops_events_is_merged_not_fast_forwarded(pair: tuple[Path, Path],
                                                                     bare_remote: Path) -> None:
    _a, b = pair
    ref = run_ref("shared")
    run_dir = layout.run_path("shared")
    chunk = f"{run_dir}/{layout.chunk_name(0)}"
    chunk_tree = entry_at(bare_remote, tip(bare_remote, ref), chunk)[1]
    kept = {name: entry for name, entry in list(_ls(bare_remote, chunk_tree).items())[:3]}
    from test_trust_support import mktree

    hostile(bare_remote, ref, {chunk: (TREE, mktree(bare_remote, kept))})
    before = tip(b, ref)
    report = pull_json(b)
    assert report["refs"][ref] == "merged"
    dropped = [r for r in report["refused"] if r["kind"] == "dropped"]
    assert dropped and dropped[0]["ref"] == ref and "lacks 8 event(s)" in dropped[0]["reason"]
    assert len(event_ids(b, "shared")) == 11
    assert plumb(b, "merge-base", "--is-ancestor", before, tip(b, ref)) == ""
    assert invoke(b, "verify").exit_code == 0
    fsck_clean(b)


def test_a_forged_snapshot_under_an_existing_id_is_refused(pair: tuple[Path, Path],
                                                           bare_remote: Path) -> None:
    _a, b = pair
    policy_id, path = snapshot_path(b)
    honest = Stores(GitRepo.discover(b)).capsule.get_snapshot(policy_id)  # type: ignore[union-attr]
    assert honest is not None
    hostile(bare_remote, policy_ref(), {path: (BLOB, blob(bare_remote, forged(honest)))})
    report = pull_json(b)
    [changed] = [r for r in report["refused"] if r["kind"] == "changed"]
    assert changed["path"] == path and "immutable" in changed["reason"]
    assert Stores(GitRepo.discover(b)).capsule.get_snapshot(policy_id) == honest  # type: ignore[union-attr]


def test_a_fresh_clone_of_a_forged_snapshot_fails_verify_even_after_repair(
        pair: tuple[Path, Path], bare_remote: Path, tmp_path: Path) -> None:
    a, _b = pair
    policy_id, path = snapshot_path(a)
    honest = Stores(GitRepo.discover(a)).capsule.get_snapshot(policy_id)  # type: ignore[union-attr]
    assert honest is not None
    hostile(bare_remote, policy_ref(), {path: (BLOB, blob(bare_remote, forged(honest)))})
    fresh = tmp_path / "fresh"
    git(tmp_path, "clone", "-q", str(bare_remote), str(fresh))
    assert invoke(fresh, "install").exit_code == 0
    for args in (("verify", "--json"), ("verify", "--repair", "--json")):
        result = invoke(fresh, *args)
        assert result.exit_code == 1, result.output
        problems = json.loads(result.stdout)["problems"]
        forgeries = [p for p in problems if p["kind"] == "proof"]
        assert forgeries and "forged or corrupted snapshot" in forgeries[0]["message"]
        assert forgeries[0]["uri"].endswith(policy_id)


def test_a_superset_is_a_fast_forward(pair: tuple[Path, Path]) -> None:
    a, b = pair
    run_with_events(a, "another", 2)
    sync.push(GitRepo.discover(a))
    report = pull_json(b)
    assert set(report["refs"].values()) <= {"fast-forward", "up-to-date", "created"}
    assert "fast-forward" in report["refs"].values() or "created" in report["refs"].values()
    assert report["refused"] == []


def test_an_event_rewritten_under_its_id_keeps_the_local_bytes(pair: tuple[Path, Path],
                                                               bare_remote: Path) -> None:
    _a, b = pair
    ref = run_ref("shared")
    path = layout.event_path("shared", 5)
    mine = plumb(b, "cat-file", "blob", f"{tip(b, ref)}:{path}")
    event = json.loads(mine)
    event["label"] = "rewritten history"
    from speckit_git_policy.canonical import canonical_bytes

    hostile(bare_remote, ref, {path: (BLOB, blob(bare_remote, canonical_bytes(event)))})
    report = pull_json(b)
    [changed] = [r for r in report["refused"] if r["kind"] == "changed"]
    assert event["event_id"] in changed["reason"]
    assert plumb(b, "cat-file", "blob", f"{tip(b, ref)}:{path}") == mine


# ---- structure checked at the door --------------------------------------------------------
def test_an_annotated_tag_where_a_commit_belongs_is_refused(pair: tuple[Path, Path],
                                                            bare_remote: Path) -> None:
    _a, b = pair
    ref = policy_ref()
    plumb(bare_remote, "tag", "-a", "-m", "not a capsule commit", "sneaky", tip(bare_remote, ref))
    plumb(bare_remote, "update-ref", ref, tip(bare_remote, "refs/tags/sneaky"))
    before = tip(b, ref)
    report = pull_json(b)
    assert report["refs"][ref] == "refused"
    [refused] = report["refused"]
    assert refused["kind"] == "not-a-commit" and refused["path"] is None
    assert tip(b, ref) == before
    for args in (("list",), ("log",), ("trace", "shared"), ("verify",)):
        result = invoke(b, *args)
        assert result.exit_code == 0, (args, result.output)
    verified = json.loads(invoke(b, "verify", "--json").stdout)
    assert any(p["kind"] == "refused" and p["severity"] == "warning" for p in verified["problems"])


@pytest.mark.parametrize("case", ["dotdot", "not-json-bindings", "unknown-top", "wrong-fanout",
                                  "not-a-uuid", "symlink", "big-event", "unbacked-hash-index"])
def test_entries_outside_the_layout_are_refused(case: str, pair: tuple[Path, Path],
                                                bare_remote: Path) -> None:
    _a, b = pair
    policy_id, _path = snapshot_path(b)
    other = "0f0f0f0f-0f0f-4f0f-8f0f-0f0f0f0f0f0f"
    ref, edits, expected = policy_ref(), {}, "outside-layout"
    json_blob = blob(bare_remote, b"{}")
    if case == "dotdot":
        edits = {"snapshots/..": (BLOB, json_blob)}
    elif case == "not-json-bindings":
        edits = {layout.binding_path(policy_id): (BLOB, blob(bare_remote, b"not json"))}
        expected = "invalid"
    elif case == "unknown-top":
        edits = {"secrets/x.json": (BLOB, json_blob)}
    elif case == "wrong-fanout":
        edits = {f"snapshots/a/b/c/{other}.json": (BLOB, json_blob)}
    elif case == "not-a-uuid":
        edits = {"snapshots/0/f/0/not-a-uuid.json": (BLOB, json_blob)}
    elif case == "symlink":
        edits = {layout.binding_path(other): ("120000", blob(bare_remote, b"/etc/passwd"))}
        expected = "bad-mode"
    elif case == "big-event":
        ref = run_ref("shared")
        big = b'{"pad":"' + b"x" * (2 * 1024 * 1024) + b'"}'
        edits = {layout.event_path("shared", 11): (BLOB, blob(bare_remote, big))}
        expected = "too-big"
    elif case == "unbacked-hash-index":
        # Steer a lookup by hash to the existing snapshot: capture would reuse it for
        # content it does not hold.
        edits = {f"{layout.hash_index_dir('a' * 64)}/{policy_id}": (BLOB, blob(bare_remote, b""))}
        expected = "invalid"
    bad = hostile(bare_remote, ref, edits)
    before = tip(b, ref)
    report = pull_json(b)
    assert [r["kind"] for r in report["refused"]] == [expected], report
    assert report["refused"][0]["ref"] == ref
    malformed = expected != "invalid"
    # Nothing of it joined the tree; malformed or oversized objects not even its history.
    assert tree_of(b, tip(b, ref)) == tree_of(b, before)
    if malformed:
        assert report["refs"][ref] == "refused" and tip(b, ref) == before
        assert bad not in plumb(b, "rev-list", ref)
    else:
        assert report["refs"][ref] == "merged"
    for args in (("list",), ("log",), ("trace", "shared"), ("blame", "shared"), ("verify",)):
        result = invoke(b, *args)
        assert result.exit_code == 0, (args, result.output)
    if ref == policy_ref():
        change_policy(b, "plan = 8000", "plan = 8100", "More planning")
    else:
        runs.checkpoint(GitRepo.discover(b), "shared", "after")
    pushed = invoke(b, "push")
    if malformed:
        # Our push cannot fast-forward the remote's ref until someone fixes it: said, exit 1.
        assert pushed.exit_code == 1 and "door refused" in pushed.output, pushed.output
    else:
        # The union, pushed back, repairs the remote: it holds our entry (or none) there.
        assert pushed.exit_code == 0, pushed.output
        [path] = edits
        assert plumb(bare_remote, "ls-tree", tip(bare_remote, ref), path) == plumb(
            b, "ls-tree", tip(b, ref), path)


def test_unknown_refs_are_refused_and_verify_stays_green(pair: tuple[Path, Path],
                                                        bare_remote: Path) -> None:
    _a, b = pair
    commit = tip(bare_remote, policy_ref())
    for name in ("refs/speckit/default/runs/zz", "refs/speckit/default/policy2", "refs/speckit/x"):
        plumb(bare_remote, "update-ref", name, commit)
    report = pull_json(b)
    kinds = {r["ref"]: r["kind"] for r in report["refused"]}
    assert kinds == {"refs/speckit/default/runs/zz": "unknown-ref",
                     "refs/speckit/default/policy2": "unknown-ref", "refs/speckit/x": "unknown-ref"}
    assert plumb(b, "for-each-ref", "refs/speckit/default/runs/zz", "refs/speckit/x") == ""
    result = invoke(b, "verify", "--json")
    assert result.exit_code == 0, result.output
    assert all(p["severity"] == "warning" for p in json.loads(result.stdout)["problems"])


def _ls(cwd: Path, tree: str) -> dict[str, tuple[str, str]]:
    from test_trust_support import ls

    return ls(cwd, tree)


def test_a_blob_where_a_commit_belongs_is_refused(pair: tuple[Path, Path],
                                                  bare_remote: Path) -> None:
    _a, b = pair
    ref = run_ref("shared")
    plumb(bare_remote, "update-ref", ref, blob(bare_remote, b'{"not": "a commit"}'))
    before = tip(b, ref)
    report = pull_json(b)
    assert report["refs"][ref] == "refused"
    [refused] = report["refused"]
    assert refused["kind"] == "not-a-commit" and refused["path"] is None
    assert "blob" in refused["reason"]
    assert tip(b, ref) == before
    for args in (("list",), ("log",), ("trace", "shared"), ("blame", "shared"), ("verify",)):
        result = invoke(b, *args)
        assert result.exit_code == 0, (args, result.output)
