"""Junk in the local capsule itself (written by plumbing, as a fetch straight into
refs/speckit/ or an older tool could leave it): every reader skips and says what it
skipped, none crashes or exits 2, ``verify`` reports it and fails (exit 1)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from test_trust_support import (
    BLOB,
    TREE,
    blob,
    hostile,
    mktree,
    policy_clone,
    policy_ref,
    run_ref,
    run_with_events,
)

from speckit_git_policy.cli import cli
from speckit_git_policy.git.repo import GitRepo
from speckit_git_policy.store import Stores
from speckit_git_policy.store.capsule import layout

READERS = (("list",), ("log",), ("show", "current"), ("trace", "r1"), ("blame", "r1"),
           ("run", "list"), ("run", "show", "r1"))


def invoke(path: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["-C", str(path), *args])


@pytest.fixture
def clone(tmp_path: Path, bare_remote: Path) -> Path:
    path = policy_clone(tmp_path, bare_remote)
    run_with_events(path, "r1", 3)
    return path


def junk(clone: Path, case: str) -> str:
    """Write one kind of junk into the clone's own capsule refs; the ref it went into."""
    [policy_id] = Stores(GitRepo.discover(clone)).ids()
    empty = mktree(clone, {})
    if case == "dotdot":
        return _edit(clone, policy_ref(), {"snapshots/..": (BLOB, blob(clone, b"{}"))})
    if case == "bindings-not-json":
        return _edit(clone, policy_ref(), {layout.binding_path(policy_id): (BLOB, blob(clone, b"\xff not json"))})
    if case == "bindings-a-tree":
        return _edit(clone, policy_ref(), {layout.binding_path(policy_id): (TREE, empty)})
    if case == "snapshot-a-list":
        other = "0f0f0f0f-0f0f-4f0f-8f0f-0f0f0f0f0f0f"
        return _edit(clone, policy_ref(), {layout.snapshot_path(other): (BLOB, blob(clone, b"[1, 2]"))})
    if case == "index-not-a-uuid":
        return _edit(clone, policy_ref(), {f"{layout.hash_index_dir('b' * 64)}/zzz": (BLOB, blob(clone, b""))})
    if case == "event-not-json":
        return _edit(clone, run_ref("r1"), {layout.event_path("r1", 3): (BLOB, blob(clone, b"{nope"))})
    if case == "event-huge":
        big = b'{"pad":"' + b"y" * (3 * 1024 * 1024) + b'"}'
        return _edit(clone, run_ref("r1"), {layout.event_path("r1", 3): (BLOB, blob(clone, big))})
    if case == "event-a-tree":
        return _edit(clone, run_ref("r1"), {layout.event_path("r1", 3): (TREE, empty)})
    if case == "chunk-bad-name":
        return _edit(clone, run_ref("r1"), {f"{layout.run_path('r1')}/zz/x.json": (BLOB, blob(clone, b"{}"))})
    if case == "run-wrong-shard":
        run_tree = mktree(clone, {"0000000000": (TREE, mktree(clone, {}))})
        return _edit(clone, run_ref("r1"), {"stray-run": (TREE, run_tree)})
    if case == "unknown-refs":
        from test_trust_support import plumb, tip

        commit = tip(clone, policy_ref())
        for name in ("refs/speckit/default/runs/zz", "refs/speckit/default/policy2"):
            plumb(clone, "update-ref", name, commit)
        return "refs/speckit/default/runs/zz"
    if case == "ref-a-blob":
        from test_trust_support import plumb

        name = "refs/speckit/default/runs/7e"
        plumb(clone, "update-ref", name, blob(clone, b'{"a": "blob"}'))
        return name
    raise AssertionError(case)


def _edit(clone: Path, ref: str, edits: dict[str, tuple[str, str]]) -> str:
    hostile(clone, ref, edits, message="junk")
    return ref


CASES = ["dotdot", "bindings-not-json", "bindings-a-tree", "snapshot-a-list", "index-not-a-uuid",
         "event-not-json", "event-huge", "event-a-tree", "chunk-bad-name", "run-wrong-shard",
         "unknown-refs", "ref-a-blob"]


@pytest.mark.parametrize("case", CASES)
def test_readers_skip_junk_and_verify_reports_it(case: str, clone: Path) -> None:
    ref = junk(clone, case)
    for args in READERS:
        result = invoke(clone, *args)
        assert result.exit_code not in (2, 3), (case, args, result.output)
        assert "internal error" not in result.output and "Traceback" not in result.output, (case, args)
        if args == ("run", "show", "r1") and case.startswith("event"):
            assert result.exit_code == 0 and "warning:" in result.stderr, result.output
    result = invoke(clone, "verify", "--json")
    assert result.exit_code == 1, (case, result.output)
    report = json.loads(result.stdout)
    errors = [p for p in report["problems"] if p["severity"] == "error"]
    assert errors, report
    if case in ("dotdot", "index-not-a-uuid", "chunk-bad-name", "unknown-refs", "bindings-a-tree",
                "ref-a-blob"):
        assert any(p["kind"] == "capsule" and p.get("ref") == ref for p in errors), report


def test_a_huge_event_is_never_read_whole(clone: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    junk(clone, "event-huge")
    from speckit_git_policy.store.capsule import objects

    reads: list[int] = []
    original = objects.zlib.decompress

    def counting(data: bytes, *args: object) -> bytes:
        out = original(data, *args)  # type: ignore[arg-type]
        reads.append(len(out))
        return out

    monkeypatch.setattr(objects.zlib, "decompress", counting)
    result = invoke(clone, "trace", "r1", "--json")
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)["events"]) == 3
    assert "over the limit" in result.stderr
    assert max(reads, default=0) < 1024 * 1024


@pytest.mark.parametrize("command", [("trace", "r1", "--json"), ("run", "show", "r1", "--json")])
def test_a_huge_packed_event_is_never_read_whole(
    clone: Path, monkeypatch: pytest.MonkeyPatch, command: tuple[str, ...]
) -> None:
    # Packed, the event goes through git's cat-file, which the reader stops at the size
    junk(clone, "event-huge")
    subprocess.run(["git", "-C", str(clone), "repack", "-adq"], check=True)
    subprocess.run(["git", "-C", str(clone), "prune-packed"], check=True)
    from speckit_git_policy.git import process

    reads: list[int] = []
    original = process.GitPipe.read_exactly

    def counting(self: process.GitPipe, size: int) -> bytes:
        reads.append(size)
        return original(self, size)

    monkeypatch.setattr(process.GitPipe, "read_exactly", counting)
    result = invoke(clone, *command)
    assert result.exit_code == 0, result.output
    assert "over the limit" in result.stderr
    assert reads and max(reads) < 1024 * 1024
