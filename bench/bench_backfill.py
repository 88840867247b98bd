"""`backfill` of a long policy history (docs/GUIDE.md "Adopting the tool...", docs/DESIGN.md §10). Not a test: run it.

    python bench/bench_backfill.py [--commits 1000] [--every 1] [--reverts 10] [--runs 3]

Builds a repository with `git fast-import`: `--commits` commits, every `--every`-th of
which changes the policy (each to new content, except every `--reverts`-th policy
change, which goes back to an earlier content: backfill reuses its snapshot). Then,
in a fresh copy of it per run, times `git speckit-policy backfill --json` (a new
process, as a user runs it) and, as baselines over the same history, `git log -p` and
`git log --raw`. Wall time and CPU time (user + system of the whole process tree,
git included), medians of the runs; then a second backfill (nothing left to do).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
POLICY = (REPO_ROOT / "model_policy.toml").read_text()
DOC = (REPO_ROOT / "docs" / "MODEL-POLICY.md").read_bytes()
START = 1_700_000_000
AUTHORS = [
    "Ada Author <ada@example.com>",
    "Bo Budget <bo@example.com>",
    "Cy Compliance <cy@example.com>",
]


def build_history(root: Path, commits: int, every: int, reverts: int) -> int:
    """The repository's history; returns the number of policy commits."""
    stream = []

    def blob(data: bytes) -> None:
        stream.append(b"data %d\n" % len(data) + data + b"\n")

    changes = 0
    for n in range(commits):
        author = AUTHORS[n % len(AUTHORS)]
        stream.append(b"commit refs/heads/main\nmark :%d\n" % (n + 1))
        stream.append(b"author %s %d +0000\n" % (author.encode(), START + n))
        stream.append(b"committer %s %d +0000\n" % (author.encode(), START + n))
        blob(f"change {n}".encode())
        if n % every == 0:
            changes += 1
            # changes - 5 is never a revert itself: its content exists.
            value = changes - 5 if reverts and changes % reverts == 0 else changes
            text = re.sub(r"(?m)^plan = \d+", f"plan = {8000 + value}", POLICY)
            stream.append(b"M 100644 inline model_policy.toml\n")
            blob(text.encode())
            if n == 0:
                stream.append(b"M 100644 inline docs/MODEL-POLICY.md\n")
                blob(DOC)
        stream.append(b"M 100644 inline counter.txt\n")
        blob(str(n).encode())
    subprocess.run(["git", "fast-import", "--quiet"], cwd=root, input=b"".join(stream), check=True)
    subprocess.run(["git", "reset", "-q", "--hard", "main"], cwd=root, check=True)
    return changes


def timed(argv: list[str], cwd: Path) -> tuple[float, float, bytes]:
    """Wall and CPU seconds (user + system, children included) of one command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(argv, cwd=cwd, check=True, capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, result.stdout


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--commits", type=int, default=1000)
    parser.add_argument("--every", type=int, default=1)
    parser.add_argument("--reverts", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args()
    tool = [sys.executable, "-m", "speckit_git_policy"]
    with tempfile.TemporaryDirectory(prefix="speckit-bench-backfill-") as temp:
        base = Path(temp)
        template = base / "template"
        template.mkdir()
        subprocess.run(["git", "init", "-q", "-b", "main"], cwd=template, check=True)
        policy_commits = build_history(template, options.commits, options.every, options.reverts)
        print(
            f"history: {options.commits} commits, {policy_commits} of them change the policy "
            f"(every {options.reverts}th back to an earlier content)\n"
        )
        results: dict[str, list[tuple[float, float]]] = {}
        document: dict[str, object] = {}
        again: dict[str, object] = {}
        for run in range(options.runs):
            root = base / f"run{run}"
            shutil.copytree(template, root, symlinks=True)
            # Interleaved, so that a slower moment of the machine hits every variant.
            for label, argv in (
                ("git log -p (baseline)", ["git", "log", "-p"]),
                ("git log --raw (baseline)", ["git", "log", "--raw"]),
                ("git speckit-policy backfill", [*tool, "backfill", "--json"]),
                ("backfill again (nothing to do)", [*tool, "backfill", "--json"]),
            ):
                wall, cpu, out = timed(argv, root)
                results.setdefault(label, []).append((wall, cpu))
                if label.startswith("git speckit-policy"):
                    document = json.loads(out)
                elif label.startswith("backfill again"):
                    again = json.loads(out)
            shutil.rmtree(root)
        commits = document.get("commits")
        bound = len(commits) if isinstance(commits, list) else 0
        print(
            f"backfill: {document.get('captured')} snapshot(s) captured, "
            f"{document.get('reused')} commit(s) reused one, {bound} bound; "
            f"second run: {len(again.get('commits') or [])} bound, {again.get('captured')} captured\n"
        )
        width = max(map(len, results))
        print(f"median of {options.runs} run(s)")
        print(f"{'command':<{width}}  {'wall s':>7}  {'CPU s':>7}  {'/log -p wall':>12}")
        baseline = statistics.median(w for w, _ in results["git log -p (baseline)"])
        for label, samples in results.items():
            wall = statistics.median(w for w, _ in samples)
            cpu = statistics.median(c for _, c in samples)
            print(f"{label:<{width}}  {wall:7.2f}  {cpu:7.2f}  {wall / baseline:12.2f}")
        per = statistics.median(w for w, _ in results["git speckit-policy backfill"]) / max(
            bound, 1
        )
        print(f"\nbackfill: {per * 1000:.2f} ms per policy commit (wall)")
        print(f"machine: {os.cpu_count()} CPU(s); {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
