"""SIGKILL a pull at random points: no partial state (each capsule ref is either as it was
or fully merged, every ref points at a whole commit), and the staging refs a killed pull
left under refs/speckit-pull/ are swept by the next pull."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import REPO_ROOT, git
from test_capsule_support import capsule_at, event, fsck_clean, refs_under, snapshot, timestamp

from speckit_git_policy.git.repo import GitRepo
from speckit_git_policy.store.capsule import sync

KILLS = 6
RUNS = 12

WORKER = r"""
import sys
from speckit_git_policy.git.repo import GitRepo
from speckit_git_policy.store.capsule import sync
print("ready", flush=True)
sync.pull(GitRepo.discover(sys.argv[1]))
print("done", flush=True)
"""


def tree(cwd: Path, commit: str) -> str:
    return git(cwd, "rev-parse", f"{commit}^{{tree}}").strip()


def test_a_killed_pull_leaves_nothing_partial_and_its_staging_is_swept(
    tmp_path: Path, bare_remote: Path
) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    for path in (a, b):
        git(tmp_path, "init", "-q", str(path))
        git(path, "remote", "add", "origin", str(bare_remote))
    # The remote holds many refs (runs, policies) so that a pull has many steps to die in.
    capsule = capsule_at(a)
    for n in range(RUNS):
        for i in range(5):
            capsule.append_event(f"run-{n}", event(f"run-{n}", f"a-{n}-{i}", timestamp(i)))
    for n in range(5):
        capsule.put_snapshot(*snapshot(f"a-{n}"))
    sync.push(GitRepo.discover(a))
    # b has its own entries in some of those refs: a pull merges rather than fast-forwards.
    mine = capsule_at(b)
    for n in range(0, RUNS, 2):
        mine.append_event(f"run-{n}", event(f"run-{n}", f"b-{n}", timestamp(30)))
    mine.put_snapshot(*snapshot("b-0"))
    before = {ref: tree(b, tip) for ref, tip in refs_under(b).items()}

    # What a complete pull gives, computed in a copy of b.
    reference = tmp_path / "reference"
    git(tmp_path, "clone", "-q", "--mirror", str(b), str(reference / ".git"))
    git(reference, "config", "--bool", "core.bare", "false")
    git(reference, "remote", "set-url", "origin", str(bare_remote))
    git(reference, "config", "--unset-all", "remote.origin.fetch")
    git(reference, "config", "--unset-all", "remote.origin.mirror")
    sync.pull(GitRepo.discover(reference))
    after = {ref: tree(reference, tip) for ref, tip in refs_under(reference).items()}
    assert after != before

    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO_ROOT), str(REPO_ROOT / "tests")]))
    random.seed("pull-kill")
    for _ in range(KILLS):
        proc = subprocess.Popen([sys.executable, "-c", WORKER, str(b)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=env)
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(random.uniform(0.0, 0.3))
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
        # A kill inside a ref's lock leaves the lock file (the next writer says so and
        # names it: tests/test_capsule_crash.py); its owner is dead, so it goes.
        for lock in (b / ".git").rglob("*.lock"):
            lock.unlink()
        fsck_clean(b)  # every ref points at a whole commit
        for ref, tip in refs_under(b).items():
            # Each ref moved by compare-and-swap, from its old tree to the whole union.
            assert tree(b, tip) in (before.get(ref), after[ref]), ref
        # Put b back as it was, keeping whatever staging refs the kill left behind.
        for ref in set(refs_under(b)) - set(before):
            git(b, "update-ref", "-d", ref)
        for ref in before:
            git(b, "update-ref", ref, git(b, "commit-tree", before[ref], "-m", "reset").strip())

    # A staging ref of a pull that no longer runs (a pid that cannot exist), for certain.
    git(b, "update-ref", "refs/speckit-pull/4194305-dead/policy/default",
        git(bare_remote, "rev-parse", "refs/speckit/default/policy").strip())
    # A pull whose process still runs keeps its staging refs (ours, under our pid).
    alive = f"refs/speckit-pull/{os.getpid()}-alive/policy/default"
    git(b, "update-ref", alive, git(bare_remote, "rev-parse", "refs/speckit/default/policy").strip())
    sync.pull(GitRepo.discover(b))
    assert list(refs_under(b, "refs/speckit-pull/")) == [alive]
    git(b, "update-ref", "-d", alive)
    assert {ref: tree(b, tip) for ref, tip in refs_under(b).items()} == after
    fsck_clean(b)
