"""Runs: event append throughput, and trace at 1,000 vs 100,000 runs (docs/DESIGN.md §10).

1. Append: a runner holding a ``Run`` appends checkpoints and stage transitions
   (each with the stage-boundary check against the work tree's sources) and
   decisions; the target is at least 200 events/s. The one-call API, which opens
   the run per event, is shown for comparison.
2. Trace: two capsules are built in bulk the way ``bench_capsule_scale.py`` does
   (``git fast-import`` of the capsule layout, refs packed), then real runs are
   started in each and ``trace`` is timed, warm (one Stores, as a long-lived
   process) and cold (a new repository handle per call, as each CLI call;
   Python start-up excluded). The ratio large/small should stay near 1.

Usage: python bench/bench_runs.py [--events 1000] [--small 1000] [--large 100000]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import bench_capsule_scale as scale

from speckit_git_policy import runs
from speckit_git_policy.git.repo import GitRepo
from speckit_git_policy.queries.trace import trace
from speckit_git_policy.store import Stores

TARGET_EVENTS_PER_SECOND = 200
REAL_RUNS = 40
TRACE_SAMPLES = 120


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def add_policy(path: Path) -> None:
    """Commit the example policy sources, as a team's repository would hold them."""
    (path / "docs").mkdir(exist_ok=True)
    (path / "model_policy.toml").write_bytes((ROOT / "model_policy.toml").read_bytes())
    (path / "docs" / "MODEL-POLICY.md").write_bytes(
        (ROOT / "docs" / "MODEL-POLICY.md").read_bytes()
    )
    for key, value in (
        ("user.name", "Bench"),
        ("user.email", "bench@example.com"),
        ("commit.gpgsign", "false"),
    ):
        git(path, "config", key, value)
    git(path, "add", "model_policy.toml", "docs/MODEL-POLICY.md")
    git(path, "commit", "-q", "-m", "Add model policy")


class CapsuleTimer:
    """Wraps the run's capsule to tell the capsule's share of an append from ours."""

    def __init__(self, capsule: object) -> None:
        self.capsule = capsule
        self.seconds = 0.0

    def __getattr__(self, name: str) -> object:
        return getattr(self.capsule, name)

    def append_event(self, *args: object) -> object:
        started = time.perf_counter()
        try:
            return self.capsule.append_event(*args)  # type: ignore[attr-defined]
        finally:
            self.seconds += time.perf_counter() - started


def timed_appends(
    run: runs.Run, count: int, append: Callable[[runs.Run, int], object]
) -> tuple[float, float]:
    """(events/s, share of the time spent inside capsule.append_event)."""
    timer = CapsuleTimer(run.capsule)
    run.capsule = timer  # type: ignore[assignment]
    started = time.perf_counter()
    for i in range(count):
        append(run, i)
    took = time.perf_counter() - started
    run.capsule = timer.capsule  # type: ignore[assignment]
    return count / took, timer.seconds / took


def bench_append(tmp: Path, events: int) -> None:
    path = tmp / "append"
    git(tmp, "init", "-q", str(path))
    add_policy(path)
    repo = GitRepo.discover(path)
    stages = ["specify", "plan", "tasks", "implement"]
    payload = {"prompt": "p" * 200, "output": "o" * 200}
    kinds: dict[str, Callable[[runs.Run, int], object]] = {
        "checkpoint + payload": lambda run, i: run.checkpoint(f"step {i}", payload),
        "stage transition": lambda run, i: run.stage(
            stages[i % 4] if stages[i % 4] != run.current_stage else stages[(i + 1) % 4]
        ),
        "decision (no boundary)": lambda run, i: run.decision(
            {"type": "BudgetDecision", "policy_id": run.policy_id, "tokens": i, "decision": "allow"}
        ),
    }
    segment = min(200, events)
    print(
        f"append through a held Run: events/s (x the {TARGET_EVENTS_PER_SECOND}/s target) "
        f"and the capsule's share of the time"
    )
    print(
        f"{'':<26}{'events 1-' + str(segment):>28}{f'events {events - segment + 1}-{events}':>30}"
    )
    for name, append in kinds.items():
        run = runs.start_run(repo, f"bench-{name.split()[0]}")
        cells = []
        for done in (0, segment):
            if done:
                for i in range(segment, events - segment):
                    append(run, i)  # grow the run to its last segment
            per_second, share = timed_appends(run, segment, append)
            cells.append(
                f"{per_second:7.0f}/s ({per_second / TARGET_EVENTS_PER_SECOND:4.1f}x) "
                f"capsule {share:4.0%}"
            )
        print(f"  {name:<24}{cells[0]:>28}{cells[1]:>30}")

    few = 20
    started = time.perf_counter()
    for i in range(few):
        runs.checkpoint(path, "bench-checkpoint", f"one-call {i}")
    took = time.perf_counter() - started
    print(
        f"  one-call API, opening the {events:,}-event run each time: {few / took:.0f}/s "
        f"(a runner holds a Run instead)"
    )

    # The boundary check stays exact while it is fast: an edit is seen at once.
    run = runs.open_run(repo, "bench-checkpoint")
    policy = path / "model_policy.toml"
    policy.write_text(policy.read_text().replace("plan = 8000", "plan = 8001"))
    changed = run.checkpoint("after edit")
    assert changed["policy_changed"] is True, "the boundary check missed an edit"
    print("  boundary check after an edit: new snapshot captured, event marks the change")


def bench_trace(tmp: Path, sizes: list[int]) -> None:
    results: dict[str, list[float]] = {"warm": [], "cold": []}
    for count in sizes:
        path = tmp / f"trace-{count}"
        snapshots = max(count // 10, 1)
        took = scale.build(path, count, snapshots)
        add_policy(path)
        repo = GitRepo.discover(path)
        real = [f"real-{i:03d}" for i in range(REAL_RUNS)]
        for run_id in real:
            run = runs.start_run(repo, run_id)
            run.stage("plan")
            run.checkpoint("reviewed")
        print(
            f"built {count:,} runs + {snapshots:,} snapshots in {took:.1f} s; "
            f"{REAL_RUNS} real runs of 3 events added"
        )
        stores = Stores(repo)
        picks = [real[i % REAL_RUNS] for i in range(TRACE_SAMPLES)]
        for mode in ("warm", "cold"):
            times = []
            for run_id in picks:
                started = time.perf_counter()
                if mode == "warm":
                    result = trace(repo, run_id, stores=stores)
                else:
                    result = trace(GitRepo.discover(path), run_id)
                times.append(time.perf_counter() - started)
                assert result["snapshots"][0]["author"] == "Bench <bench@example.com>"
            results[mode].append(statistics.median(times) * 1000)
    print()
    header = f"{'trace, median per call':<28}{f'{sizes[0]:,} runs':>13}{f'{sizes[1]:,} runs':>15}{'ratio':>8}"
    print(header)
    print("-" * len(header))
    for mode, (small, large) in results.items():
        print(f"{mode:<28}{small:>10.2f} ms{large:>12.2f} ms{large / small:>8.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000)
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--large", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bench_append(Path(tmp), args.events)
        print()
        bench_trace(Path(tmp), [args.small, args.large])


if __name__ == "__main__":
    main()
