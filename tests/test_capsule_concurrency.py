"""Real processes writing the capsule at once: compare-and-swap loses nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import REPO_ROOT
from test_capsule_support import capsule_at, fsck_clean

WORKERS = 8
EVENTS_PER_WORKER = 50
SNAPSHOTS_PER_WORKER = 10

WORKER = r"""
import sys
from test_capsule_support import capsule_at, event, snapshot
kind, worker, count, path = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
capsule = capsule_at(path)
sys.stdin.readline()  # start together
for i in range(count):
    if kind == "events":
        stamp = f"2026-01-12T10:00:00.{worker * 1000 + i:06d}Z"
        seq, _ = capsule.append_event("shared-run", event("shared-run", f"w{worker}-{i}", stamp))
    else:
        policy_id, digest, created_at, data = snapshot(f"{worker}-{i}")
        capsule.put_snapshot(policy_id, digest, created_at, data)
        print(policy_id, flush=True)
"""


def start(kind: str, worker: int, count: int, repo: Path) -> subprocess.Popen[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), str(REPO_ROOT / "tests")])
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, kind, str(worker), str(count), str(repo)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )


def test_eight_appenders_and_eight_capturers_lose_nothing(repo: Path) -> None:
    procs = [start("events", w, EVENTS_PER_WORKER, repo) for w in range(WORKERS)]
    procs += [start("snapshots", w, SNAPSHOTS_PER_WORKER, repo) for w in range(WORKERS)]
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    outputs = [proc.communicate(timeout=120) for proc in procs]
    for proc, (_, err) in zip(procs, outputs):
        assert proc.returncode == 0, err

    capsule = capsule_at(repo)
    events = [json.loads(data) for data in capsule.run_events("shared-run")]
    assert [e["seq"] for e in events] == list(range(WORKERS * EVENTS_PER_WORKER))
    expected = {f"w{w}-{i}" for w in range(WORKERS) for i in range(EVENTS_PER_WORKER)}
    assert sorted(e["event_id"] for e in events) == sorted(expected)
    for w in range(WORKERS):  # each writer's own events keep their order
        mine = [e["event_id"] for e in events if e["event_id"].startswith(f"w{w}-")]
        assert mine == [f"w{w}-{i}" for i in range(EVENTS_PER_WORKER)]

    stored_ids = [line for out, _ in outputs[WORKERS:] for line in out.split()]
    assert len(stored_ids) == WORKERS * SNAPSHOTS_PER_WORKER
    assert sorted(capsule.snapshot_ids()) == sorted(stored_ids)
    for policy_id in stored_ids:
        data = capsule.get_snapshot(policy_id)
        assert data is not None
        assert capsule.ids_for_hash(json.loads(data)["hash"]) == [policy_id]
    fsck_clean(repo)
