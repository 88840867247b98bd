"""SIGKILL a writer at random moments: no ref may point at a missing object and
nothing a writer had finished may be lost."""

from __future__ import annotations

import json
import os
import queue
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
from conftest import REPO_ROOT
from test_capsule_support import capsule_at, event, fsck_clean, snapshot

from speckit_git_policy.errors import NotFound, StaleLock

KILLS = 4
# Appends each round waits to see reported before its random delay: round 0 may kill
# the writer inside its very first append (the run's ref created), the others are
# sure to make progress whatever the machine's load, so the final check that the
# writers got somewhere depends on no timing.
WAIT_FOR = (0, 2, 1, 3)

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
    """Run a writer, SIGKILL it at a random moment once it has reported
    WAIT_FOR[round_] writes done, return what it reported done.

    One thread reads the writer's stdout from start to EOF, line by line: reading
    "ready" with readline() and the rest with communicate() lost the lines that
    readline() had already buffered (communicate reads the pipe's file descriptor,
    not the text wrapper's buffer), so a finished append could look lost."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), str(REPO_ROOT / "tests")])
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen([sys.executable, "-c", WORKER, kind, str(repo), str(round_)],
                                stdout=subprocess.PIPE, stderr=err, text=True, env=env)
        lines: queue.Queue[str | None] = queue.Queue()

        def read_stdout() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.put(line.strip())
            lines.put(None)  # EOF: the writer is gone

        reader = threading.Thread(target=read_stdout, daemon=True)
        reader.start()
        done: list[str] = []
        try:
            started = lines.get(timeout=60) == "ready"
            while started and len(done) < WAIT_FOR[round_]:
                line = lines.get(timeout=60)
                if line is None:
                    break
                done.append(line)
            else:
                time.sleep(random.uniform(0.0, 0.4))
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            reader.join(timeout=30)
        err.seek(0)
        assert started and proc.returncode == -signal.SIGKILL, err.read()
    while (line := lines.get_nowait()) is not None:
        done.append(line)
    return done


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
    assert len(done) >= sum(WAIT_FOR)  # the writers did make progress between kills
