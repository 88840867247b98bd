"""The audit report at 1,000 runs: how long it takes and how big it is (docs/DESIGN.md §8).

Builds a repository with the example policy (captured by the library, so the runs name
a real, verifying snapshot), then writes N runs of ten events each (start, four stages,
a route decision, usage records; one run in ten changes policy at a boundary, one in
seven has a denial, one in fifty is long: 40 decisions and 20 checkpoints) straight into
the capsule's layout with ``git fast-import``, as ``bench_capsule_scale.py`` does. Then
times the report, in process (build, then each format) and as the CLI runs it.

Usage: python bench/bench_report.py [--runs 1000]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from speckit_git_policy.canonical import canonical_bytes
from speckit_git_policy.capture import capture
from speckit_git_policy.evidence.render import render
from speckit_git_policy.evidence.report import build_report
from speckit_git_policy.git.repo import GitRepo
from speckit_git_policy.store.capsule import layout

WORKSPACE = "default"


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout


def events(index: int, policy: dict[str, Any]) -> list[dict[str, Any]]:
    run_id = f"run-{index:05d}"
    day, minute = divmod(index, 1440)
    stamp = f"2030-01-{1 + day % 28:02d}T{minute // 60:02d}:{minute % 60:02d}"
    out: list[dict[str, Any]] = []

    def add(kind: str, **fields: Any) -> None:
        seq = len(out)
        out.append(
            {
                "event_id": f"{run_id}-{seq}",
                "run_id": run_id,
                "seq": seq,
                "timestamp": f"{stamp}:{seq % 60:02d}.{seq:06d}Z",
                "type": kind,
                **policy,
                **fields,
            }
        )

    add("PolicySnapshotRef", created=False)
    previous = None
    for stage in ("specify", "plan", "tasks", "implement"):
        add("StageTransition", to=stage, **{"from": previous}, policy_changed=False)
        previous = stage
        if stage == "plan":
            denied = index % 7 == 0
            add(
                "RouteDecision",
                decision={
                    "role": "implementer",
                    "model": "gpt-4o",
                    "decision": "deny" if denied else "allow",
                    "ok": not denied,
                    "reason": "route",
                },
            )
            add(
                "UsageRecorded",
                stage="plan",
                model_requested="gpt-4o",
                model_served="gpt-4o",
                input_tokens=1000 + index,
                output_tokens=200,
                cost=0.01 * (index % 900),
            )
        if stage == "implement":
            add(
                "UsageRecorded",
                model_requested="gpt-4o",
                model_served="gpt-4o",
                input_tokens=3000,
                output_tokens=900,
                cost=None,
            )
            if index % 50 == 0:
                for call in range(40):
                    add(
                        "BudgetDecision",
                        decision={
                            "kind": "tokens",
                            "stage": stage,
                            "decision": "allow",
                            "ok": True,
                        },
                    )
                    if call % 2:
                        add("Checkpoint", label=f"step {call}", policy_changed=False)
    return out


def _data(payload: bytes) -> bytes:
    return b"data %d\n%s\n" % (len(payload), payload)


def stream(runs: int, policy: dict[str, Any]) -> Iterator[bytes]:
    by_shard: dict[str, list[int]] = defaultdict(list)
    for i in range(runs):
        by_shard[layout.run_shard(f"run-{i:05d}")].append(i)
    for shard, indexes in sorted(by_shard.items()):
        yield f"commit {layout.runs_prefix(WORKSPACE)}/{shard}\n".encode()
        yield b"committer bench <bench@localhost> 1900000000 +0000\n" + _data(b"bulk runs")
        for i in indexes:
            for event in events(i, policy):
                path = layout.event_path(event["run_id"], event["seq"])
                yield f"M 100644 inline {path}\n".encode() + _data(canonical_bytes(event))
        yield b"\n"


def build(path: Path, runs: int) -> tuple[GitRepo, int]:
    git(path.parent, "init", "-q", str(path))
    for key, value in (("user.name", "Bench"), ("user.email", "bench@example.com")):
        git(path, "config", key, value)
    (path / "docs").mkdir()
    (path / "model_policy.toml").write_bytes((ROOT / "model_policy.toml").read_bytes())
    (path / "docs" / "MODEL-POLICY.md").write_bytes(
        (ROOT / "docs" / "MODEL-POLICY.md").read_bytes()
    )
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "Add model policy")
    repo = GitRepo.discover(path)
    result = capture(repo, commit="HEAD", trigger="manual")
    policy = {
        "policy_id": result.policy_id,
        "policy_uri": result.uri,
        "policy_hash": result.hash,
        "commit": result.commit,
    }
    proc = subprocess.Popen(["git", "fast-import", "--quiet"], cwd=path, stdin=subprocess.PIPE)
    assert proc.stdin is not None
    total = 0
    for chunk in stream(runs, policy):
        total += chunk.startswith(b"M ")
        proc.stdin.write(chunk)
    proc.stdin.close()
    if proc.wait() != 0:
        raise SystemExit("git fast-import failed")
    git(path, "repack", "-a", "-d", "-q")
    git(path, "pack-refs", "--all", "--prune")
    return repo, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-report-") as scratch:
        repo, count = build(Path(scratch) / "repo", args.runs)
        print(f"{args.runs} runs, {count} events")
        print("(wall and CPU seconds: the CPU time tells a busy machine from a slow report)")
        started, cpu = time.perf_counter(), time.process_time()
        report = build_report(repo)
        built, cpu = time.perf_counter() - started, time.process_time() - cpu
        print(f"build_report (incl. verify)   {built:6.2f} s  cpu {cpu:5.2f} s")
        for fmt in ("html", "md", "json"):
            started, cpu = time.perf_counter(), time.process_time()
            text = render(report, fmt)
            took, cpu = time.perf_counter() - started, time.process_time() - cpu
            size = len(text.encode()) / 1e6
            print(
                f"render {fmt:<5}                 {took:6.2f} s  cpu {cpu:5.2f} s  {size:5.2f} MB"
            )
        out = Path(scratch) / "audit.html"
        started, children = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "speckit_git_policy",
                "-C",
                str(repo.root),
                "report",
                "-o",
                str(out),
            ],
            check=True,
        )
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
        print(
            f"CLI report -o audit.html      {time.perf_counter() - started:6.2f} s  "
            f"cpu {cpu:5.2f} s  {out.stat().st_size / 1e6:5.2f} MB"
        )


if __name__ == "__main__":
    main()
