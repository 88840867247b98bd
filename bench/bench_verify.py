"""``verify`` at N snapshots, each proven against the commit it is bound to.

A repository of N commits, each changing the example policy (one token budget), is built
with ``git fast-import``; each commit is captured (one snapshot per commit, bound to it,
in both stores). Then ``verify`` is timed in process, a new repository handle per call as
each CLI call has (Python start-up excluded):

* cold: nothing cached (``<git common dir>/speckit/proofs.json``, ``verified-runs.json``
  and ``verified-trees.json`` removed): every commit's sources are read from git and
  compiled again, every event and tree read;
* warm: the caches hold every (source blob ids → hash) pair, run directory and ref tree;
* fresh clone, cold: ``git clone`` + ``git fetch`` of the capsule, ``verify --repair``
  once (restores the FS copies), then ``verify`` timed without a cache.

Usage: python bench/bench_verify.py [--snapshots 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from speckit_git_policy.capture import capture  # noqa: E402
from speckit_git_policy.git.repo import GitRepo  # noqa: E402
from speckit_git_policy.queries.verify import verify  # noqa: E402
from speckit_git_policy.store import Stores  # noqa: E402

POLICY = (ROOT / "model_policy.toml").read_text()
DOC = (ROOT / "docs" / "MODEL-POLICY.md").read_bytes()
MARK = "plan = 8000"


def git(cwd: Path, *args: str, data: bytes | None = None) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, input=data, check=True, capture_output=True
    ).stdout.decode()


def _blob(payload: bytes) -> bytes:
    return b"data %d\n%s\n" % (len(payload), payload)


def fast_import_stream(count: int) -> Iterator[bytes]:
    assert MARK in POLICY
    for i in range(count):
        policy = POLICY.replace(MARK, f"plan = {8000 + i}", 1).encode()
        yield b"commit refs/heads/main\n"
        yield b"committer Bench <bench@example.com> %d +0000\n" % (1_700_000_000 + i)
        yield _blob(f"policy {i}".encode())
        if i == 0:
            yield b"M 100644 inline docs/MODEL-POLICY.md\n" + _blob(DOC)
        yield b"M 100644 inline model_policy.toml\n" + _blob(policy)
        yield b"\n"


def build(path: Path, count: int) -> tuple[float, float]:
    git(path.parent, "init", "-q", "-b", "main", str(path))
    started = time.perf_counter()
    git(path, "fast-import", "--quiet", data=b"".join(fast_import_stream(count)))
    git(path, "reset", "-q", "--hard", "main")
    imported = time.perf_counter() - started
    repo = GitRepo.discover(path)
    stores = Stores(repo)
    commits = git(path, "rev-list", "--reverse", "main").split()
    started = time.perf_counter()
    for sha in commits:
        capture(repo, commit=sha, trigger="commit", stores=stores)
    return imported, time.perf_counter() - started


# What verify keeps between runs (docs/DESIGN.md §10): removed for a cold run.
CACHES = ("proofs.json", "verified-runs.json", "verified-trees.json")


def caches(path: Path) -> list[Path]:
    common = git(path, "rev-parse", "--git-common-dir").strip()
    return [(path / common).resolve() / "speckit" / name for name in CACHES]


def timed_verify(path: Path, cold: bool, expected: int) -> float:
    if cold:
        for cache in caches(path):
            if cache.exists():
                os.unlink(cache)
    started = time.perf_counter()
    report = verify(GitRepo.discover(path))
    elapsed = time.perf_counter() - started
    errors = [p for p in report.problems if p.severity == "error"]
    if report.checked != expected or errors:
        raise RuntimeError(f"verify: {report.checked} checked, {errors[:3]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--snapshots", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        origin = Path(tmp) / "origin"
        imported, captured = build(origin, args.snapshots)
        print(
            f"built {args.snapshots} commits in {imported:.2f} s, captured them in {captured:.2f} s"
        )
        fresh = Path(tmp) / "fresh"
        git(Path(tmp), "clone", "-q", str(origin), str(fresh))
        git(fresh, "fetch", "-q", "origin", "+refs/speckit/*:refs/speckit/*")
        verify(GitRepo.discover(fresh), repair=True)
        rows = {"cold": [], "warm": [], "fresh clone, cold": []}  # type: dict[str, list[float]]
        for _ in range(args.repeat):  # interleaved
            rows["cold"].append(timed_verify(origin, True, args.snapshots))
            rows["warm"].append(timed_verify(origin, False, args.snapshots))
            rows["fresh clone, cold"].append(timed_verify(fresh, True, args.snapshots))
        print(f"verify at {args.snapshots} snapshots (median of {args.repeat}):")
        for name, times in rows.items():
            print(f"  {name:<18} {statistics.median(times):7.3f} s  (min {min(times):.3f})")


if __name__ == "__main__":
    main()
