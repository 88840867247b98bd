"""Capsule lookups at 1,000 and 100,000 runs: the cost must not grow with the count.

Builds two capsules in bulk (``git fast-import`` fed the paths of
``capsule_layout``, then a full repack and ``git pack-refs --all``), and times
``resolve``, ``get_snapshot`` (``show``) and ``run_events`` (``run show``):

* warm: one Capsule answering many lookups (a long-lived agent runner);
* cold: a new repository handle per lookup, as each CLI invocation starts
  (packed-refs parsed, pack index opened), Python start-up excluded.

Each lookup asks for a different snapshot or run (no repeats), so a warm lookup
hits the tree cache only for trees that other lookups share (the fan-out's upper
levels), as it would in a runner that reads many different snapshots.

Usage: python bench/bench_capsule_scale.py [--small 1000] [--large 100000]
"""

from __future__ import annotations

import argparse
import hashlib
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from speckit_git_policy.canonical import canonical_bytes
from speckit_git_policy.git.repo import GitRepo
from speckit_git_policy.store.capsule import layout
from speckit_git_policy.store.capsule.capsule import Capsule

WORKSPACE = "default"
EVENTS_PER_RUN = 2
SAMPLES = 300


def run_id(i: int) -> str:
    return f"run-{i:07d}"


def policy_id(i: int) -> str:
    digest = hashlib.sha256(f"policy-{i}".encode()).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-4{digest[13:16]}-8{digest[17:20]}-{digest[20:32]}"


def snapshot_bytes(i: int) -> tuple[str, bytes]:
    content_hash = hashlib.sha256(f"content-{i}".encode()).hexdigest()
    document = {
        "schema_version": "1.0",
        "policy_id": policy_id(i),
        "hash": content_hash,
        "created_at": f"2026-01-12T10:30:00.{i % 1_000_000:06d}Z",
        "routing": {"n": i},
    }
    return content_hash, canonical_bytes(document)


def event_bytes(run: str, seq: int) -> bytes:
    return canonical_bytes(
        {
            "event_id": f"{run}-{seq}",
            "run_id": run,
            "seq": seq,
            "timestamp": "2026-01-12T10:30:00.000000Z",
            "type": "Checkpoint",
        }
    )


def _data(payload: bytes) -> bytes:
    return b"data %d\n%s\n" % (len(payload), payload)


def _commit(ref: str, files: Iterator[tuple[str, bytes]]) -> Iterator[bytes]:
    yield f"commit {ref}\n".encode()
    yield b"committer bench <bench@localhost> 1767000000 +0000\n"
    yield _data(b"bulk build for the benchmark")
    for path, payload in files:
        yield f"M 100644 inline {path}\n".encode() + _data(payload)
    yield b"\n"


def fast_import_stream(runs: int, snapshots: int) -> Iterator[bytes]:
    def snapshot_files() -> Iterator[tuple[str, bytes]]:
        for i in range(snapshots):
            content_hash, data = snapshot_bytes(i)
            yield layout.snapshot_path(policy_id(i)), data
            yield f"{layout.hash_index_dir(content_hash)}/{policy_id(i)}", b""

    yield from _commit(layout.policy_ref(WORKSPACE), snapshot_files())
    by_shard: dict[str, list[str]] = defaultdict(list)
    for i in range(runs):
        by_shard[layout.run_shard(run_id(i))].append(run_id(i))
    for shard, ids in sorted(by_shard.items()):
        files = (
            (layout.event_path(r, s), event_bytes(r, s)) for r in ids for s in range(EVENTS_PER_RUN)
        )
        yield from _commit(f"{layout.runs_prefix(WORKSPACE)}/{shard}", files)


def build(path: Path, runs: int, snapshots: int) -> float:
    started = time.perf_counter()
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    proc = subprocess.Popen(["git", "fast-import", "--quiet"], cwd=path, stdin=subprocess.PIPE)
    assert proc.stdin is not None
    for chunk in fast_import_stream(runs, snapshots):
        proc.stdin.write(chunk)
    proc.stdin.close()
    if proc.wait() != 0:
        raise SystemExit("git fast-import failed")
    # fast-import deltifies each blob against the one before it, in stream order; a
    # repack from scratch gives the pack a repository would have after `git gc
    # --aggressive`, and gc packs the refs.
    subprocess.run(["git", "repack", "-a", "-d", "-f", "-q", "--window=10"], cwd=path, check=True)
    subprocess.run(["git", "pack-refs", "--all", "--prune"], cwd=path, check=True)
    return time.perf_counter() - started


def open_capsule(path: Path) -> Capsule:
    git_dir = path / ".git"
    return Capsule(GitRepo(work_tree=path, git_dir=git_dir, common_dir=git_dir), WORKSPACE)


class CountingStore:
    """Counts object reads: the layout's cost, free of pack and cache effects."""

    def __init__(self, store: object) -> None:
        self.store = store
        self.reads = 0

    def __getitem__(self, object_id: bytes) -> object:
        self.reads += 1
        return self.store[object_id]  # type: ignore[index]

    def __getattr__(self, name: str) -> object:
        return getattr(self.store, name)


def measure(
    lookup: Callable[[Capsule, int], object], path: Path, picks: list[int], cold: bool
) -> tuple[float, float]:
    """(median ms, mean objects read) per lookup."""
    warm = open_capsule(path)
    times, reads = [], []
    for pick in picks:
        capsule = open_capsule(path) if cold else warm
        counter = CountingStore(capsule.io.store)
        capsule.io.store = counter  # type: ignore[assignment]
        started = time.perf_counter()
        lookup(capsule, pick)
        times.append(time.perf_counter() - started)
        capsule.io.store = counter.store  # type: ignore[assignment]
        reads.append(counter.reads)
    return statistics.median(times) * 1000, statistics.mean(reads)


Lookup = Callable[[Capsule, int], object]


def operations() -> dict[str, tuple[Lookup, bool]]:
    """name -> (lookup of the i-th snapshot or run, whether i counts snapshots)."""

    def show(c: Capsule, i: int) -> object:
        data = c.get_snapshot(policy_id(i))
        assert data is not None
        return data

    def by_hash(c: Capsule, i: int) -> object:
        ids = c.ids_for_hash(snapshot_bytes(i)[0])
        assert ids == [policy_id(i)]
        return ids

    def run_show(c: Capsule, i: int) -> object:
        events = c.run_events(run_id(i))
        assert len(events) == EVENTS_PER_RUN
        return events

    return {
        "resolve policy uri": (lambda c, i: c.resolve(c.policy_uri(policy_id(i))), True),
        "resolve run uri": (lambda c, i: c.resolve(c.run_uri(run_id(i))), False),
        "show (get_snapshot)": (show, True),
        "run show (run_events)": (run_show, False),
        "ids_for_hash": (by_hash, True),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--large", type=int, default=100_000)
    args = parser.parse_args()
    sizes = [args.small, args.large]
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        paths = {}
        for runs in sizes:
            snapshots = max(runs // 10, 1)
            paths[runs] = Path(tmp) / f"capsule-{runs}"
            took = build(paths[runs], runs, snapshots)
            print(
                f"built {runs:,} runs ({runs * EVENTS_PER_RUN:,} events) and {snapshots:,} "
                f"snapshots in {took:.1f} s; refs packed: "
                f"{len((paths[runs] / '.git' / 'packed-refs').read_text().splitlines()) - 1}"
            )
        print()
        header = (
            f"{'median per lookup':<30}{f'{sizes[0]:,} runs':>13}{f'{sizes[1]:,} runs':>15}"
            f"{'ratio':>7}   objects read"
        )
        print(header)
        print("-" * (len(header) + 4))
        for mode in ("warm", "cold"):
            for name, (lookup, of_snapshots) in operations().items():
                results = []
                for runs in sizes:
                    # No repeats, so a warm lookup is not served by the cache only
                    # because it was asked before (there are 100 snapshots at the
                    # small size: 100 picks there, not 300 with each asked thrice).
                    population = max(runs // 10, 1) if of_snapshots else runs
                    picks = rng.sample(range(population), min(SAMPLES, population))
                    results.append(measure(lookup, paths[runs], picks, cold=mode == "cold"))
                (small_ms, small_reads), (large_ms, large_reads) = results
                print(
                    f"{f'{name} ({mode})':<30}{small_ms:>10.3f} ms{large_ms:>12.3f} ms"
                    f"{large_ms / small_ms:>7.2f}   {small_reads:.1f} / {large_reads:.1f}"
                )


if __name__ == "__main__":
    main()
