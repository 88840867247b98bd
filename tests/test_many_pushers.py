"""Eight clones append events to shared runs and capture policies, all pushing at once to one
remote served by a real git daemon: every clone converges on the same capsule, every event
is kept exactly once with a gap-free seq, and each push needed a bounded number of tries."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import REPO_ROOT, git
from test_capsule_support import capsule_at, refs_under
from test_trust_support import git_daemon

from speckit_git_policy.git.repo import GitRepo
from speckit_git_policy.store.capsule import sync

CLONES = 8
ROUNDS = 3
RUNS = ("shared-0", "shared-1")

WORKER = r"""
import json, sys
from test_capsule_support import capsule_at, event, snapshot
from speckit_git_policy import clock
from speckit_git_policy.git.repo import GitRepo
from speckit_git_policy.store.capsule import sync
path, url, worker, rounds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
attempts = []
for round_ in range(rounds):
    capsule = capsule_at(path)
    for run_id in ("shared-0", "shared-1"):
        capsule.append_event(run_id, event(run_id, f"{worker}-{round_}-{run_id}", clock.now()))
    capsule.put_snapshot(*snapshot(f"{worker}-{round_}"))
    result = sync.push(GitRepo.discover(path), url)
    attempts.append(result["attempts"])
print(json.dumps(attempts), flush=True)
"""


def test_eight_pushers_at_once_converge_and_lose_nothing(tmp_path: Path) -> None:
    base = tmp_path / "served"
    base.mkdir()
    git(base, "init", "-q", "--bare", "team.git")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO_ROOT), str(REPO_ROOT / "tests")]))
    with git_daemon(base) as daemon:
        url = f"{daemon}/team.git"
        clones = []
        for n in range(CLONES):
            clone = tmp_path / f"clone-{n}"
            git(tmp_path, "init", "-q", str(clone))
            clones.append(clone)
        workers = [
            subprocess.Popen([sys.executable, "-c", WORKER, str(clone), url, str(n), str(ROUNDS)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
            for n, clone in enumerate(clones)
        ]
        attempts: list[int] = []
        for proc in workers:
            out, err = proc.communicate(timeout=600)
            assert proc.returncode == 0, err
            attempts += json.loads(out.strip().splitlines()[-1])
        for clone in clones:
            sync.pull(GitRepo.discover(clone), url)
        remote = refs_under(base / "team.git")
        expected = {f"{n}-{r}-{run_id}" for n in range(CLONES) for r in range(ROUNDS) for run_id in RUNS}
        for clone in clones:
            assert refs_under(clone) == remote  # the same capsule everywhere
            capsule = capsule_at(clone)
            for run_id in RUNS:
                events = [json.loads(data) for data in capsule.run_events(run_id)]
                ids = [e["event_id"] for e in events]
                assert len(ids) == len(set(ids)) == CLONES * ROUNDS  # each exactly once
                assert [e["seq"] for e in events] == list(range(len(events)))  # no gap
                assert set(ids) == {i for i in expected if i.endswith(run_id)}
            assert len(capsule.snapshot_ids()) == CLONES * ROUNDS
    print("attempts", sorted(attempts))
    assert max(attempts) <= sync.PUSH_ATTEMPTS
    assert len(attempts) == CLONES * ROUNDS
