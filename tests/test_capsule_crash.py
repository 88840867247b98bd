"""SIGKILL a writer at random moments: no ref may point at a missing object and
nothing a writer had finished may be lost."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO_ROOT
from test_capsule_support import capsule_at, event, fsck_clean, snapshot

from speckit_git_policy.errors import NotFound, StaleLock

KILLS = 4

WORKER = r"""
import sys
from test_capsule_support import capsule_at, event, snapshot
kind, path, round_ = sys.argv[1], sys.argv[2], sys.argv[3]
capsule = capsule_at(path)
print("ready", flush=True)
i = 0
while True:
    if kind == "events":
        seq, _ = capsule.append_event("crash-run", event("crash-run", f"{round_}-{i}",
                                                         f"2026-01-12T10:00:00.{i:06d}Z"))
        print(f"{round_}-{i}", flush=True)
    else:
        policy_id, digest, created_at, data = snapshot(f"{round_}-{i}")
        capsule.put_snapshot(policy_id, digest, created_at, data)
        print(policy_id, flush=True)
    i += 1
"""


def kill_during(kind: str, repo: Path, round_: int) -> list[str]:
    """Run a writer, SIGKILL it at a random moment, return what it reported done."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), str(REPO_ROOT / "tests")])
    proc = subprocess.Popen([sys.executable, "-c", WORKER, kind, str(repo), str(round_)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(random.uniform(0.05, 0.4))
    proc.send_signal(signal.SIGKILL)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL, err
    return out.split()


def clear_stale_locks(repo: Path, kind: str) -> int:
    """A kill inside the ref lock leaves it behind: the next writer must say so, and
    name the file, instead of waiting; removing it (the fix it gives) unblocks."""
    locks = list((repo / ".git" / "refs").rglob("*.lock"))
    for lock in locks:
        old = time.time() - 60
        os.utime(lock, (old, old))
        with pytest.raises(StaleLock, match=str(lock)):
            if kind == "events":
                capsule_at(repo).append_event("crash-run", event("crash-run", "x", "t"))
            else:
                capsule_at(repo).put_snapshot(*snapshot("blocked"))
        lock.unlink()
    return len(locks)


@pytest.mark.parametrize("kind", ["events", "snapshots"])
def test_sigkill_loses_nothing_and_leaves_no_dangling_ref(
    repo: Path, kind: str) -> None:
    random.seed(kind)
    done: list[str] = []
    for round_ in range(KILLS):
        done += kill_during(kind, repo, round_)
        fsck_clean(repo)
        clear_stale_locks(repo, kind)
        capsule = capsule_at(repo)
        if kind == "events":
            try:
                events = [json.loads(d) for d in capsule.run_events("crash-run")]
            except NotFound:
                assert not done  # killed before its first append landed: the run is not there yet
                events = []
            assert [e["seq"] for e in events] == list(range(len(events)))
            stored = [e["event_id"] for e in events]
            # Everything reported done is there, in order; at most one more (killed
            # after the ref moved, before it could report).
            assert stored[: len(done)] == done and len(stored) - len(done) <= 1
            done = stored
        else:
            stored = capsule.snapshot_ids()
            assert set(done) <= set(stored) and len(stored) - len(done) <= round_ + 1
            for policy_id in done:
                assert capsule.get_snapshot(policy_id) is not None
    assert len(done) > KILLS  # the writers did make progress between kills
