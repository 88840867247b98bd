"""Many pushers: time to converge and retries per push for 2, 4 and 8 clones pushing at once.

Each clone is its own process: per round it appends one event to each of two shared runs,
captures a snapshot, and pushes to one remote served by a real ``git daemon`` on
127.0.0.1 (``sync.push`` pulls, merges and retries a non-fast-forward with jittered
back-off). Converged means every pusher is done and one final pull in each clone leaves
all of them with the remote's capsule, every event once, seq gap-free (checked).
Settings are interleaved (2, 4, 8, 2, 4, 8, ...) so that load from elsewhere on the
machine falls on all of them alike. Wall is the time from the start of the pushers to
convergence; CPU is user + system of the pushers and the final pulls, with the git
processes they ran (not the daemon's side).

Usage: python bench/bench_pushers.py [--pushers 2 4 8] [--rounds 3] [--repeat 3]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from speckit_git_policy.git.repo import GitRepo  # noqa: E402
from speckit_git_policy.store.capsule import sync  # noqa: E402
from speckit_git_policy.store.capsule.capsule import Capsule  # noqa: E402

RUNS = ("shared-0", "shared-1")

WORKER = r"""
import json, sys, uuid
from speckit_git_policy import clock
from speckit_git_policy.canonical import canonical_bytes
from speckit_git_policy.git.repo import GitRepo
from speckit_git_policy.snapshot import content_hash
from speckit_git_policy.store.capsule import sync
from speckit_git_policy.store.capsule.capsule import Capsule

path, url, worker, rounds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])


def event(run_id, event_id):
    now = clock.now()
    return lambda seq: canonical_bytes({"event_id": event_id, "run_id": run_id, "seq": seq,
                                        "timestamp": now, "type": "Checkpoint"})


attempts = []
for round_ in range(rounds):
    capsule = Capsule(GitRepo.discover(path), "default")
    for run_id in ("shared-0", "shared-1"):
        capsule.append_event(run_id, event(run_id, f"{worker}-{round_}-{run_id}"))
    content = {"schema_version": "1.0", "routing": {"cloud": {"a": [f"m-{worker}-{round_}"]}},
               "capture": {"mode": "none"}, "budgets": {}, "gates": {}, "model_config": {},
               "weights": {}, "prompts": {}, "source_files": [], "source_digests": {}}
    digest, created_at, policy_id = content_hash(content), clock.now(), str(uuid.uuid4())
    document = {**content, "policy_id": policy_id, "hash": digest, "created_at": created_at,
                "provenance": {"commit": None, "dirty": True, "trigger": "manual",
                               "validated": True, "tool_version": "bench"}}
    capsule.put_snapshot(policy_id, digest, created_at, canonical_bytes(document))
    attempts.append(sync.push(GitRepo.discover(path), url)["attempts"])
print(json.dumps(attempts), flush=True)
"""


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def git_daemon(base: Path) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [
            "git",
            "daemon",
            "--export-all",
            "--enable=receive-pack",
            f"--base-path={base}",
            "--listen=127.0.0.1",
            f"--port={port}",
            "--reuseaddr",
            str(base),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", port), 0.2),
            ):
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("git daemon did not start")
            time.sleep(0.05)
        yield f"git://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    own = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime + own.ru_utime + own.ru_stime


def one(tmp: Path, pushers: int, rounds: int) -> dict[str, object]:
    base = tmp / "served"
    base.mkdir()
    git(base, "init", "-q", "--bare", "team.git")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    clones = []
    for n in range(pushers):
        clone = tmp / f"clone-{n}"
        git(tmp, "init", "-q", str(clone))
        clones.append(clone)
    with git_daemon(base) as daemon:
        url = f"{daemon}/team.git"
        cpu_before, started = cpu(), time.perf_counter()
        workers = [
            subprocess.Popen(
                [sys.executable, "-c", WORKER, str(clone), url, str(n), str(rounds)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            )
            for n, clone in enumerate(clones)
        ]
        attempts: list[int] = []
        for proc in workers:
            out, err = proc.communicate(timeout=1200)
            if proc.returncode != 0:
                raise RuntimeError(err)
            attempts += json.loads(out.strip().splitlines()[-1])
        for clone in clones:
            sync.pull(GitRepo.discover(clone), url)
        wall, used = time.perf_counter() - started, cpu() - cpu_before
    remote = git(base / "team.git", "for-each-ref", "refs/speckit/")
    for clone in clones:
        if git(clone, "for-each-ref", "refs/speckit/") != remote:
            raise RuntimeError(f"{clone.name} did not converge")
        capsule = Capsule(GitRepo.discover(clone), "default")
        for run_id in RUNS:
            events = [json.loads(data) for data in capsule.run_events(run_id)]
            ids = [e["event_id"] for e in events]
            if len(ids) != len(set(ids)) or len(ids) != pushers * rounds:
                raise RuntimeError(f"{clone.name}: {run_id} lost or doubled events")
            if [e["seq"] for e in events] != list(range(len(events))):
                raise RuntimeError(f"{clone.name}: {run_id} seq has a gap")
    return {"wall": wall, "cpu": used, "attempts": attempts}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pushers", type=int, nargs="+", default=[2, 4, 8])
    parser.add_argument("--rounds", type=int, default=3, help="pushes per pusher")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved repetitions")
    args = parser.parse_args()
    results: dict[int, list[dict[str, object]]] = {n: [] for n in args.pushers}
    with tempfile.TemporaryDirectory() as tmp:
        for repetition in range(args.repeat):
            for n in args.pushers:
                where = Path(tmp) / f"{repetition}-{n}"
                where.mkdir()
                results[n].append(one(where, n, args.rounds))
    print(
        f"{'pushers':>7} {'pushes':>6} {'wall s (median)':>15} {'cpu s (median)':>14} "
        f"{'retries/push mean':>17} {'max':>4}"
    )
    for n in args.pushers:
        attempts = [a for r in results[n] for a in r["attempts"]]  # type: ignore[attr-defined]
        walls = [float(r["wall"]) for r in results[n]]  # type: ignore[arg-type]
        cpus = [float(r["cpu"]) for r in results[n]]  # type: ignore[arg-type]
        retries = [a - 1 for a in attempts]
        print(
            f"{n:>7} {len(attempts) // args.repeat:>6} {statistics.median(walls):>15.2f} "
            f"{statistics.median(cpus):>14.2f} {statistics.mean(retries):>17.2f} "
            f"{max(retries):>4}"
        )


if __name__ == "__main__":
    main()
